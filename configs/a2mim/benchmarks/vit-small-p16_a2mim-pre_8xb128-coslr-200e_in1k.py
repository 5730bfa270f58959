# ImageNet-1K fine-tuning of an A2MIM "ViT-S"/16 -- mmpretrain's arch
# 'small': 768 wide, 8 layers, 8 heads, FFN 2304 (48.8M parameters), not
# DeiT-S -- with the SimMIM (BEiT) protocol, 200 epochs at 224 px.
# Paper: 82.1 top-1 (SimMIM 81.7), 800-epoch pre-training
# (a2mim_vit-small-p16_8xb256-steplr-800e_in1k.py). A2MIM's README links this
# number to a 200-epoch fine-tuning config (openmixup
# vit_small_p16_swin_ft_simmim_sz224_8xb128_cos_ep200.py; SimMIM's 81.7 is a
# 100-epoch one); its values: batch 1024, lr 1e-2, 200 epochs with 20 warmup,
# no EMA, everything else as the ViT-B config. The shipped ViT-S configs of
# configs/conmim/benchmarks are for DeiT-S (384 wide) and do not fit these
# weights.
_base_ = './vit-base-p16_a2mim-pre_8xb128-coslr-100e_in1k.py'

model = dict(
    backbone=dict(arch='small'),
    head=dict(in_channels=768))

max_epochs = 200
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=20, end=max_epochs,
         eta_min=1e-6, convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs)
custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='TorchRNGStateHook')]
