# ConMIM model: BEiT-style ViT-B/16 student (mask token, shared relative
# position bias, layer scale 0.1, no absolute position embedding), a 3-layer
# token-wise projector (768 -> 4096 -> 4096 -> 256, no biases, BN + ReLU, last
# BN without affine; Linear weights trunc-normal 0.02 truncated at +-0.02 as
# in the official code), and an EMA teacher of both (0.996 -> 1, i.e.
# mmengine momentum 0.004 -> 0).
model = dict(
    type='ConMIM',
    backbone=dict(
        type='ConMIMViT',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.,
        layer_scale_init_value=0.1,
        use_abs_pos_emb=False,
        use_rel_pos_bias=False,
        use_shared_rel_pos_bias=True,
        final_norm=True,
        out_type='raw',
        out_indices=-1),
    neck=dict(
        type='ConMIMProjector',
        in_channels=768,
        hid_channels=4096,
        out_channels=256,
        num_layers=3,
        with_bias=False,
        with_last_bn=True,
        with_last_bn_affine=False,
        with_avg_pool=False,
        # Plain per-GPU BN as in the reference; 'DistBN' syncs across ranks.
        norm_cfg=dict(type='BN1d')),
    head=dict(
        type='MIMHead',
        loss=dict(type='DenoisingContrastLoss', temperature=0.1)),
    momentum=0.004,
    end_momentum=0.)
