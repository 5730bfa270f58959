# COCO instance segmentation: Mask R-CNN on a ConMIM-pre-trained ViT-L/16,
# ViTDet recipe (Li et al., ECCV 2022, the ViT-L row).
#
# Which protocol is which:
# - The PAPER's protocol (ConMIM, Sec. 5.3) is MIMDet's; not reproduced here
#   and the paper's COCO numbers are not confirmed (see the ViT-B config).
# - OURS (this file): the ViT-B ViTDet config
#   (mask-rcnn_vit-base-p16_conmim-pre_vitdet-simplefpn_8xb8-100e_coco-1024.py)
#   with ViTDet's ViT-L values: global blocks 5, 11, 17, 23 (14x14 windows
#   elsewhere), drop path 0.4, layer decay 0.8, layer scale init 1e-5 (the
#   ConMIM ViT-L pre-training value; the weights overwrite it). Batch 64 per
#   step as ViTDet, here 8 GPUs x 4 images x 2 accumulated steps because 8
#   images of 1024 px per GPU are not expected to fit a ViT-L on 80 GB (not
#   measured here); the heads use LN only, so accumulation changes nothing
#   but the memory.
# Measured here: nothing at COCO scale (no result of ours).
_base_ = './mask-rcnn_vit-base-p16_conmim-pre_vitdet-simplefpn_8xb8-100e_coco-1024.py'

embed_dims = 1024
model = dict(
    backbone=dict(
        arch='large',
        global_attn_indexes=(5, 11, 17, 23),
        out_indices=(23, ),
        drop_path_rate=0.4,
        layer_scale_init_value=1e-5),
    neck=dict(in_channels=embed_dims))

train_dataloader = dict(batch_size=4)
optim_wrapper = dict(
    accumulative_counts=2, paramwise_cfg=dict(layer_decay_rate=0.8))
