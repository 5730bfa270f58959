# A2MIM model for ConvNeXt-T (Li et al., ICML 2023; reference: openmixup
# MIMConvNeXt l3 configs): only the stage-4 output, final LayerNorm on the
# spatial map, no drop path.
# Mask token after the last downsample layer, before stage 4 (7x7x768 at
# 224 px, stride 32 -- not 16 as for ResNet), residual, gamma init 1e-6.
# Decoder 768 -> 32^2 * 3 channels + PixelShuffle(32), conv init
# trunc-normal(0.02) with zero bias (reference NonLinearMIMNeck).
# Loss: focal-L1 on masked pixels only; the ImageNet ConvNeXt recipes set
# the Fourier weight lambda to 0, so no Fourier loss is built.
model = dict(
    type='A2MIM',
    backbone=dict(
        type='A2MIMConvNeXt',
        arch='tiny',
        out_indices=(3, ),
        drop_path_rate=0.,
        gap_before_final_norm=False,
        mask_layer=3,
        mask_gamma_init=1e-6),
    neck=dict(type='A2MIMLinearDecoder', in_channels=768, encoder_stride=32),
    head=dict(
        type='A2MIMHead',
        loss=dict(
            type='MaskedPixelLoss',
            criterion='FocalL1',
            focal_alpha=0.2,
            focal_gamma=1.0),
        fourier_loss=None))
