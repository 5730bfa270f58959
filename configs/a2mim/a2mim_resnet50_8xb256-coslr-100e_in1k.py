# A2MIM ResNet-50, 100 epochs on ImageNet-1K, total batch 2048 (8 x 256),
# fp32 (the reference recipe has no fp16).
# Reported: 78.8 top-1 after the RSB A3 fine-tune (100 ep, 160 px).
_base_ = [
    '../_base_/models/a2mim_resnet50.py',
    '../_base_/datasets/imagenet_bs256_a2mim-cnn-224.py',
    '../_base_/schedules/a2mim_adamw_coslr.py',
    '../_base_/default_runtime.py',
]

warmup_epochs = 10
max_epochs = 100
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
