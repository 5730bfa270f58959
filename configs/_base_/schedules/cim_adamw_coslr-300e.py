# CIM pre-training optimisation: BEiT's recipe (the paper builds on BEiT; its
# own Tables 13-15 are not confirmed): AdamW lr 1.5e-3 for a total batch of
# 2048, betas (0.9, 0.999), weight decay 0.05 except on 1-D parameters
# (biases, norms, q/v biases, layer-scale gammas), cls_token and pos_embed;
# grad clip 3.0; linear warmup for 10 epochs from 1e-4 x lr, then cosine to
# 1e-5; 300 epochs; mixed precision (fp16 + loss scaling on GPUs, bf16 on
# CPU; the frozen dVAE and the losses run in fp32 regardless).
# The frozen tokenizer never enters the optimizer
# (TrainableParamsOptimWrapperConstructor skips parameters without grad).
base_lr = 1.5e-3
warmup_epochs = 10
max_epochs = 300

optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(
        flat_decay_mult=0.,
        custom_keys={
            '.cls_token': dict(decay_mult=0.),
            '.pos_embed': dict(decay_mult=0.),
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

# lr is given for the total batch 2048 (8 GPUs x 256); --auto-scale-lr scales
# it linearly to the actual total batch.
auto_scale_lr = dict(base_batch_size=2048)
