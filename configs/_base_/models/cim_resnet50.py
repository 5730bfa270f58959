# CIM with a ResNet-50 enhancer (Fang et al., ICLR 2023): the same generator
# and frozen DALL-E dVAE as for ViTs; the enhancer is a plain torchvision-
# style ResNet-50 (mmpretrain `ResNet`, keys load into mmdet/mmseg `ResNet`).
#
# Knobs (the paper's CNN heads, generator size and norm layers are NOT
# confirmed): REVDET from C5 upsampled x2 to the 14 x 14 token grid by a
# 1x1 conv to 2 x 2 logits + PixelShuffle(2) (bilinear x2 + 1x1 conv is the
# `upsample_mode='bilinear'` option, but it has only 7 x 7 degrees of
# freedom for 14 x 14 labels); RESPIX from C5 by a 1x1 conv to 32 x 32 x 3 +
# PixelShuffle(32) (the shape of A2MIM's decoder); generator 4 layers x 384
# wide; per-GPU BatchNorm (use SyncBN for small per-GPU batches).
model = dict(
    type='CIM',
    objective='respix',  # 'respix' | 'revdet'
    enhancer_loss_weight=None,  # 1 (RESPIX) / 50 (REVDET); knob
    generator_input='enhancer_view',  # knob
    resize_mode='bilinear',  # knob
    backbone=dict(
        type='ResNet',
        depth=50,
        out_indices=(3, ),
        norm_cfg=dict(type='BN'),
        zero_init_residual=True),
    generator=dict(
        type='CIMGenerator',
        vocab_size=8192,
        temperature=1.0,  # knob
        backbone=dict(
            type='ConMIMViT',
            arch=dict(
                embed_dims=384,
                num_layers=4,
                num_heads=6,
                feedforward_channels=1536),
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
        encoder=dict(type='DALL-E'),
        decoder=dict(type='DALLEDecoder'),
        encoder_checkpoint='data/dalle/encoder.pth',
        decoder_checkpoint='data/dalle/decoder.pth'),
    respix_head=dict(
        type='CIMResPixHead',
        in_channels=2048,
        upscale=32,
        loss=dict(
            type='CIMResPixLoss', window_size=8, eps=1e-6, loss_type='l2')),
    revdet_head=dict(
        type='CIMRevDetHead',
        in_channels=2048,
        upsample_factor=2,
        upsample_mode='pixel_shuffle',
        loss=dict(type='CIMRevDetLoss')))
