# A2MIM pre-training data on ImageNet-100 at 192 px (the reference's
# ImageNet-100 settings, openmixup configs/selfsup/a2mim/imagenet100/): the
# ImageNet data of imagenet_bs256_a2mim-cnn-224.py at 192 px --
# RandomResizedCrop(192, scale (0.8, 1.0)) + horizontal flip, 32-px mask
# units at ratio 0.6 (ceil(36 * 0.6) = 22 of the 6x6 units), mean fill in
# A2MIM.loss.
# ImageNet-100 is the 100-class ImageNet subset of CMC (Tian et al., 2020);
# put its train split as class folders under data/imagenet100/train (the
# labels are not used for pre-training). The ViT variant
# (imagenet100_bs256_a2mim-vit-192.py) changes the crop scale to (0.67, 1.0).
_base_ = './imagenet_bs256_a2mim-cnn-224.py'

data_root = 'data/imagenet100/'
img_size = 192
crop_ratio_range = (0.8, 1.0)

mask_generator = dict(
    type='UnitMaskGenerator',
    input_size=img_size,
    mask_patch_size={{_base_.mask_unit}},
    model_patch_size={{_base_.mask_unit}},
    mask_ratio=0.6)

train_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        crop_ratio_range=crop_ratio_range,
        aspect_ratio_range=(3. / 4., 4. / 3.)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    mask_generator,
    dict(type='PackInputs'),
]

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        with_label=False,
        pipeline=train_pipeline))
