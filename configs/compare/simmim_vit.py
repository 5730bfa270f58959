# Comparison row `simmim` of tools/compare_methods.py: mmpretrain's SimMIM
# recipe (SimMIMLinearDecoder, L1 on masked pixels, SimMIMMaskGenerator 0.6
# with 32-px units, AdamW lr 8e-4 at total batch 2048), which mmpretrain
# 1.2.0 ships for Swin only, with the ViT of the SimMIM paper instead:
# SimMIMViT (mmconmim: mmpretrain's masked BEiT ViT with the patch tokens
# as a map). Ours: the ViT's settings -- an absolute position embedding, as
# A2MIM's ViT has, so masked tokens differ from the start at small scale;
# layer scale 0.1 -- and the ViT's no-decay keys in place of Swin's.
_base_ = ('mmpretrain::simmim/'
          'simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py')

model = dict(
    backbone=dict(
        _delete_=True,
        type='SimMIMViT',
        arch='base',
        img_size=192,
        patch_size=16,
        use_abs_pos_emb=True,
        use_rel_pos_bias=False,
        use_shared_rel_pos_bias=False,
        layer_scale_init_value=0.1),
    neck=dict(in_channels=768, encoder_stride=16),
    head=dict(patch_size=16))
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys=dict(
            pos_embed=dict(decay_mult=0.),
            mask_token=dict(decay_mult=0.),
            cls_token=dict(decay_mult=0.))))
