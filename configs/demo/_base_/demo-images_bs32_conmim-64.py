# ConMIM's data at the demo size, written once for the ConMIM demo
# (configs/demo/conmim_demo.py), the CNN demo (configs/demo/conmim_cnn_demo.py,
# which keeps this loader with its own 96-px pipeline) and the small-data
# recipe (configs/conmim/
# conmim_vit-small-p8_1xb32-smalldata-coslr-750i_64px.py, which points
# data_root at your images). Ours, not the paper's: 64-px crops,
# 8-px patches, 16-px mask units (12 of 16 masked), 32 unlabelled images of
# data/demo/images a batch. The views, crop range, teacher photometric ops
# and mask ratio are the paper's (imagenet_bs64_conmim-224.py; its blur
# sigma, 0.1-2 px, is kept in pixels here, where the compare tool scales it
# to the crop: at p = 0.1 no difference was measurable,
# docs/conmim_small_scale.md section 18). It inherits
# that base rather than sitting beside it in a config's _base_ list, because
# mmengine refuses two bases that define the same key (train_dataloader).
_base_ = '../../_base_/datasets/imagenet_bs64_conmim-224.py'

# sizes written as numbers, not as img_size / patch_size: a config that
# inherits this loader with its own pipeline (the CNN demo) keeps its own
# values of those names
train_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomResizedCrop',
        scale=64,
        crop_ratio_range=(0.08, 1.0),
        aspect_ratio_range=(3. / 4., 4. / 3.),
        interpolation='bicubic',
        backend='pillow'),
    dict(type='MultiView', num_views=[1, 1],
         transforms=[[], {{_base_.teacher_photometric}}]),
    dict(
        type='UnitMaskGenerator',
        input_size=64,
        mask_patch_size=16,
        model_patch_size=8,
        mask_ratio=0.75),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    pin_memory=False,
    drop_last=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root='data/demo/images',
        with_label=False,
        pipeline=train_pipeline))
