# ImageNet-1K fine-tuning of a ConMIM ViT-S/16 (deit-small: 384 wide, 12
# layers). The official repository has no ViT-S recipe; we use the ViT-B one
# (the paper appendix's ViT-S values are not confirmed). Paper: 82.0 top-1.
_base_ = './vit-base-p16_conmim-pre_8xb128-coslr-100e_in1k.py'

model = dict(
    backbone=dict(arch='deit-small'),
    head=dict(in_channels=384))
