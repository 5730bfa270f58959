"""SimMIM's ViT: masked patch tokens replaced by a learnable mask token.

Xie et al., "SimMIM: A Simple Framework for Masked Image Modeling", CVPR 2022
(arXiv:2111.09886), Sec. 3: the encoder sees every patch, masked ones as the
mask token; a linear decoder regresses the raw pixels of the masked patches
from the last layer's patch tokens laid out as a (B, C, h, w) map.
mmpretrain 1.2.0 ships SimMIM (algorithm, ``SimMIMLinearDecoder``,
``SimMIMHead``) with a Swin backbone only; this is the ViT, built on its
``BEiTPretrainViT`` (whose masked forward is exactly SimMIM's replacement
``x * (1 - w) + mask_token * w``), with the patch tokens returned as a map.
"""
from typing import Optional, Tuple

import torch
from mmpretrain.models.selfsup import BEiTPretrainViT

from mmconmim.registry import MODELS


@MODELS.register_module()
class SimMIMViT(BEiTPretrainViT):
    """``BEiTPretrainViT`` whose masked forward returns (B, C, h, w) maps of
    the patch tokens (extra tokens dropped), as SimMIM's decoder reads them.
    Without a mask it is the plain ViT (``out_type`` applies; the default
    here is ``'featmap'``, so features look the same in both modes)."""

    def __init__(self, *args, out_type: str = 'featmap', **kwargs) -> None:
        super().__init__(*args, out_type=out_type, **kwargs)

    def forward(self, x: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor]:
        if mask is None:
            return super().forward(x, None)
        height = x.shape[-2] // self.patch_embed.projection.stride[0]
        width = x.shape[-1] // self.patch_embed.projection.stride[1]
        outs = super().forward(x, mask)
        return tuple(
            out[:, self.num_extra_tokens:].transpose(1, 2).reshape(
                out.shape[0], out.shape[-1], height, width) for out in outs)
