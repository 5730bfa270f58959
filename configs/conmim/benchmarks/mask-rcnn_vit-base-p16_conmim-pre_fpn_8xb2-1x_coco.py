# COCO instance segmentation with Mask R-CNN on a pre-trained BEiT-style
# ViT-B/16, ViTDet-style (Li et al., ECCV 2022): the last stride-16 ViT map
# goes through mmconmim's SimpleFeaturePyramid (strides 4-64), fixed 1024x1024
# inputs (large-scale jitter 0.1-2.0, padding), AdamW lr 1e-4, weight decay
# 0.1, layer decay 0.7, 250 warmup iterations. "1x" = 12 epochs with steps at
# epochs 8 and 11 (see the 3x config for 36 epochs). The ConMIM paper's own
# COCO protocol (MIMDet) is not reproduced here; its numbers are not
# confirmed.
#
# Works with mmdet's tools/train.py and with ours:
#   python tools/model_converters/export_backbone.py PRETRAIN.pth vit-b.pth
#   bash tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=vit-b.pth
#
# Global attention over 64x64 tokens is memory-hungry: add --amp on GPUs.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmconmim'], allow_failed_imports=False)
# fail when a checkpoint loads < 50% of its target (docs/transfer.md)
runner_type = 'mmconmim.MMConMIMRunner'

image_size = (1024, 1024)
embed_dims = 768
model = dict(
    data_preprocessor=dict(pad_size_divisor=32, batch_augments=None),
    backbone=dict(
        _delete_=True,
        type='mmpretrain.BEiTViT',
        arch='base',
        img_size=image_size,
        patch_size=16,
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
        norm_cfg=dict(type='LN2d')))

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
    # The ViT's relative position tables are built for a fixed token grid.
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
    batch_size=2, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
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
        }))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=250),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True,
         milestones=[8, 11], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=16)

# crash-safe checkpoints, stop at the first NaN/Inf loss, and refuse a
# checkpoint, neck or pipeline whose patch size, position embedding or input
# size does not fit the ViT before the first iteration
default_hooks = dict(checkpoint=dict(type='mmconmim.SafeCheckpointHook'))
custom_hooks = [
    dict(type='mmconmim.NonFiniteLossHook'),
    dict(type='mmconmim.TorchRNGStateHook'),
    dict(type='mmconmim.ViTGeometryCheckHook')
]
