# Comparison row `conmim` with --arch resnet18/50 (ConMIMCNN; see
# docs/conmim_cnn.md): the ResNet-50 300-epoch recipe (lr 1.2e-3 at total
# batch 2048). Ours: per-process BatchNorm instead of SyncBN, as a
# one-process comparison has no group to sync with.
_base_ = '../conmim/cnn/conmim_resnet50_8xb256-coslr-300e_in1k.py'

model = dict(backbone=dict(norm_cfg=dict(type='BN', requires_grad=True)))
