# ADE20K UperNet on a CIM-pre-trained BEiT-style ViT-B/16 enhancer
# (cim-*_beit-base-p16_*): the shared ViT-B/16 ADE20K recipe (BEiTViT, layer
# decay 0.65, 160k iterations) with the CIM enhancer weights. The paper's
# ADE20K number is not confirmed; not measured here. The vanilla enhancer
# of the paper: upernet_vit-base-p16_cim-pre_8xb2-160k_ade20k-512x512.py.
#   python tools/model_converters/export_backbone.py \
#       work_dirs/cim-revdet_beit-base-p16_8xb256-amp-coslr-300e_in1k/epoch_300.pth \
#       data/cim/cim_beit-base-p16_enhancer.pth
# The export keeps only `backbone.*` (the enhancer); the generator, the dVAE
# and the heads are dropped.
_base_ = '../../conmim/benchmarks/' \
    'upernet_vit-base-p16_conmim-pre_8xb2-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/cim/cim_beit-base-p16_enhancer.pth',
            prefix='backbone.')))
