# A2MIM model for ViT-B/16 (Li et al., ICML 2023; reference: openmixup
# SimMIMViT, "l0_res_fft01"): BEiT-style ViT with absolute position embedding
# AND a per-layer relative position bias, layer scale 0.1, drop path 0.1,
# final norm; the last layer's patch tokens form a 14x14 map.
# Mask token added right after the patch embedding (mask_layer=0, before the
# CLS token and the position embedding), no gamma.
# Decoder 768 -> 16^2 * 3 channels + PixelShuffle(16).
# Loss: L1 on masked pixels + 0.1 * focal frequency loss (w_u = 0).
# Attention biases: learnable q and v biases, k bias fixed at 0 -- both in
# the reference (openmixup MultiheadAttentionWithRPE) and in mmpretrain's
# BEiTViT -- so the weights load into the BEiTViT of the fine-tuning and
# segmentation configs. Relative position tables start at zero, the decoder
# conv at trunc-normal(0.02) with zero bias, as in the reference.
model = dict(
    type='A2MIM',
    backbone=dict(
        type='A2MIMViT',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        layer_scale_init_value=0.1,
        use_abs_pos_emb=True,
        use_rel_pos_bias=True,
        use_shared_rel_pos_bias=False,
        final_norm=True,
        out_type='featmap',
        out_indices=-1,
        mask_layer=0,
        mask_gamma_init=None),
    neck=dict(type='A2MIMLinearDecoder', in_channels=768, encoder_stride=16),
    head=dict(
        type='A2MIMHead',
        loss=dict(type='MaskedPixelLoss', criterion='L1'),
        fourier_loss=dict(
            type='FocalFrequencyLoss', unmask_weight=0., loss_weight=0.1)))
