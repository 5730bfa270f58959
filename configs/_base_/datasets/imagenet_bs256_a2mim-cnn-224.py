# A2MIM pre-training data for CNNs (ResNet, ConvNeXt) (Li et al., ICML 2023):
# RandomResizedCrop(224, scale (0.8, 1.0)) + horizontal flip only (no colour
# jitter), ImageNet normalisation, and a mask of 32-px units at ratio 0.6:
# exactly ceil(49 * 0.6) = 30 of the 7x7 units, uniform without replacement
# (SimMIM's rule). The mask stays at unit resolution here; A2MIM expands it
# to the grid of the backbone's injection stage (stride 16 for ResNet-50 and
# ViT, 32 for ConvNeXt) and to pixels, and checks that the stride divides
# the unit. The mean fill of the masked pixels happens in A2MIM.loss on the
# normalised batch (per image, per channel).
# The ViT and ImageNet-100 data files inherit this one and restate only the
# pipeline (crop scale / size); `mask_generator` is shared with them.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
img_size = 224
mask_unit = 32

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

mask_generator = dict(
    type='UnitMaskGenerator',
    input_size=img_size,
    mask_patch_size=mask_unit,
    model_patch_size=mask_unit,
    mask_ratio=0.6)

train_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        crop_ratio_range=(0.8, 1.0),
        aspect_ratio_range=(3. / 4., 4. / 3.)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    mask_generator,
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
