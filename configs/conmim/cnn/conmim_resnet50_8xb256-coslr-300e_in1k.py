# ConMIM with a ResNet-50 (ConMIMCNN), 300 epochs on ImageNet-1K, total batch
# 2048 (8 x 256), fp32. ConMIM (Yi et al., ICLR 2023) has no CNN recipe and
# A2MIM (Li et al., ICML 2023) has no contrastive one; where the numbers come
# from (docs/conmim_cnn.md):
#   ConMIM   -- the method: weak/strong views of one shared flip + crop
#               (RandomResizedCrop scale (0.08, 1)), teacher photometric ops,
#               mask ratio 0.75 of 32-px units, projector 2048 -> 4096 ->
#               4096 -> 256 (BN, last BN without affine; ConMIMProjector,
#               Linear weights trunc-normal 0.02), intra-image InfoNCE
#               with tau 0.1, EMA teacher 0.996 -> 1 (momentum 0.004 -> 0);
#   A2MIM    -- the CNN side: torchvision-style ResNet-50 with the mask token
#               before layer4 (stride 16, gamma init 1e-6), mean fill of the
#               masked units, SyncBN; the optimisation: AdamW (0.9, 0.999),
#               lr 1.2e-3 at batch 2048, wd 0.05 (none on norms, biases,
#               mask token, gamma; token and gamma at lr x0.1), 10-epoch
#               warmup, cosine to 1e-5, 300 epochs, batch 8 x 256, no fp16;
#   ours     -- patch embeddings = the stage-4 map (stride 32, 7 x 7 at
#               224 px), so the mask is drawn at 32-px units directly
#               (UnitMaskGenerator model_patch_size=32) and mask_unit=32.
# The model (ConMIM's projector/loss/teacher on A2MIM's ResNet-50) is
# configs/_base_/models/conmim_resnet50.py.
# Untested at scale: no ImageNet result exists for this combination.
_base_ = [
    '../../_base_/models/conmim_resnet50.py',
    '../../_base_/datasets/imagenet_bs64_conmim-224.py',
    '../../_base_/schedules/a2mim_adamw_coslr.py',
    '../../_base_/default_runtime.py',
]

img_size = 224
mask_unit = 32

train_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        crop_ratio_range=(0.08, 1.0),
        aspect_ratio_range=(3. / 4., 4. / 3.),
        interpolation='bicubic',
        backend='pillow'),
    # [student view, teacher view]: the order ConMIM.loss expects.
    dict(type='MultiView', num_views=[1, 1],
         transforms=[[], {{_base_.teacher_photometric}}]),
    # one mask entry per 32-px unit = per position of the stride-32 map
    dict(
        type='UnitMaskGenerator',
        input_size=img_size,
        mask_patch_size=mask_unit,
        model_patch_size=mask_unit,
        mask_ratio=0.75),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=256, num_workers=8, dataset=dict(pipeline=train_pipeline))

warmup_epochs = 10
max_epochs = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
