# COCO Mask R-CNN R50-C4 (2x) from an A2MIM ResNet-50 checkpoint: the
# paper's C4 detection protocol, which A2MIM takes from MoCo (A2MIM
# det_mmdetection README: "we follow the evaluation setting in MoCo"; its
# example config is mask-rcnn_r50-c4_ms-2x_coco.py on mmdet's
# mask-rcnn_r50-caffe-c4_1x_coco.py). The paper's AP numbers are not
# confirmed (our notes could not check the paper's COCO table): nothing to
# compare against yet; not measured here.
# Changes to mmdet's C4 config, as the MoCo/mmselfsup C4 benchmark:
# * pytorch-style ResNet-50 with RGB ImageNet normalisation (the caffe
#   variant expects BGR, caffe-style weights);
# * SyncBN in the backbone and in the res5 head, no frozen stages, BN
#   statistics updated (norm_eval=False);
# * res5 head with an extra norm after it (MoCo's ResLayerExtraNorm,
#   mmpretrain.models.utils.res_layer_extra_norm, registered in mmdet);
# * the res5 head starts from the checkpoint's layer4 too: mmdet 3 builds
#   the shared head without the backbone's weights, so it gets its own
#   init_cfg (prefix 'backbone.' maps 'backbone.layer4.*' onto the head's
#   'layer4.*'; the other keys are ignored as unexpected);
# * multi-scale training, short side 640..800 in steps of 32;
# * 2x schedule: 24 epochs, lr x0.1 at epochs 16 and 22 (mmdet's 2x).
# fp32 (no fp16 is known for the reference's detection runs).
#   python tools/train.py THIS_CONFIG --cfg-options \
#       model.backbone.init_cfg.checkpoint=work_dirs/.../epoch_300.pth
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py'

# mmconmim makes mmengine load runner checkpoints under torch >= 2.6;
# mmpretrain's ResLayerExtraNorm registers itself in mmdet's registry.
custom_imports = dict(
    imports=['mmconmim', 'mmpretrain.models.utils.res_layer_extra_norm'],
    allow_failed_imports=False)
# fail when a checkpoint loads < 50% of its target (docs/transfer.md)
runner_type = 'mmconmim.MMConMIMRunner'

pretrained = 'work_dirs/a2mim_resnet50_8xb256-coslr-300e_in1k/epoch_300.pth'
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    roi_head=dict(
        shared_head=dict(
            type='ResLayerExtraNorm',
            norm_cfg=norm_cfg,
            norm_eval=False,
            style='pytorch',
            init_cfg=dict(
                type='Pretrained', checkpoint=pretrained,
                prefix='backbone.'))))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, short) for short in range(640, 801, 32)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

max_epochs = 24
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[16, 22], gamma=0.1)
]
