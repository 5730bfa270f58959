# ImageNet-1K fine-tuning of an A2MIM ConvNeXt-B, 300 epochs at 224 px.
# Paper / A2MIM README: 84.1 top-1 (SimMIM 83.6), 300-epoch pre-training
# (a2mim_convnext-base_8xb256-amp-coslr-300e_in1k.py). The README calls the
# protocol "RSB A2" but links a SparK-style config (openmixup
# convnext_b_spark_ft_sz224_8xb256_cos_fp16_ep300.py); its values are used:
# batch 4096 (8 x 256, 2 accumulated), AdamW (0.9, 0.999) lr 4e-3, wd 0.05,
# 5 warmup epochs then cosine to 1e-6, drop path 0.5, EMA 0.9999 (mmengine
# momentum 1e-4; no EMA warm-up in mmpretrain), fp16, Mixup 0.8 / CutMix
# 1.0, label smoothing 0.1, RandAugment rand-m9-mstd0.5-inc1, random erasing
# 0.25, test resize 256 / crop 224, global pooling before the final norm; no
# decay on names containing 'norm' (block and final LayerNorms; not the
# downsample LayerNorms 'downsample_layers.i.0', as in the reference),
# 'bias' and 'gamma'.
#
#   python tools/model_converters/export_backbone.py PRETRAIN.pth cnx-b.pth
#   bash tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=cnx-b.pth
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    '../../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ConvNeXt',
        arch='base',
        out_indices=(3, ),
        drop_path_rate=0.5,
        gap_before_final_norm=True,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1024,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02,
                      bias=0.)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))

train_dataloader = dict(batch_size=256)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    optimizer=dict(
        type='AdamW', lr=4e-3, weight_decay=0.05, eps=1e-8,
        betas=(0.9, 0.999)),
    accumulative_counts=2,
    paramwise_cfg=dict(custom_keys={
        '.bn': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.),
        'bias': dict(decay_mult=0.),
        'gamma': dict(decay_mult=0.),
    }))

max_epochs = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-5, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=max_epochs,
         eta_min=1e-6, convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='TorchRNGStateHook'),
    dict(type='EMAHook', momentum=1e-4, evaluate_on_origin=True,
         priority='ABOVE_NORMAL'),
]
# mmengine scales by the per-step batch (8 x 256); the lr is meant for
# 2048 x 2 accumulated samples.
auto_scale_lr = dict(base_batch_size=2048)
