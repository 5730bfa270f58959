# Comparison row `mae` of tools/compare_methods.py: mmpretrain's MAE recipe
# as it is (MAEViT, 0.75 random masking, the encoder sees the visible 25 %,
# normalised-pixel L2; AdamW (0.9, 0.95) lr 1.5e-4 x 4096 / 256 at total
# batch 4096). mmconmim.compare.configs scales the decoder with the encoder
# (as wide, depth / 4 layers). Paper numbers: the recipe's; ours: none.
_base_ = 'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'
