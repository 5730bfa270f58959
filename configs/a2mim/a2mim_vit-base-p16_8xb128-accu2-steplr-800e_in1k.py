# A2MIM ViT-B/16, 800 epochs on ImageNet-1K, total batch 2048
# (8 GPUs x 128, gradients accumulated over 2 iterations), fp32.
# Reported: 84.2 top-1 after the 100-epoch BEiT/SimMIM fine-tune
# (SimMIM: 83.8); ADE20K UperNet 49.0 mIoU.
_base_ = [
    '../_base_/models/a2mim_vit-base-p16.py',
    '../_base_/datasets/imagenet_bs256_a2mim-vit-224.py',
    '../_base_/schedules/a2mim_adamw_steplr.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=128)
optim_wrapper = dict(accumulative_counts=2)
# auto_scale_lr sees 8 x 128 = 1024 per step (mmengine ignores accumulation);
# the lr is meant for 1024 x 2 accumulated samples.
auto_scale_lr = dict(base_batch_size=1024)
