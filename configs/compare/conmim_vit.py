# Comparison row `conmim` of tools/compare_methods.py: ConMIM, paper backbone
# with the small-data fix of docs/conmim_small_scale.md (issue 25).
#
# THE place for the ConMIM ViT rows' model settings: `conmim-abspos` inherits
# this file and changes only the absolute position embedding. The recipe is
# the paper's ViT-B/16 300-epoch one (lr 5e-4 at total batch 2048, AdamW,
# EMA teacher, 0.75 unit masking, denoising contrast, BYOL photometric
# teacher view); mmconmim.compare.configs scales sizes (width, depth, image,
# patch, mask unit, projector), batch, lr and schedule for the comparison.
# Paper numbers: the recipe's. Ours: the small-data fix, four opt-in
# changes measured in docs/conmim_small_scale.md on photo-regions-13 and a
# 32-px set (with all four, three seeds per row and set in this tool: the
# teacher's kNN ended at or above its iteration-0 value in 11 of 12 runs,
# the other 0.2 points below; the paper setting fell from 47.6 to 20.4 on
# the 32-px set of issue 25): a cross-image dictionary
# (negatives='batch': the same position in another image is a negative, so
# position alone no longer solves the task) and position-aware mask tokens
# (a fixed sin-cos code on the mask tokens only, so they differ at
# iteration 0; the downstream backbone is unchanged), and mmpretrain's
# BEiT initialisation with layer scale 1.0 instead of the paper's std-0.02
# weights and layer scale 0.1 (at these budgets the paper initialisation
# starts ~20 kNN points below a random plain ViT and never catches up:
# docs/conmim_small_scale.md section 8; layer scale 1.0 favours the frozen
# and fine-tune columns of this table, but costs Mask R-CNN transfer,
# section 9, which is why the CPU demo keeps 0.1), and a 2-layer projector
# instead of the paper's 3 (section 8: at layer scale 1.0 the teacher's kNN
# ended below its iteration-0 value in 1 of 17 runs, by 0.2, against 4 of 12
# with 3 layers; kNN, linear and fine-tune levels within the seed spread).
# The teacher view stays the recipe's (with blur and solarize): the
# small-data config drops the two, which at this table's lr left every
# column level (section 16). Sizes are set per run.
_base_ = '../conmim/conmim_vit-base-p16_32xb64-amp-coslr-300e_in1k.py'

model = dict(
    backbone=dict(
        # the paper's backbone: shared relative position bias (zero at
        # start), no absolute position embedding; initialised as
        # mmpretrain's BEiT with layer scale 1.0 (small-data fix)
        use_abs_pos_emb=False,
        use_shared_rel_pos_bias=True,
        layer_scale_init_value=1.0,
        weight_init='mmpretrain',
        drop_path_rate=0.,
        mask_token_pos_scale=0.2),
    # Linear-BN-ReLU-Linear-BN instead of the paper's 3 layers (small-data fix)
    neck=dict(num_layers=2),
    head=dict(loss=dict(negatives='batch')))
