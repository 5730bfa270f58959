# ADE20K UperNet on a CIM-pre-trained vanilla ViT-B/16 enhancer -- the
# paper's enhancer (cim-*_vit-base-p16_*): the BEiT-style config
# (upernet_beit-base-p16_cim-pre_8xb2-160k_ade20k-512x512.py: the shared
# ViT-B/16 ADE20K recipe, layer decay 0.65, 160k iterations) with
# mmpretrain's VisionTransformer as the backbone, its learned absolute
# position embedding resized from 14x14 to 32x32 by its load hook. The
# paper's ADE20K number is not confirmed; not measured here.
#   python tools/model_converters/export_backbone.py \
#       work_dirs/cim-revdet_vit-base-p16_8xb256-amp-coslr-300e_in1k/epoch_300.pth \
#       data/cim/cim_vit-base-p16_enhancer.pth
_base_ = './upernet_beit-base-p16_cim-pre_8xb2-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='base',
        img_size={{_base_.crop_size}},
        patch_size=16,
        out_type='featmap',
        out_indices=(3, 5, 7, 11),
        final_norm=False,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/cim/cim_vit-base-p16_enhancer.pth',
            prefix='backbone.')))

# mmseg's LayerDecayOptimizerConstructor only knows BEiT/MAE/ConvNeXt class
# names; mmpretrain's VisionTransformer gets the same decay (0.65 per layer,
# no weight decay on norms, biases, position embedding and CLS token)
# through its own get_layer_depth.
optim_wrapper = dict(
    constructor='mmconmim.BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        _delete_=True,
        layer_decay_rate=0.65,
        flat_decay_mult=0.,
        custom_keys={
            '.pos_embed': dict(decay_mult=0.),
            '.cls_token': dict(decay_mult=0.)
        }))
