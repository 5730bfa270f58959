# ADE20K UperNet on a pre-trained ViT-S/16 (deit-small, 384 wide); see the
# ViT-B config. The paper's exact ViT-S ADE20K settings are not confirmed.
_base_ = './upernet_vit-base-p16_conmim-pre_8xb2-160k_ade20k-512x512.py'

embed_dims = 384
model = dict(
    backbone=dict(arch='deit-small'),
    neck=dict(embed_dim=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=512),
    auxiliary_head=dict(in_channels=embed_dims))
