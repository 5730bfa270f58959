# ConMIM with a CNN (ConMIMCNN): the ConMIM model of conmim_vit-base-p16.py
# (its projector with the official init, intra-image InfoNCE at tau 0.1, EMA
# teacher 0.996 -> 1) on A2MIM's torchvision-style ResNet-50, which carries
# the mask token before layer4 (stride 16, gamma init 1e-6). Patch
# embeddings are the stage-4 map (stride 32), so masks are drawn at 32-px
# units (mask_unit=32); the projector takes its 2048 channels.
# Sources of each number: configs/conmim/cnn/ and docs/conmim_cnn.md.
_base_ = './conmim_vit-base-p16.py'

model = dict(
    type='ConMIMCNN',
    mask_unit=32,
    backbone=dict(
        _delete_=True,
        type='A2MIMResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        mask_layer=3,
        mask_gamma_init=1e-6),
    neck=dict(in_channels=2048))
