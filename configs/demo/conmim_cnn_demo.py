# ConMIM with a CNN (ConMIMCNN) demo: a tiny ResNet pre-trained on the bundled
# photographs (data/demo/images) on a laptop CPU in a few minutes. Same
# algorithm, views, masking and loss as configs/conmim/cnn/ (ConMIM's views,
# mask ratio and loss; A2MIM's mask token and mean fill); only the sizes are
# small: 96-px crops, 32-px mask units (3 x 3 grid, ceil(9 * 0.75) = 7
# masked; 96 rather than 64 px so that each image has 9 positions to tell
# apart, not 4), a ResNet-18 layout with 16 stem/base channels
# (16-32-64-128), the mask token before the last stage (stride 16, 6 x 6),
# patch embeddings from the stride-32 last stage, projector
# 128 -> 512 -> 512 -> 128.
_base_ = [
    '../_base_/models/conmim_resnet50.py',
    './_base_/demo-images_bs32_conmim-64.py',
    '../_base_/schedules/a2mim_adamw_coslr.py',
    './_base_/demo_runtime.py',
]

img_size = 96
mask_unit = 32

model = dict(
    mask_unit=mask_unit,
    backbone=dict(
        depth=18,
        stem_channels=16,
        base_channels=16,
        norm_cfg=dict(type='BN', requires_grad=True)),
    neck=dict(in_channels=128, hid_channels=512, out_channels=128))

train_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        crop_ratio_range=(0.08, 1.0),
        aspect_ratio_range=(3. / 4., 4. / 3.),
        interpolation='bicubic',
        backend='pillow'),
    dict(type='MultiView', num_views=[1, 1],
         transforms=[[], {{_base_.teacher_photometric}}]),
    dict(
        type='UnitMaskGenerator',
        input_size=img_size,
        mask_patch_size=mask_unit,
        model_patch_size=mask_unit,
        mask_ratio=0.75),
    dict(type='PackInputs'),
]

# the ConMIM demo's loader (./_base_/demo-images_bs32_conmim-64.py) with
# this pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

max_iters = 200
warmup_iters = 20
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
auto_scale_lr = dict(base_batch_size=32)
