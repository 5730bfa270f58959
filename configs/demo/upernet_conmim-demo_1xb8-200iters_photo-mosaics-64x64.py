# Transfer demo, segmentation: the ConMIM demo backbone (configs/demo/
# conmim_demo.py) fine-tuned with UperNet on the photo mosaics
# (./_base_/photo_mosaics.py), through mmsegmentation's own runner, on CPU.
#
# Everything comes from ConMIM's ADE20K recipe (the first `_base_`:
# BEiTViT, Feature2Pyramid, UperNet + FCN auxiliary head, AdamW with
# layer-wise lr decay 0.65, linear warmup then poly decay, slide inference)
# except what the tiny backbone and data need (all ours, none the paper's):
# * backbone: the demo ViT -- 64 px, 8-px patches, 128 wide x 4 layers,
#   4 heads, absolute position embedding on (as pre-trained); all 4 layers
#   feed the pyramid;
# * heads 64/32 channels wide (512/256 for ViT-B), BN instead of SyncBN
#   (one CPU process);
# * data: 13 classes (photos), no zero label to drop, every pipeline (train,
#   val, test) at 64x64 -- BEiT's relative position tables are built for a
#   fixed 8x8 token grid;
# * schedule: 200 iterations of batch 8, 20 warmup, lr 1e-3 (heads start
#   from scratch and the run is short), evaluated once at the end.
_base_ = [
    '../conmim/benchmarks/'
    'upernet_vit-base-p16_conmim-pre_8xb2-160k_ade20k-512x512.py',
    './_base_/photo_mosaics.py',
]

crop_size = (64, 64)
embed_dims = 128
num_layers = 4
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=embed_dims,
            num_layers=num_layers,
            num_heads=4,
            feedforward_channels=embed_dims * 4),
        img_size=crop_size,
        patch_size=8,
        use_abs_pos_emb=True,
        out_indices=(0, 1, 2, 3)),
    neck=dict(embed_dim=embed_dims),
    decode_head=dict(
        in_channels=[embed_dims] * 4,
        channels=64,
        num_classes=len(_base_.mosaic_classes),
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=embed_dims,
        channels=32,
        num_classes=len(_base_.mosaic_classes),
        norm_cfg=norm_cfg),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(48, 48)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=crop_size, ratio_range=(0.75, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]

mosaic_dataset = dict(
    type='BaseSegDataset',
    data_root=_base_.mosaic_root,
    img_suffix='.png',
    seg_map_suffix='.png',
    reduce_zero_label=False,
    metainfo=dict(classes=_base_.mosaic_classes))
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        **mosaic_dataset,
        data_prefix=dict(img_path='img_dir/train',
                         seg_map_path='ann_dir/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        **mosaic_dataset,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 200
warmup_iters = 20
optim_wrapper = dict(
    optimizer=dict(lr=1e-3), paramwise_cfg=dict(num_layers=num_layers))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=warmup_iters,
         end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=max_iters))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
