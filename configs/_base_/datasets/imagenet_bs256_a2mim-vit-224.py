# A2MIM pre-training data for ViTs (Li et al., ICML 2023): the CNN data of
# imagenet_bs256_a2mim-cnn-224.py (ImageNet normalisation, horizontal flip
# only, 32-px mask units at ratio 0.6, mean fill in A2MIM.loss) with the one
# difference of the reference ViT configs: RandomResizedCrop scale
# (0.67, 1.0) instead of (0.8, 1.0). mmengine replaces lists as a whole, so
# the pipeline is restated; everything else is inherited.
_base_ = './imagenet_bs256_a2mim-cnn-224.py'

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
