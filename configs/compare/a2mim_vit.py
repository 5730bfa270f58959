# Comparison row `a2mim` of tools/compare_methods.py: A2MIM's ViT recipe
# (ViT-S/16 800 epochs: AdamW lr 4e-4 at total batch 2048, 0.6 unit masking
# with 32-px units, L1 + focal frequency loss, mean fill + residual mask
# token). Paper numbers: the recipe's; ours: nothing (sizes per run).
_base_ = '../a2mim/a2mim_vit-small-p16_8xb256-steplr-800e_in1k.py'
