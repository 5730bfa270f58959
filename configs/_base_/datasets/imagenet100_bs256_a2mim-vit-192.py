# A2MIM pre-training data on ImageNet-100 at 192 px for ViTs (the reference's
# DeiT-S ImageNet-100 config): imagenet100_bs256_a2mim-cnn-192.py with the
# ViT crop scale (0.67, 1.0).
_base_ = './imagenet100_bs256_a2mim-cnn-192.py'

train_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale={{_base_.img_size}},
        crop_ratio_range=(0.67, 1.0),
        aspect_ratio_range=(3. / 4., 4. / 3.)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    {{_base_.mask_generator}},
    dict(type='PackInputs'),
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
