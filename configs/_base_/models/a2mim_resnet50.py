# A2MIM model for ResNet-50 (Li et al., ICML 2023; reference: openmixup
# r50_l3 "init" configs): torchvision-style ResNet-50 (plain 7x7 stem,
# style='pytorch', zero-init residuals), only the stage-4 output is used.
# Mask token on the stage-3 output, before layer4 (14x14x1024 at 224 px,
# stride 16), residual, with a learnable per-channel gamma (init 1e-6).
# Decoder 2048 -> 32^2 * 3 channels + PixelShuffle(32), conv init
# trunc-normal(0.02) with zero bias (reference NonLinearMIMNeck).
# Loss: focal-L1 on masked pixels + 0.5 * focal frequency loss (w_u = 1e-3).
model = dict(
    type='A2MIM',
    backbone=dict(
        type='A2MIMResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        mask_layer=3,
        mask_gamma_init=1e-6),
    neck=dict(type='A2MIMLinearDecoder', in_channels=2048, encoder_stride=32),
    head=dict(
        type='A2MIMHead',
        loss=dict(
            type='MaskedPixelLoss',
            criterion='FocalL1',
            focal_alpha=0.2,
            focal_gamma=1.0),
        fourier_loss=dict(
            type='FocalFrequencyLoss', unmask_weight=1e-3, loss_weight=0.5)))
