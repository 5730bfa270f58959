# A2MIM pre-training schedule for ViTs, total batch 2048:
# AdamW (0.9, 0.999), lr 1e-4 * 2048 / 512 = 4e-4, weight decay 0.05.
# Per-parameter decay follows the reference ViT configs (openmixup
# vit_{small,base}_l0_*_step_ep800.py), whose regex paramwise_options give
# wd 0 to '(bn|ln|gn)(\d+)?.(weight|bias)', 'norm', 'bias', 'mask_token',
# 'pos_embed', 'cls_token' and 'gamma' (no lr multipliers). 'bias' also
# matches q_bias/v_bias and every 'relative_position_bias_table': the
# relative position tables get no weight decay in the reference, and none
# here (mmengine custom_keys are substring matches, the same rule).
# Gradient clipping at 5.
# 10-epoch linear warmup from 2e-6 x lr, then a step decay x0.1 at epoch 700
# of 800 (not cosine). Children set max_epochs and repeat
# param_scheduler/train_cfg with it.
base_lr = 4e-4
warmup_epochs = 10
max_epochs = 800
decay_epoch = 700

optim_wrapper = dict(
    type='OptimWrapper',
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW',
        lr=base_lr,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.05),
    clip_grad=dict(max_norm=5.0),
    paramwise_cfg=dict(
        custom_keys={
            '.ln': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            'bias': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
            'gamma': dict(decay_mult=0.),
        }))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=2e-6,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='MultiStepLR',
        milestones=[decay_epoch],
        gamma=0.1,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)

# lr is given for a total batch of 2048; --auto-scale-lr scales it linearly
# to the actual total batch.
auto_scale_lr = dict(base_batch_size=2048)
