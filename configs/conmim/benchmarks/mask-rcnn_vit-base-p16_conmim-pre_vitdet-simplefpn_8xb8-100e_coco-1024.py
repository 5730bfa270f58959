# COCO instance segmentation: Mask R-CNN on a ConMIM-pre-trained ViT-B/16,
# ViTDet recipe (Li et al., ECCV 2022; mmdet's projects/ViTDet config).
#
# Which protocol is which:
# - The PAPER's protocol (ConMIM, Sec. 5.3) is MIMDet's (Fang et al. 2022):
#   Mask R-CNN + FPN on a plain ViT with a conv stem and partial input-token
#   sampling. It is NOT reproduced here, and the paper's COCO AP numbers
#   (Table 5) are not confirmed (docs/transfer.md), so no number is quoted.
# - OURS (this file): ViTDet's recipe with windowed attention: 14x14-token
#   windows in every block but 2, 5, 8, 11, which attend globally with their
#   relative position bias interpolated from the 14x14 pre-training table
#   (mmconmim.WindowedBEiTViT; same state-dict keys as BEiTViT), the last
#   stride-16 map through mmconmim.SimpleFeaturePyramid (strides 4-64, LN),
#   2-conv RPN, 4conv1fc box head and mask head with LN, 1024x1024 large-
#   scale jitter (0.1-2.0) + padding, AdamW lr 1e-4 at batch 64, betas
#   (0.9, 0.999), wd 0.1, layer decay 0.7, drop path 0.1, 250 warmup
#   iterations, 100 epochs (mmdet's lsj-100e base: 25 x RepeatDataset(4))
#   with lr steps at epochs 88 and 96, AMP (ViTDet trains in fp16).
# - The named global-attention variant (every block global over 64x64
#   tokens, 1x schedule): mask-rcnn_vit-base-p16_conmim-pre_fpn_8xb2-1x_coco.py
#   in this folder.
# Measured here: nothing at COCO scale (no result of ours).
#
#   python tools/model_converters/export_backbone.py PRETRAIN.pth vit-b.pth
#   bash tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=vit-b.pth
# Fewer GPUs: docs/budgets.md (keep 64 images per optimiser step).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::common/lsj-100e_coco-instance.py',
]
custom_imports = dict(imports=['mmconmim'], allow_failed_imports=False)
# fail when a checkpoint loads < 50% of its target (docs/transfer.md)
runner_type = 'mmconmim.MMConMIMRunner'

image_size = (1024, 1024)
embed_dims = 768
# LayerNorm over channels of NCHW maps (mmpretrain's LN2d), as ViTDet's heads
head_norm_cfg = dict(type='mmpretrain.LN2d', requires_grad=True)
model = dict(
    data_preprocessor=dict(
        pad_size_divisor=32,
        batch_augments=[
            dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)
        ]),
    backbone=dict(
        _delete_=True,
        type='mmconmim.WindowedBEiTViT',
        arch='base',
        img_size=image_size,
        patch_size=16,
        window_size=14,
        global_attn_indexes=(2, 5, 8, 11),
        out_type='featmap',
        out_indices=(11, ),
        final_norm=False,
        drop_path_rate=0.1,
        layer_scale_init_value=0.1,
        use_abs_pos_emb=False,
        use_rel_pos_bias=True,
        use_shared_rel_pos_bias=False,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=dict(
        _delete_=True,
        type='mmconmim.SimpleFeaturePyramid',
        in_channels=embed_dims,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        num_outs=5,
        norm_cfg=dict(type='LN2d')),
    rpn_head=dict(num_convs=2),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=head_norm_cfg),
        mask_head=dict(norm_cfg=head_norm_cfg)))

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomResize',
        scale=image_size,
        ratio_range=(0.1, 2.0),
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_type='absolute_range',
        crop_size=image_size,
        recompute_bbox=True,
        allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    # The global blocks' relative position tables are built for 64x64 tokens.
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    _delete_=True,
    # fp16 autocast + dynamic loss scale on CUDA (bf16/fp32 on CPU)
    type='mmconmim.MixedPrecisionOptimWrapper',
    constructor='mmconmim.BackboneLayerDecayOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(
        layer_decay_rate=0.7,
        custom_keys={
            '.ln': dict(decay_mult=0.0),
            '.bias': dict(decay_mult=0.0),
            'q_bias': dict(decay_mult=0.0),
            'v_bias': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
            '.gamma': dict(decay_mult=0.0),
            'relative_position_bias_table': dict(decay_mult=0.0),
        }))

max_epochs = 25  # x RepeatDataset(times=4) = 100 epochs
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=250),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[22, 24], gamma=0.1)
]
train_cfg = dict(max_epochs=max_epochs)
# lr 1e-4 is for 64 images per step (8 GPUs x 8)
auto_scale_lr = dict(enable=False, base_batch_size=64)

# crash-safe checkpoints, stop at the first NaN/Inf loss, and refuse a
# checkpoint, neck or pipeline whose patch size, position embedding or input
# size does not fit the ViT before the first iteration
default_hooks = dict(
    checkpoint=dict(type='mmconmim.SafeCheckpointHook', max_keep_ckpts=2))
custom_hooks = [
    dict(type='mmconmim.NonFiniteLossHook'),
    dict(type='mmconmim.TorchRNGStateHook'),
    dict(type='mmconmim.ViTGeometryCheckHook')
]
