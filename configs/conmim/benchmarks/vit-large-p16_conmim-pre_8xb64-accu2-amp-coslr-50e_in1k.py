# AMP variant of vit-large-p16_conmim-pre_8xb64-accu2-coslr-50e_in1k.py:
# the precision the official fine-tuning ran in (DeepSpeed fp16, dynamic
# loss scale starting at 2^7 and grown after 128 clean steps; spec
# reference conmim_full.md, fine-tuning recipe). Everything else is that
# config's recipe. mmconmim's MixedPrecisionOptimWrapper: fp16 with that
# GradScaler on CUDA, bf16 autocast on CPU (mmengine's AmpOptimWrapper
# refuses to build without a GPU).
# Paper: 84.6 / 85.2 / 85.5 top-1 (400 / 800 / 1600-epoch ViT-L/16
# pre-training). Ours: not measured.
_base_ = './vit-large-p16_conmim-pre_8xb64-accu2-coslr-50e_in1k.py'

optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    loss_scale=dict(init_scale=2.**7, growth_interval=128))
