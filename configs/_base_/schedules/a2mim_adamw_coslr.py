# A2MIM pre-training schedule for CNNs (ResNet, ConvNeXt), total batch 2048:
# AdamW (0.9, 0.999), lr 3e-4 * 2048 / 512 = 1.2e-3, weight decay 0.05 except
# on norms, biases, 1-D parameters (ConvNeXt layer-scale gammas), the mask
# token and the mask gamma; the mask token and gamma learn at lr x 0.1.
# 10-epoch linear warmup from ~0 (LinearLR needs a factor > 0), then cosine
# to 1e-5 over the remaining epochs, per iteration. No gradient clipping.
# Children set max_epochs and repeat param_scheduler/train_cfg with it.
base_lr = 1.2e-3
warmup_epochs = 10
max_epochs = 300

optim_wrapper = dict(
    type='OptimWrapper',
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW',
        lr=base_lr,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        bias_decay_mult=0.,
        flat_decay_mult=0.,
        custom_keys={
            'mask_token': dict(lr_mult=0.1, decay_mult=0.),
            'mask_gamma': dict(lr_mult=0.1, decay_mult=0.),
        }))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)

# lr is given for a total batch of 2048 (8 GPUs x 256); --auto-scale-lr
# scales it linearly to the actual total batch.
auto_scale_lr = dict(base_batch_size=2048)
