# A2MIM ResNet-101, 300 epochs on ImageNet-1K, total batch 2048 (8 x 256),
# fp32 (the reference has no fp16 here).
# Paper (A2MIM README table): 81.9 top-1 after the RSB A2 fine-tune
# (benchmarks/resnet101_a2mim-pre_8xb256-rsb-a2-300e_in1k.py; SimMIM 81.3).
# Not measured here.
# Recipe: the reference config (openmixup r101_l3_sz224_init_8xb256_cos_ep300
# with models/a2mim/r101.py): the ResNet-50 recipe with depth 101 and the
# NON-focal Fourier loss, lambda 0.1 (fft_focal=False: focal-L1 of the
# modulus of the per-sample spectrum difference, w_u 1e-3 --
# PlainFrequencyLoss); like the ResNet-50 300-epoch config, no 'mask_gamma'
# rule (gamma at full lr with wd 0.05).
_base_ = './a2mim_resnet50_8xb256-coslr-300e_in1k.py'

model = dict(
    backbone=dict(depth=101),
    head=dict(
        fourier_loss=dict(
            _delete_=True,
            type='PlainFrequencyLoss',
            criterion='FocalL1',
            unmask_weight=1e-3,
            loss_weight=0.1)))
