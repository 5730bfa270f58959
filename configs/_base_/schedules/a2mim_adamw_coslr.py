# A2MIM pre-training schedule for CNNs (ResNet, ConvNeXt), total batch 2048:
# AdamW (0.9, 0.999), lr 3e-4 * 2048 / 512 = 1.2e-3, weight decay 0.05.
# Per-parameter decay/lr follow the reference ResNet-50 100-epoch config
# (openmixup r50_l3_sz224_init_8xb256_cos_ep100.py), whose paramwise_options
# are regexes searched in the parameter name:
#   '(bn|ln|gn)(\d+)?.(weight|bias)': wd 0  -> here '.bn' (bn1/bn2/bn3 and
#       the stem bn1; NOT the downsample BN 'downsample.1', whose weight keeps
#       wd 0.05 in the reference too -- its bias has wd 0 through 'bias')
#   'bias': wd 0;  'mask_token', 'mask_gamma': wd 0, lr x 0.1.
# mmengine's custom_keys are substring matches (longest key wins), which
# gives the same decay/lr for every ResNet-50 and ConvNeXt parameter
# (tests/test_models/test_fidelity.py compares them with the reference rules); no
# type-based norm/bias/flat multipliers are used, so LayerNorm weights keep
# wd 0.05 as in the reference. ConvNeXt configs add 'gamma' (layer scale).
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
        custom_keys={
            '.bn': dict(decay_mult=0.),
            'bias': dict(decay_mult=0.),
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
