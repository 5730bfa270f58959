# CIM with a ViT-B/16 enhancer (Fang et al., ICLR 2023). The enhancer is a
# named choice: this file is the paper's vanilla ViT-B/16
# (VisionTransformer); cim_beit-base-p16.py swaps in a BEiT-style ViT-B/16
# (BEiTViT). Everything else (generator, dVAE, heads) is shared.
#
# Values marked "knob" are config fields whose paper setting is NOT confirmed
# (paper Tables 13-15 could not be checked); the defaults are BEiT's recipe
# and ELECTRA's loss weight (docs/cim.md, "Knobs").
#
# Frozen DALL-E dVAE: local weights converted once with
#   python tools/model_converters/dalle_to_mmconmim.py encoder.pkl data/dalle/encoder.pth
#   python tools/model_converters/dalle_to_mmconmim.py decoder.pkl data/dalle/decoder.pth
# (nothing is downloaded at run time; see docs/cim.md).
embed_dims = 768
model = dict(
    type='CIM',
    objective='respix',  # 'respix' | 'revdet'
    # lambda in L = L_G + lambda * L_E; None = 1 (RESPIX) / 50 (REVDET,
    # ELECTRA). Knob: paper value unconfirmed.
    enhancer_loss_weight=None,
    # Generator input: view A (224 px, 16-px patches) or view B
    # ('tokenizer_view': 112 px, needs patch_size=8). Knob.
    generator_input='enhancer_view',
    # Decoded 112-px image -> 224 px for the enhancer. Knob.
    resize_mode='bilinear',
    # The enhancer: what is pre-trained and exported (prefix 'backbone.').
    # A vanilla ViT-B/16, as the paper names it (abstract: "vanilla
    # ViT-Base/16"): mmpretrain's VisionTransformer -- learned absolute
    # position embedding, CLS token, no relative position bias, no layer
    # scale. Drop path 0.1 is BEiT's recipe (knob). The BEiT-style enhancer
    # (shared relative position bias, layer scale 0.1) is the named
    # alternative: configs/_base_/models/cim_beit-base-p16.py.
    backbone=dict(
        type='VisionTransformer',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        final_norm=True,
        out_type='featmap',
        out_indices=-1,
        init_cfg=[
            dict(type='TruncNormal', std=0.02, layer='Linear'),
            dict(type='TruncNormal', std=0.02, layer='Conv2d'),
            dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
        ]),
    # Small trainable BEiT. Knobs (paper values unconfirmed): depth 4, the
    # enhancer's width, heads = width / 64, temperature 1.
    generator=dict(
        type='CIMGenerator',
        vocab_size=8192,
        temperature=1.0,
        backbone=dict(
            type='ConMIMViT',  # BEiTPretrainViT with BEiT's official init
            arch=dict(
                embed_dims=embed_dims,
                num_layers=4,
                num_heads=embed_dims // 64,
                feedforward_channels=embed_dims * 4),
            img_size=224,
            patch_size=16,
            drop_path_rate=0.,
            layer_scale_init_value=0.1,
            use_abs_pos_emb=False,
            use_rel_pos_bias=False,
            use_shared_rel_pos_bias=True,
            final_norm=True,
            out_type='raw')),
    tokenizer=dict(
        type='DALLETokenizer',
        image_size=112,
        encoder=dict(type='DALL-E'),  # mmpretrain's DALLEEncoder
        decoder=dict(type='DALLEDecoder'),
        encoder_checkpoint='data/dalle/encoder.pth',
        decoder_checkpoint='data/dalle/decoder.pth'),
    # RESPIX: per-patch Linear to 16 x 16 x 3 pixels, un-patchified.
    # Window 8 (asymmetric padding), eps 1e-6, L2: knobs.
    respix_head=dict(
        type='CIMResPixHead',
        in_channels=embed_dims,
        upscale=16,
        loss=dict(
            type='CIMResPixLoss', window_size=8, eps=1e-6, loss_type='l2')),
    # REVDET: one logit per patch = per visual token.
    revdet_head=dict(
        type='CIMRevDetHead',
        in_channels=embed_dims,
        loss=dict(type='CIMRevDetLoss')))
