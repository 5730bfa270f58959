# CIM with a BEiT-style ViT-B/16 enhancer: cim_vit-base-p16.py with the
# enhancer swapped for mmpretrain's BEiTViT as in BEiT's pre-training recipe
# -- shared relative position bias instead of an absolute position
# embedding, layer scale 0.1, drop path 0.1. The paper names a vanilla
# ViT-B/16 (cim_vit-base-p16.py); this is the named alternative, ours.
# Its weights load into the BEiTViT backbones of the shared ADE20K / COCO
# ViT-B configs (configs/cim/benchmarks/*beit-base-p16_cim-pre*).
_base_ = './cim_vit-base-p16.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='BEiTViT',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        layer_scale_init_value=0.1,
        use_abs_pos_emb=False,
        use_rel_pos_bias=False,
        use_shared_rel_pos_bias=True,
        final_norm=True,
        out_type='featmap',
        out_indices=-1,
        init_cfg=[
            dict(type='TruncNormal', std=0.02, layer='Linear'),
            dict(type='TruncNormal', std=0.02, layer='Conv2d'),
            dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
        ]))
