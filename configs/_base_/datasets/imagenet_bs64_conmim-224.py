# ConMIM asymmetric views (Yi et al., ICLR 2023, Sec. 4.3; official
# DataAugmentationForConMIM):
#   one flip + RandomResizedCrop per image, shared by both views, so that
#   patch j of one view covers the same pixels as patch j of the other;
#   view 0 (student, masked): no photometric change ("weak");
#   view 1 (teacher, full): BYOL view-2 photometric ops ("strong");
#   one mask per image for the student (random_mps32: 32-px units, 0.75).
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
img_size = 224
patch_size = 16

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# Images are BGR here (mmcv loading); the grayscale weights are in BGR order.
teacher_photometric = [
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.2,
                hue=0.1)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.1),
    dict(type='Solarize', thr=128, prob=0.2),
]

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
    # [student view, teacher view]: the order ConMIM.loss expects.
    dict(type='MultiView', num_views=[1, 1],
         transforms=[[], teacher_photometric]),
    # BEiT block masking is the alternative:
    # dict(type='BlockMaskGenerator', input_size=img_size // patch_size,
    #      num_masking_patches=75, min_num_patches=16)
    dict(
        type='UnitMaskGenerator',
        input_size=img_size,
        mask_patch_size=32,
        model_patch_size=patch_size,
        mask_ratio=0.75),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=10,
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
