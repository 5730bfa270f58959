# Comparison row `a2mim` with --arch resnet18/50: A2MIM's ResNet-50
# 300-epoch recipe (lr 1.2e-3 at total batch 2048). Ours: per-process
# BatchNorm instead of SyncBN (one process, no group to sync with).
_base_ = '../a2mim/a2mim_resnet50_8xb256-coslr-300e_in1k.py'

model = dict(backbone=dict(norm_cfg=dict(type='BN', requires_grad=True)))
