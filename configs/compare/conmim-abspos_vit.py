# Comparison row `conmim-abspos` of tools/compare_methods.py: ConMIM with an
# absolute position embedding (the official code's --abs_pos_emb; the CPU
# demo's setting). Everything else is the `conmim` row (conmim_vit.py),
# including the cross-image dictionary; the position code on the mask tokens
# is off (the absolute position embedding already tells them apart), as in
# configs/demo/conmim_demo.py.
# Paper numbers: the recipe's; ours: the switches.
_base_ = './conmim_vit.py'

model = dict(backbone=dict(use_abs_pos_emb=True, mask_token_pos_scale=0.))
