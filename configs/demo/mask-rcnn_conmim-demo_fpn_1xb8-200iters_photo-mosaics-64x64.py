# Transfer demo, detection and instance segmentation: the ConMIM demo
# backbone (configs/demo/conmim_demo.py) fine-tuned with Mask R-CNN on the
# photo mosaics (./_base_/photo_mosaics.py; one instance per tile), through
# mmdetection's own runner, on CPU.
#
# Everything comes from ConMIM's COCO recipe (the first `_base_`:
# BEiTViT, ViTDet's SimpleFeaturePyramid, Mask R-CNN, AdamW with layer-wise
# lr decay 0.7, fixed-size padded inputs) except what the tiny backbone and
# data need (all ours, none the paper's):
# * backbone: the demo ViT -- 64 px, 8-px patches, 128 wide x 4 layers,
#   4 heads, absolute position embedding on (as pre-trained); its last layer
#   feeds the pyramid;
# * pyramid: scale factors (2, 1, 0.5, 0.25) on the stride-8 map, so that
#   its levels keep the strides 4-32 (+64) that the RPN anchors and the RoI
#   extractors expect (ViTDet's (4, 2, 1, 0.5) are for 16-px patches);
# * heads 64 channels wide (256 for ViT-B; fc 256 instead of 1024), 13
#   classes, at most 9 objects an image: 64 sampled RoIs (512), 100 proposals;
# * every pipeline (train, val, test) at 64x64 (1024 in the recipe; BEiT's
#   relative position tables are built for a fixed 8x8 token grid), scale
#   jitter 0.8-1.25 (0.1-2.0 would shrink a 32-px tile to 3 px);
# * schedule: 200 iterations of batch 8, 20 warmup, lr 1e-3 (heads start
#   from scratch and the run is short), evaluated once at the end.
_base_ = [
    '../conmim/benchmarks/'
    'mask-rcnn_vit-base-p16_conmim-pre_fpn_8xb2-1x_coco.py',
    './_base_/photo_mosaics.py',
]

image_size = (64, 64)
embed_dims = 128
channels = 64
num_classes = len(_base_.mosaic_classes)
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=embed_dims,
            num_layers=4,
            num_heads=4,
            feedforward_channels=embed_dims * 4),
        img_size=image_size,
        patch_size=8,
        use_abs_pos_emb=True,
        out_indices=(3, )),
    neck=dict(
        in_channels=embed_dims,
        out_channels=channels,
        scale_factors=(2.0, 1.0, 0.5, 0.25),
        patch_size=8),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(
            in_channels=channels, fc_out_channels=256,
            num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(
            in_channels=channels, conv_out_channels=channels,
            num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=200, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=100)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.8, 1.25),
         keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                          'img_shape', 'scale_factor'))
]
mosaic_dataset = dict(
    data_root=_base_.mosaic_root,
    data_prefix=dict(img=''),
    metainfo=dict(classes=_base_.mosaic_classes))
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        **mosaic_dataset,
        ann_file='annotations/instances_train.json',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        **mosaic_dataset,
        ann_file='annotations/instances_val.json',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=_base_.mosaic_root + '/annotations/instances_val.json',
    metric=['bbox', 'segm'])
test_evaluator = val_evaluator

max_iters = 200
warmup_iters = 20
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=warmup_iters,
         end=max_iters, by_epoch=False),
]
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
    val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=max_iters))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
