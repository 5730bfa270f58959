# Linear probing of a ConMIM ViT-S/16 (deit-small); see the ViT-B config.
_base_ = './vit-base-p16_conmim-pre_8xb2048-linear-coslr-90e_in1k.py'

model = dict(
    backbone=dict(arch='deit-small'),
    neck=dict(input_features=384),
    head=dict(in_channels=384))
