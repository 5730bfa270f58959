# AMP variant of vit-base-p16_conmim-pre-ft224_8xb64-coslr-10e_in1k-384px.py:
# the precision the official fine-tuning ran in (DeepSpeed fp16, dynamic
# loss scale starting at 2^7 and grown after 128 clean steps; spec
# reference conmim_full.md, fine-tuning recipe). Everything else is that
# config's recipe. mmconmim's MixedPrecisionOptimWrapper: fp16 with that
# GradScaler on CUDA, bf16 autocast on CPU (mmengine's AmpOptimWrapper
# refuses to build without a GPU).
# Paper: 85.3 top-1 at 384 px (800-epoch ViT-B/16 pre-training). Ours: not
# measured.
_base_ = './vit-base-p16_conmim-pre-ft224_8xb64-coslr-10e_in1k-384px.py'

optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    loss_scale=dict(init_scale=2.**7, growth_interval=128))
