"""ConMIM with CNN backbones (ResNet, ConvNeXt) through A2MIM's mask token.

ConMIM (Yi et al., "Masked Image Modeling with Denoising Contrast", ICLR 2023,
arXiv:2205.09616) is defined for ViTs; A2MIM (Li et al., "Architecture-Agnostic
Masked Image Modeling -- From ViT back to CNN", ICML 2023, arXiv:2205.13943,
Sec. 3) shows how a CNN sees a masked image. This combines the two:

* student: the A2MIM backbone (``A2MIMResNet`` / ``A2MIMConvNeXt``) on the
  weak view, with the masked mask units filled by the per-image, per-channel
  mean and the residual mask token added at ``backbone.mask_layer``;
* teacher: the EMA of backbone + projector (as in :class:`ConMIM`) on the
  strong full view;
* patch embeddings: the last stage's feature map (stride ``s``, 32 for
  ResNet-50 / ConvNeXt), one position per ``s``-px mask unit (7 x 7 at
  224 px), flattened row-major to (B, h * w, C) and projected per position by
  the token-wise projector;
* loss: ConMIM's Eq. 3 (:class:`DenoisingContrastLoss`) over the masked
  positions, unchanged.

The mask comes from the pipeline at mask-unit resolution (``UnitMaskGenerator``
with ``mask_patch_size = model_patch_size = mask_unit``); it is expanded to the
injection stage (stride ``backbone.mask_stride``) and to pixels with A2MIM's
rule. The mask unit must equal the output stride (one embedding per unit).
"""
from typing import Optional

import torch
from mmpretrain.models.backbones import ConvNeXt, ResNet
from torch import nn

from mmconmim.registry import MODELS
from mmconmim.utils.validation import check_int
from .a2mim import expand_mask, mean_fill
from .conmim import ConMIM


@MODELS.register_module()
class ConMIMCNN(ConMIM):
    """ConMIM pre-training for CNN backbones with A2MIM's mask token.

    Args:
        backbone (dict): ``A2MIMResNet`` or ``A2MIMConvNeXt`` (spatial last
            output: ConvNeXt needs ``gap_before_final_norm=False``).
        neck (dict): Token-wise projector with ``in_channels`` = the last
            stage's channels (2048 for ResNet-50, 768 for ConvNeXt-T).
        head (dict): ``MIMHead`` with ``DenoisingContrastLoss``.
        mask_unit (int): Side of a mask unit in pixels; must equal the
            backbone's output stride and be a multiple of its injection
            stride ``backbone.mask_stride``. Defaults to 32.
        **kwargs: Arguments of :class:`ConMIM` (momentum, end_momentum, ...).

    The pipeline packs ``[student_view, teacher_view]`` and a ``mask`` of
    shape (H / mask_unit, W / mask_unit), True = masked.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict,
                 mask_unit: int = 32, **kwargs) -> None:
        self.mask_unit = check_int('ConMIMCNN', 'mask_unit', mask_unit, min=1,
                                   fix='in pixels')
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)

    def _check_backbone_geometry(self) -> None:
        if not (isinstance(self.backbone, (ResNet, ConvNeXt))
                and hasattr(self.backbone, 'add_mask_token')):
            raise TypeError(
                f'ConMIMCNN needs a CNN backbone that injects the A2MIM '
                f'mask token (A2MIMResNet, A2MIMConvNeXt), got '
                f'{type(self.backbone).__name__}; ViTs use ConMIM')
        self._check_stride(self.backbone.out_stride)
        if self.mask_unit % self.backbone.mask_stride:
            raise ValueError(
                f'ConMIMCNN: the mask unit is {self.mask_unit} px but the '
                f'mask token is injected at stride '
                f'{self.backbone.mask_stride} px (backbone mask_layer='
                f'{self.backbone.mask_layer}); the mask unit must be a '
                f'multiple of it: choose a mask_layer whose stride divides '
                f'{self.mask_unit}')

    def _check_stride(self, stride: int) -> None:
        if stride != self.mask_unit:
            raise ValueError(
                f'ConMIMCNN: the backbone output stride is {stride} px but '
                f'the mask unit is {self.mask_unit} px; ConMIM needs one '
                f'patch embedding per mask unit. Set model.mask_unit={stride} '
                f'and the mask generator mask_patch_size=model_patch_size='
                f'{stride}, or change the backbone strides so that its last '
                f'stage has stride {self.mask_unit}')

    def patch_embeddings(self, backbone: nn.Module, projector: nn.Module,
                         img: torch.Tensor,
                         mask: Optional[torch.Tensor]) -> torch.Tensor:
        """Mean-fill + mask token (student) -> last feature map -> tokens in
        row-major order -> projector per position: (B, h * w, C')."""
        if mask is None:
            feats = backbone(img)[-1]
        else:
            token_mask, pixel_mask = expand_mask(
                mask, img.shape[-2:], backbone.mask_stride, 'ConMIMCNN')
            feats = backbone(mean_fill(img, pixel_mask), token_mask)[-1]
        if feats.dim() != 4:
            raise ValueError(
                f'ConMIMCNN: the backbone returned a {feats.dim()}-D output '
                f'{tuple(feats.shape)}; it must return a feature map (for '
                f'ConvNeXt set gap_before_final_norm=False)')
        B, C, h, w = feats.shape
        H, W = img.shape[-2:]
        if (H, W) != (h * self.mask_unit, w * self.mask_unit):
            raise ValueError(
                f'ConMIMCNN: the last feature map is {h}x{w} for {H}x{W} px '
                f'views, not one position per {self.mask_unit}-px mask unit; '
                f'the backbone output stride must equal model.mask_unit')
        tokens = feats.flatten(2).transpose(1, 2).reshape(B * h * w, C)
        projected = projector((tokens, ))[0]
        return projected.view(B, h * w, -1)

    def _check_inputs(self, student_view, teacher_view, mask) -> None:
        if student_view.shape != teacher_view.shape:
            raise ValueError(
                f'ConMIMCNN: the student view {tuple(student_view.shape)} and '
                f'the teacher view {tuple(teacher_view.shape)} differ; both '
                'come from the same crop')
        H, W = student_view.shape[-2:]
        unit = self.mask_unit
        if H % unit or W % unit:
            raise ValueError(
                f'ConMIMCNN: the views are {H}x{W} px, not a multiple of the '
                f'{unit}-px mask unit; use a crop size divisible by {unit}')
        if tuple(mask.shape[-2:]) != (H // unit, W // unit):
            raise ValueError(
                f'ConMIMCNN: the mask grid is {tuple(mask.shape[-2:])} but '
                f'{H}x{W} px views have {(H // unit, W // unit)} units of '
                f'{unit} px; set the mask generator input_size={H}, '
                f'mask_patch_size=model_patch_size={unit}')
