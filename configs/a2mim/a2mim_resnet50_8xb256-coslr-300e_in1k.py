# A2MIM ResNet-50, 300 epochs on ImageNet-1K, total batch 2048 (8 x 256),
# fp32 (the reference recipe has no fp16).
# Reported: 80.4 top-1 after the RSB A2 fine-tune (300 ep, 224 px).
# The reference 300-epoch config (openmixup
# r50_l3_sz224_init_8xb256_cos_ep300.py) has no 'mask_gamma' rule, unlike
# the 100-epoch one: the mask gamma learns at the full lr with wd 0.05. We
# keep that, since the reported 80.4 comes from this recipe (an upstream
# inconsistency, reproduced on purpose; add the 'mask_gamma' key back for
# the 100-epoch rule).
_base_ = [
    '../_base_/models/a2mim_resnet50.py',
    '../_base_/datasets/imagenet_bs256_a2mim-cnn-224.py',
    '../_base_/schedules/a2mim_adamw_coslr.py',
    '../_base_/default_runtime.py',
]

warmup_epochs = 10
max_epochs = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            '_delete_': True,
            '.bn': dict(decay_mult=0.),
            'bias': dict(decay_mult=0.),
            'mask_token': dict(lr_mult=0.1, decay_mult=0.),
        }))
