# ADE20K UperNet on a CIM-pre-trained ResNet-50 enhancer: mmseg's UperNet
# R-50 recipe (SyncBN, 160k iterations) with two changes --
# * the backbone is mmseg's plain `ResNet` (7x7 stem), the architecture of
#   the enhancer, instead of `ResNetV1c` (deep stem), whose stem keys the
#   enhancer does not have;
# * the weights are the exported enhancer instead of the ImageNet
#   `open-mmlab://resnet50_v1c` (model.pretrained is cleared).
#   python tools/model_converters/export_backbone.py \
#       work_dirs/cim-revdet_resnet50_8xb256-amp-coslr-300e_in1k/epoch_300.pth \
#       data/cim/cim_resnet50_enhancer.pth
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmconmim'], allow_failed_imports=False)
# fail when a checkpoint loads < 50% of its target (docs/transfer.md)
runner_type = 'mmconmim.MMConMIMRunner'

model = dict(
    pretrained=None,
    backbone=dict(
        type='ResNet',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/cim/cim_resnet50_enhancer.pth',
            prefix='backbone.')))
