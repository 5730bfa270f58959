# COCO Mask R-CNN (ViTDet-style) on a CIM-pre-trained BEiT-style ViT-B/16
# enhancer (cim-*_beit-base-p16_*): the shared ViT-B/16 COCO recipe with the
# CIM enhancer weights (export them with
# tools/model_converters/export_backbone.py, see the ADE20K config). No
# COCO number of the paper is confirmed; not measured here. The vanilla
# enhancer: mask-rcnn_vit-base-p16_cim-pre_fpn_8xb2-1x_coco.py.
_base_ = '../../conmim/benchmarks/' \
    'mask-rcnn_vit-base-p16_conmim-pre_fpn_8xb2-1x_coco.py'

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/cim/cim_beit-base-p16_enhancer.pth',
            prefix='backbone.')))
