# COCO Mask R-CNN R-50-FPN 1x on a CIM-pre-trained ResNet-50 enhancer:
# mmdet's recipe unchanged (BN with norm_eval, frozen stem + stage 1) except
# for the backbone weights, which are the exported enhancer instead of
# torchvision's ImageNet classifier.
#   python tools/model_converters/export_backbone.py \
#       work_dirs/cim-revdet_resnet50_8xb256-amp-coslr-300e_in1k/epoch_300.pth \
#       data/cim/cim_resnet50_enhancer.pth
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmconmim'], allow_failed_imports=False)
# fail when a checkpoint loads < 50% of its target (docs/transfer.md)
runner_type = 'mmconmim.MMConMIMRunner'

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/cim/cim_resnet50_enhancer.pth',
            prefix='backbone.')))
