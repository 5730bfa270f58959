# ADE20K UperNet ViT-B/16 (160k iterations, 512x512) from an A2MIM ViT-B
# checkpoint (paper: 49.0 mIoU). Everything comes from the shared ViT-B
# UperNet benchmark config (mmpretrain.BEiTViT backbone, featmap outputs of
# layers 3/5/7/11, Feature2Pyramid, layer-wise lr decay, init_cfg with prefix
# 'backbone.'); A2MIM's ViT also has an absolute position embedding, which is
# switched on here so that it is loaded (and resized from 14x14 to 32x32 by
# BEiTViT's load hook) instead of being dropped. mask_token is ignored as an
# unexpected key. The same hook resizes the per-layer relative position
# tables (27^2 -> 63^2 entries; mmconmim's compat layer makes that work on
# SciPy >= 1.14).
# Mixed precision (fp16 with dynamic loss scaling), as the reference
# (A2MIM seg_mmsegmentation upernet_mae_base_8x2_512x512_160k_ade20k.py,
# MAE's protocol) trains in fp16.
_base_ = '../../conmim/benchmarks/' \
    'upernet_vit-base-p16_conmim-pre_8xb2-160k_ade20k-512x512.py'

model = dict(backbone=dict(use_abs_pos_emb=True))

# fp16 autocast + dynamic loss scale on CUDA; mmengine's AmpOptimWrapper
# refuses to build without a GPU, ours falls back to bf16/fp32 on the CPU
optim_wrapper = dict(type='mmconmim.MixedPrecisionOptimWrapper')
