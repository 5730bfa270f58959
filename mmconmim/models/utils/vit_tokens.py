"""The step of mmpretrain's ``VisionTransformer`` / ``BEiTViT`` forward
between the patch embedding and the first block: prepend the CLS token, add
the absolute position embedding (resized to this input's patch grid), apply
the dropout after it. Backbones that re-run that forward with one change
(A2MIM's mask token after the patch embedding, Li et al. 2022; ViTDet's
window blocks, Li et al. 2022) call it instead of copying the lines."""
from typing import Tuple

import torch
from mmpretrain.models.utils import resize_pos_embed
from torch import nn


def add_cls_and_position(vit: nn.Module, x: torch.Tensor,
                         patch_resolution: Tuple[int, int]) -> torch.Tensor:
    """(B, H*W, C) patch tokens -> (B, extra + H*W, C) input of the first
    block, as mmpretrain's forward computes it."""
    if vit.cls_token is not None:
        x = torch.cat((vit.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
    if vit.pos_embed is not None:
        x = x + resize_pos_embed(
            vit.pos_embed,
            vit.patch_resolution,
            patch_resolution,
            mode=vit.interpolate_mode,
            num_extra_tokens=vit.num_extra_tokens)
    return vit.drop_after_pos(x)
