# ImageNet-1K fine-tuning of a ConMIM ViT-L/16 at 384 px.
# Paper (Table 3, the dagger rows): 86.3 top-1 (800-epoch pre-training) and
# 86.5 (1600-epoch pre-training).
# Protocol (paper, following BEiT): fine-tune at 224 px first
# (vit-large-p16_conmim-pre_8xb64-accu2-coslr-50e_in1k.py, 50 epochs), then
# continue from that fine-tuned classifier at 384 px for another 10% of the
# epochs (5 epochs). The relative position tables are resized 27^2 -> 47^2
# (+3) by BEiTViT's load hook; the head and fc_norm are kept.
# Not published (ours): lr 5e-5 at batch 512 (8 GPUs x 32 x 2 accumulated;
# the ViT-B/S 384-px configs' values), 1 warmup epoch, cosine to 1e-6.
# From the ViT-L 224-px config (BEiT-large's command, see there): layer
# decay 0.75, drop path 0.2. Everything else is the ViT-B 384-px config
# (Mixup 0.8 / CutMix 1.0, label smoothing 0.1, RandAugment, random erasing
# 0.25, crop ratio 1.0 at test).
# AMP (fp16 on CUDA): the official fine-tuning runs DeepSpeed fp16 (dynamic
# loss scale from 2^7, grown after 128 clean steps).
#
#   bash tools/dist_train.sh THIS_CONFIG 8 --cfg-options \
#       model.backbone.init_cfg.checkpoint=FT224.pth \
#       model.head.init_cfg.checkpoint=FT224.pth
# (FT224.pth: the best checkpoint of the 224-px ViT-L fine-tuning run)
_base_ = './vit-base-p16_conmim-pre-ft224_8xb64-coslr-10e_in1k-384px.py'

model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2,
                  layer_scale_init_value=1e-5),
    head=dict(in_channels=1024))

train_dataloader = dict(batch_size=32)
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    loss_scale=dict(init_scale=2.**7, growth_interval=128),
    optimizer=dict(lr=5e-5),
    accumulative_counts=2,
    paramwise_cfg=dict(layer_decay_rate=0.75))

max_epochs = 5
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=max_epochs,
         eta_min=1e-6, convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs)
# mmengine scales by the per-step batch (8 x 32 = 256); the lr is meant for
# 256 x 2 accumulated samples.
auto_scale_lr = dict(base_batch_size=256)
