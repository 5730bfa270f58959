# COCO Mask R-CNN (ViTDet-style) on a CIM-pre-trained vanilla ViT-B/16
# enhancer -- the paper's enhancer (cim-*_vit-base-p16_*): the BEiT-style
# config (mask-rcnn_beit-base-p16_cim-pre_fpn_8xb2-1x_coco.py, the shared
# ViT-B/16 COCO recipe) with mmpretrain's VisionTransformer as the backbone,
# its learned absolute position embedding resized to the 64x64 token grid
# by its load hook. No COCO number of the paper is confirmed; not measured.
_base_ = './mask-rcnn_beit-base-p16_cim-pre_fpn_8xb2-1x_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='base',
        img_size={{_base_.image_size}},
        patch_size=16,
        out_type='featmap',
        out_indices=(11, ),
        final_norm=False,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/cim/cim_vit-base-p16_enhancer.pth',
            prefix='backbone.')))
