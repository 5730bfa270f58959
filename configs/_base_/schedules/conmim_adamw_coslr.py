# ConMIM pretraining optimisation (official run_conmim_pretraining.py):
# AdamW betas (0.9, 0.98), eps 1e-8, weight decay 0.05 on every weight except
# 1-D parameters (biases, norms, q/v biases, layer-scale gammas), cls_token and
# pos_embed -- decay stays on mask_token and the relative position table;
# per-iteration linear warmup from ~0, then cosine to 1e-5.
# The EMA teacher is never in the optimizer (TrainableParamsOptimWrapper-
# Constructor leaves frozen parameters out). Mixed precision runs on GPU
# (fp16 + loss scaling) and on CPU (bf16).
base_lr = 5e-4
warmup_epochs = 5
max_epochs = 300

optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW',
        lr=base_lr,
        betas=(0.9, 0.98),
        eps=1e-8,
        weight_decay=0.05,
        # one fused kernel for all parameters (CPU and CUDA); same update
        fused=True),
    paramwise_cfg=dict(
        flat_decay_mult=0.,
        custom_keys={
            'cls_token': dict(decay_mult=0.),
            'pos_embed': dict(decay_mult=0.),
        }))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
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

# lr is given for the total batch 2048 (32 GPUs x 64); --auto-scale-lr scales
# it linearly to the actual total batch.
auto_scale_lr = dict(base_batch_size=2048)
