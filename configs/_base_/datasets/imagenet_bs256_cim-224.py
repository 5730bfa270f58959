# CIM input views (Fang et al., ICLR 2023, build on BEiT's data pipeline):
# one crop per image rendered twice with the same crop box --
#   view A, 224 px bicubic: the generator and the enhancer (ImageNet
#           normalisation; also the RESPIX target);
#   view B, 112 px Lanczos: the frozen DALL-E tokenizer (pixels mapped to
#           [0.1, 0.9]: (x + 31.875) / 318.75 = 0.8 * x / 255 + 0.1),
# so that one 16-px patch of view A covers exactly one 8-px dVAE token of
# view B (14 x 14 grid). BEiT block masking on that grid: 75 of 196 tokens,
# blocks of >= 16, aspect 0.3 .. 1/0.3.
# Knobs (the paper's exact values are not confirmed): the mask count and
# block sizes, the crop scale.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
img_size = 224
tokenizer_size = 112
token_grid = tokenizer_size // 8
num_masking_patches = 75  # knob: paper value unconfirmed (BEiT default)

data_preprocessor = dict(
    type='TwoNormDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    second_mean=[-31.875, -31.875, -31.875],
    second_std=[318.75, 318.75, 318.75],
    to_rgb=True)

train_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(
        type='ColorJitter',
        brightness=0.4,
        contrast=0.4,
        saturation=0.4,
        hue=0.),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomResizedCropAndInterpolationWithTwoPic',
        size=img_size,
        second_size=tokenizer_size,
        interpolation='bicubic',
        second_interpolation='lanczos',
        scale=(0.08, 1.0)),
    dict(
        type='BlockMaskGenerator',
        input_size=token_grid,
        num_masking_patches=num_masking_patches,
        min_num_patches=16),
    # inputs = [view A, view B]: the order CIM.loss expects.
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
