# Linear probing of an A2MIM ResNet-50 on ImageNet-1K: frozen backbone
# (all 4 stages), global average pooling, linear head. The reference's only
# ImageNet linear protocol (openmixup r50_linear_sz224_4xb64_step_ep100.py):
# SGD lr 30, momentum 0.9, wd 0, batch 256 (4 x 64), 100 epochs, lr x0.1 at
# epochs 60 and 80, RandomResizedCrop 224 + flip, test resize 256 / crop
# 224. No A2MIM linear-probe number is confirmed (paper tables not checked).
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs64.py',
    '../../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        frozen_stages=4,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=30., momentum=0.9, weight_decay=0.))

param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[60, 80], gamma=0.1)
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
