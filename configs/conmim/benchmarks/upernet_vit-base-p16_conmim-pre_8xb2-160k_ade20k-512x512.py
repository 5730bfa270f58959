# ADE20K semantic segmentation with UperNet on a pre-trained BEiT-style
# ViT-B/16 (ConMIM's downstream protocol "follow BEiT": 512x512 crops,
# 160k iterations, layer-wise lr decay). mmseg's own recipe for MAE/BEiT
# ViTs at 512 px: AdamW lr 1e-4, layer decay 0.65, 1500 warmup iterations then
# poly decay; slide inference. The paper's exact ADE20K hyper-parameters are
# not confirmed.
#
# Works with mmseg's tools/train.py and with ours:
#   python tools/model_converters/export_backbone.py PRETRAIN.pth vit-b.pth
#   bash tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=vit-b.pth
#
# The backbone is mmpretrain's BEiTViT (keys `layers.N`, as exported by
# mmconmim); its load hook copies the shared pre-training relative position
# table into every layer and resizes it from 14x14 to 32x32.
_base_ = [
    'mmseg::_base_/models/upernet_mae.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['mmconmim'], allow_failed_imports=False)
# fail when a checkpoint loads < 50% of its target (docs/transfer.md)
runner_type = 'mmconmim.MMConMIMRunner'

crop_size = (512, 512)
embed_dims = 768
num_layers = 12
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.BEiTViT',
        arch='base',
        img_size=crop_size,
        patch_size=16,
        out_type='featmap',
        out_indices=(3, 5, 7, 11),
        final_norm=False,
        drop_path_rate=0.1,
        layer_scale_init_value=0.1,
        use_abs_pos_emb=False,
        use_rel_pos_bias=True,
        use_shared_rel_pos_bias=False,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=dict(embed_dim=embed_dims, rescales=[4, 2, 1, 0.5]),
    decode_head=dict(
        in_channels=[embed_dims] * 4, num_classes=150, channels=768),
    auxiliary_head=dict(in_channels=embed_dims, num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=num_layers, layer_decay_rate=0.65))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000,
         by_epoch=False),
]

train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader

# crash-safe checkpoints, stop at the first NaN/Inf loss, and refuse a
# checkpoint, neck or pipeline whose patch size, position embedding or input
# size does not fit the ViT before the first iteration
default_hooks = dict(checkpoint=dict(type='mmconmim.SafeCheckpointHook'))
custom_hooks = [
    dict(type='mmconmim.NonFiniteLossHook'),
    dict(type='mmconmim.TorchRNGStateHook'),
    dict(type='mmconmim.ViTGeometryCheckHook')
]
