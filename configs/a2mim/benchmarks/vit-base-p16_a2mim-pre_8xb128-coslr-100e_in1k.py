# ImageNet-1K fine-tuning of an A2MIM ViT-B/16 with the SimMIM (BEiT)
# protocol, 100 epochs at 224 px.
# Paper: 84.2 top-1 (A2MIM README: 84.3; SimMIM 83.8), 800-epoch
# pre-training (a2mim_vit-base-p16_8xb128-accu2-steplr-800e_in1k.py).
# Values of the reference config (openmixup
# vit_base_p16_swin_ft_simmim_sz224_4xb128_accu2_cos_ep100.py):
# batch 1024, AdamW (0.9, 0.999) lr 2.5e-3 * 1024 / 256 = 1e-2 (its comment
# says "10e-4", the expression is 1e-2), wd 0.05, layer decay 0.65, 20
# warmup epochs then cosine to 1e-6, clip 5, drop path 0.1, EMA 0.99996
# (mmengine momentum 4e-5; the reference's 20-epoch EMA warm-up has no
# mmpretrain equivalent), fp16, Mixup 0.8 / CutMix 1.0, label smoothing 0.1,
# RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25, test resize 256 /
# crop 224; no decay on norms, biases (incl. q/v biases and relative
# position tables), cls_token, pos_embed and layer-scale gammas.
# Backbone as pre-trained: absolute position embedding AND per-layer
# relative position bias, layer scale 0.1; mean-pooled patch tokens + a new
# fc_norm (ln2) + linear head.
#
#   python tools/model_converters/export_backbone.py PRETRAIN.pth vit-b.pth
#   bash tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=vit-b.pth
_base_ = '../../conmim/benchmarks/vit-base-p16_conmim-pre_8xb128-coslr-100e_in1k.py'  # noqa: E501

model = dict(backbone=dict(use_abs_pos_emb=True))

optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    optimizer=dict(lr=1e-2),
    clip_grad=dict(max_norm=5.0),
    paramwise_cfg=dict(
        _delete_=True,
        layer_decay_rate=0.65,
        custom_keys={
            '.ln': dict(decay_mult=0.0),
            'norm': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.0),
            'gamma': dict(decay_mult=0.0),
        }))

custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='TorchRNGStateHook'),
    dict(type='EMAHook', momentum=4e-5, evaluate_on_origin=True,
         priority='ABOVE_NORMAL'),
]
