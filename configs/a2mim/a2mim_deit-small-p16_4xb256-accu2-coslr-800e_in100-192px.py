# A2MIM DeiT-S/16 on ImageNet-100 at 192 px, 800 epochs, total batch 2048
# (4 GPUs x 256, gradients accumulated over 2 iterations), fp32.
# Paper's ImageNet-100 setting (A2MIM / openmixup README): 87.24 top-1 after
# a 100-epoch fine-tune on ImageNet-100 (no fine-tune config of ours).
# Not measured here.
# Recipe: the reference config (openmixup imagenet100/deit_small_l8_sz192_
# 4xb256_accu2_cos_ep800.py with models/a2mim/deit_small.py):
# * DeiT-S (384 wide, 12 layers, 6 heads) as SimMIM's ViT: absolute position
#   embedding + per-layer relative position bias, layer scale 0.1, drop path
#   0.1, 192 px (12 x 12 patches);
# * the mask token on the input of the 8th transformer layer (mask_layer=8,
#   after 7 layers), patch tokens only;
# * L1 + 0.5 x focal frequency loss (w_u 0);
# * AdamW lr 2e-4 * 2048 / 512 = 8e-4, wd 0.05 (ViT decay rules), clip 5,
#   10-epoch linear warmup then cosine to 1e-5 (per iteration).
_base_ = [
    '../_base_/models/a2mim_vit-base-p16.py',
    '../_base_/datasets/imagenet100_bs256_a2mim-vit-192.py',
    '../_base_/schedules/a2mim_adamw_steplr.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(arch='deit-small', img_size=192, mask_layer=8),
    neck=dict(in_channels=384),
    head=dict(fourier_loss=dict(loss_weight=0.5)))

optim_wrapper = dict(optimizer=dict(lr=8e-4), accumulative_counts=2)

warmup_epochs = 10
max_epochs = 800
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# mmengine scales by the per-step batch (4 x 256); the lr is meant for
# 1024 x 2 accumulated samples.
auto_scale_lr = dict(base_batch_size=1024)
