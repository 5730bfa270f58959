# Comparison row `conmim-abspos` of tools/compare_methods.py: ConMIM with an
# absolute position embedding (the official code's --abs_pos_emb; the CPU
# demo's setting). Everything else is the `conmim` row (conmim_vit.py).
# Paper numbers: the recipe's; ours: the switch.
_base_ = './conmim_vit.py'

model = dict(backbone=dict(use_abs_pos_emb=True))
