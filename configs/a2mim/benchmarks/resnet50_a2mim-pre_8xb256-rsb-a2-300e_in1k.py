# ImageNet-1K fine-tuning of an A2MIM ResNet-50 with the RSB A2 protocol
# (Wightman et al., "ResNet strikes back"), 300 epochs at 224 px.
# Paper / A2MIM README: 80.4 top-1 (300-epoch pre-training,
# a2mim_resnet50_8xb256-coslr-300e_in1k.py; SimMIM 79.9).
# Built on mmpretrain's resnet50_8xb256-rsb-a2-300e_in1k.py (LAMB lr 5e-3,
# wd 0.02, batch 2048, 5 warmup epochs then cosine to 1e-6, BCE loss, Mixup
# 0.1 / CutMix 1.0, RandAugment m7 mstd0.5, repeated augmentation, drop path
# 0.05, test resize 236 / crop 224); changed to the reference fine-tuning
# config (openmixup r50_rsb_a2_ft_sz224_8xb256_cos_fp16_ep300.py):
# * EMA of the weights, 0.9999 (mmengine momentum 1e-4), evaluated; the
#   reference also warms the EMA up over 20 epochs, which mmpretrain's
#   EMAHook has no option for;
# * mixed precision (the reference: fp16, dynamic loss scale);
# * decay groups by the reference regexes: no decay on the bn1/bn2/bn3
#   weights and biases and on every bias, decay 0.02 on the downsample BN
#   weights ('downsample.1'), which mmpretrain's norm_decay_mult=0 would not.
#
#   python tools/model_converters/export_backbone.py PRETRAIN.pth r50.pth
#   bash tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=r50.pth
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs256_rsb_a12.py',
    'mmpretrain::_base_/schedules/imagenet_bs2048_rsb.py',
    '../../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        drop_path_rate=0.05,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    head=dict(loss=dict(use_sigmoid=True)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.1),
        dict(type='CutMix', alpha=1.0)
    ]))

train_dataloader = dict(sampler=dict(type='RepeatAugSampler', shuffle=True))

optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    optimizer=dict(type='Lamb', lr=0.005, weight_decay=0.02),
    paramwise_cfg=dict(custom_keys={
        '.bn': dict(decay_mult=0.),
        'bias': dict(decay_mult=0.),
    }))

max_epochs = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 5, eta_min=1.0e-6,
         by_epoch=True, begin=5, end=max_epochs)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)

custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='TorchRNGStateHook'),
    dict(type='EMAHook', momentum=1e-4, evaluate_on_origin=True,
         priority='ABOVE_NORMAL'),
]
