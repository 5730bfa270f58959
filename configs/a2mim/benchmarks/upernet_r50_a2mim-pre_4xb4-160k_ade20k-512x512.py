# ADE20K UperNet R50 (160k iterations, 512x512) from an A2MIM ResNet-50
# checkpoint. mmseg's upernet_r50 uses ResNetV1c (deep 3x3 stem), which does
# not match A2MIM's torchvision-style 7x7 stem, so the backbone is mmseg's
# plain ResNet here (same keys as mmpretrain's ResNet).
# The checkpoint loads with prefix 'backbone.'; mask_token/mask_gamma are
# ignored as unexpected keys:
#   python tools/train.py THIS_CONFIG --cfg-options \
#       model.backbone.init_cfg.checkpoint=work_dirs/.../epoch_300.pth
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'

# mmconmim makes mmengine load runner checkpoints under torch >= 2.6.
custom_imports = dict(imports=['mmconmim'], allow_failed_imports=False)
# fail when a checkpoint loads < 50% of its target (docs/transfer.md)
runner_type = 'mmconmim.MMConMIMRunner'

pretrained = 'work_dirs/a2mim_resnet50_8xb256-coslr-300e_in1k/epoch_300.pth'
model = dict(
    pretrained=None,
    backbone=dict(
        type='ResNet',
        deep_stem=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
