# ConMIM ViT-L/16, 1600 epochs: the official README command.
# Paper: 85.5 top-1 after fine-tuning at 224 px (86.5 at 384 px).
_base_ = './conmim_vit-large-p16_32xb64-amp-coslr-800e_in1k.py'

warmup_epochs = 10
max_epochs = 1600
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
