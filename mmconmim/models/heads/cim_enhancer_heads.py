"""Enhancer heads of CIM (RESPIX and REVDET) for ViT and CNN enhancers.

Fang et al., "Corrupted Image Modeling for Self-Supervised Visual
Pre-Training", ICLR 2023, Sec. 2.2. Both heads read one feature map
(B, C, h, w) of the enhancer -- a ViT's patch tokens (``out_type='featmap'``)
or a CNN stage -- and are 1x1 convolutions, i.e. the same linear layer at
every location:

* REVDET: one logit per visual token. A ViT-B/16 map at 224 px is already the
  14x14 token grid; a ResNet-50 C5 map (7x7) must be upsampled x2 (or use
  C4). The paper's exact CNN head is not confirmed. Interpolating C5 (or the
  logits: a 1x1 conv commutes with it) leaves only 7x7 degrees of freedom
  for 14x14 labels, so a 2x2 block of tokens of which one was replaced
  cannot be told apart; the ``'pixel_shuffle'`` mode predicts the 2x2
  logits of each C5 location instead (1x1 conv to 4 channels +
  PixelShuffle(2), the REVDET twin of the RESPIX head) and is the ResNet
  default.
* RESPIX: ``upscale^2 * 3`` outputs per location, rearranged by
  ``PixelShuffle(upscale)`` into the full-resolution image -- per patch this
  is BEiT/MAE's linear "un-patchify" (upscale 16 for ViT-B/16, 32 for C5 of
  ResNet-50, the shape of A2MIM's decoder).
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from mmconmim.registry import MODELS
from mmconmim.utils.validation import check_choice, check_int


class _FeatureMapHead(BaseModule):

    def __init__(self, in_index: int, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_index = in_index

    def _select(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        x = feats[self.in_index]
        if x.dim() != 4:
            raise ValueError(
                f'{type(self).__name__}: expects a (B, C, h, w) feature map; '
                f'got {tuple(x.shape)} (use out_type="featmap" for ViTs)')
        return x


@MODELS.register_module()
class CIMRevDetHead(_FeatureMapHead):
    """Replaced-token detection logits on the token grid.

    Args:
        in_channels (int): Channels of the selected feature map.
        upsample_factor (int): Upsampling of the map to reach the token grid
            (2 for ResNet-50 C5 at 224 px). Defaults to 1.
        upsample_mode (str): ``'pixel_shuffle'`` (learned: factor^2 logits
            per location), or an ``F.interpolate`` mode applied to the
            features (``'nearest'``, ``'bilinear'``, ``'bicubic'``).
            Defaults to 'pixel_shuffle'.
        in_index (int): Which backbone output to use. Defaults to -1.
        loss (dict): Defaults to ``dict(type='CIMRevDetLoss')``.
    """

    def __init__(self,
                 in_channels: int,
                 upsample_factor: int = 1,
                 upsample_mode: str = 'pixel_shuffle',
                 in_index: int = -1,
                 loss: dict = dict(type='CIMRevDetLoss'),
                 init_cfg=None) -> None:
        super().__init__(in_index, init_cfg)
        owner = type(self).__name__
        check_int(owner, 'in_channels', in_channels, min=1)
        self.upsample_factor = check_int(owner, 'upsample_factor',
                                         upsample_factor, min=1)
        self.upsample_mode = check_choice(
            owner, 'upsample_mode', upsample_mode,
            ('pixel_shuffle', 'nearest', 'bilinear', 'bicubic'))
        shuffle = upsample_mode == 'pixel_shuffle'
        self.conv = nn.Conv2d(
            in_channels, self.upsample_factor**2 if shuffle else 1, 1)
        self.shuffle = nn.PixelShuffle(self.upsample_factor) \
            if shuffle else nn.Identity()
        self.loss_module = MODELS.build(loss)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """(B, h, w) logits."""
        x = self._select(feats)
        if self.upsample_factor > 1 and self.upsample_mode != 'pixel_shuffle':
            kwargs = {} if self.upsample_mode == 'nearest' else dict(
                align_corners=False)
            x = F.interpolate(
                x, scale_factor=self.upsample_factor, mode=self.upsample_mode,
                **kwargs)
        return self.shuffle(self.conv(x)).squeeze(1)

    def loss(self, feats: Sequence[torch.Tensor],
             labels: torch.Tensor) -> torch.Tensor:
        logits = self(feats)
        if logits.shape != labels.shape:
            raise ValueError(
                f'CIMRevDetHead: the enhancer gives a '
                f'{tuple(logits.shape[-2:])} grid but the token grid is '
                f'{tuple(labels.shape[-2:])}; adjust upsample_factor / '
                'in_index or the enhancer patch size')
        return self.loss_module(logits, labels)


@MODELS.register_module()
class CIMResPixHead(_FeatureMapHead):
    """Full-resolution pixel prediction from one feature map.

    Args:
        in_channels (int): Channels of the selected feature map.
        upscale (int): Pixels per feature location side (the map's stride:
            16 for ViT-B/16, 32 for ResNet-50 C5).
        out_channels (int): Image channels. Defaults to 3.
        in_index (int): Which backbone output to use. Defaults to -1.
        loss (dict): Defaults to ``dict(type='CIMResPixLoss')``.
    """

    def __init__(self,
                 in_channels: int,
                 upscale: int,
                 out_channels: int = 3,
                 in_index: int = -1,
                 loss: dict = dict(type='CIMResPixLoss'),
                 init_cfg=None) -> None:
        super().__init__(in_index, init_cfg)
        owner = type(self).__name__
        check_int(owner, 'in_channels', in_channels, min=1)
        self.upscale = check_int(owner, 'upscale', upscale, min=1)
        check_int(owner, 'out_channels', out_channels, min=1)
        self.conv = nn.Conv2d(in_channels, out_channels * upscale**2, 1)
        self.shuffle = nn.PixelShuffle(upscale)
        self.loss_module = MODELS.build(loss)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """(B, out_channels, h * upscale, w * upscale) prediction."""
        return self.shuffle(self.conv(self._select(feats)))

    def loss(self, feats: Sequence[torch.Tensor], img: torch.Tensor,
             corrupted: Optional[torch.Tensor] = None) -> torch.Tensor:
        """RESPIX loss against the original ``img`` (``corrupted``, the
        enhancer input, for the loss's ``target='residual'``)."""
        pred = self(feats)
        if pred.shape != img.shape:
            raise ValueError(
                f'CIMResPixHead: prediction {tuple(pred.shape[-2:])} px but '
                f'the original view is {tuple(img.shape[-2:])} px; upscale '
                'must equal the stride of the selected feature map')
        return self.loss_module(pred, img, corrupted)
