# Comparison row `mocov3` with --arch resnet18/50: mmpretrain's MoCo v3
# ResNet-50 100-epoch recipe (LARS lr 9.6 at total batch 4096, temperature
# 1.0). Ours: per-process BatchNorm instead of SyncBN in the backbone,
# projector and predictor (one process, no group to sync with).
_base_ = 'mmpretrain::mocov3/mocov3_resnet50_8xb512-amp-coslr-100e_in1k.py'

model = dict(
    backbone=dict(norm_cfg=dict(type='BN')),
    neck=dict(norm_cfg=dict(type='BN1d')),
    head=dict(predictor=dict(norm_cfg=dict(type='BN1d'))))
