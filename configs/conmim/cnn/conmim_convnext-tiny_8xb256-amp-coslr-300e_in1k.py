# ConMIM with a ConvNeXt-T (ConMIMCNN), 300 epochs on ImageNet-1K, total
# batch 2048 (8 x 256), mixed precision (fp16 + dynamic loss scale on GPU,
# bf16 on CPU), as A2MIM's ConvNeXt recipe. Everything else as the ResNet-50
# config (see its header for which numbers are ConMIM's and which A2MIM's),
# except the backbone, from A2MIM's ConvNeXt-T recipe: no drop path, final
# LayerNorm on the spatial stage-4 map, mask token after the last downsample
# (stride 32, gamma init 1e-6); the projector takes its 768 channels.
_base_ = './conmim_resnet50_8xb256-coslr-300e_in1k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='A2MIMConvNeXt',
        arch='tiny',
        out_indices=(3, ),
        drop_path_rate=0.,
        gap_before_final_norm=False,
        mask_layer=3,
        mask_gamma_init=1e-6),
    neck=dict(in_channels=768))

optim_wrapper = dict(type='MixedPrecisionOptimWrapper')
