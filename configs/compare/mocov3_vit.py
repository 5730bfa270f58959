# Comparison row `mocov3` of tools/compare_methods.py: mmpretrain's MoCo v3
# ViT-S recipe as it is (two asymmetric BYOL views, 3-layer projector,
# 2-layer predictor, temperature 0.2, momentum 0.99 -> 1, AdamW lr 2.4e-3 at
# total batch 4096, wd 0.1). mmconmim.compare.configs scales the projector
# and predictor with the width (4 x width hidden). Paper numbers: the
# recipe's; ours: none.
_base_ = 'mmpretrain::mocov3/mocov3_vit-small-p16_16xb256-amp-coslr-300e_in1k.py'
