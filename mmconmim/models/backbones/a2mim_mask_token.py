"""A2MIM's residual mask token, shared by the ResNet, ConvNeXt and ViT
backbones.

Li et al., "Architecture-Agnostic Masked Image Modeling -- From ViT back to
CNN", ICML 2023 (arXiv:2205.13943), Sec. 3: the masked pixels of the input are
filled with the image mean, and a learnable mask token is *added* (not
substituted) to the feature map of an intermediate stage at the masked
positions. With ``m`` the mask (1 = masked) at the injection stage, ``t`` the
token and ``gamma`` an optional learnable per-channel scale (CNN recipes,
initialised to 1e-6):

    x <- x * (1 - m) + gamma * x * m      (only when gamma is used)
    x <- x + m * t

so at initialisation the masked features of a CNN are almost replaced by
``t``, and gamma learns how much of the mean-filled feature to let through.
The ViT recipes use the plain additive form.

``mask_token_mode='replace'`` is the paper's token ablation (SimMIM's rule,
the reference's ``replace=True``): the masked features are substituted,

    x <- x * (1 - m) + m * t

so nothing of the mean-filled input survives at masked positions (no gamma).

The token and gamma are plain attributes of the backbone (``mask_token``,
``mask_gamma``); everything else keeps the parent's state-dict keys, so the
weights load into the unmodified mmpretrain/mmdet/mmseg backbones (the two
extra keys are reported as unexpected and ignored).
"""
from typing import Optional, Sequence, Tuple

import torch
from mmengine.model.weight_init import trunc_normal_
from torch import nn

from mmconmim.utils.validation import check_choice, check_int, check_number


def check_mask_layer(owner: str, mask_layer, valid: Sequence[int],
                     last_used: int, meaning: str) -> int:
    """Validate a ``mask_layer`` config value.

    Args:
        owner: class name for the error message.
        mask_layer: the value from the config.
        valid: allowed values.
        last_used: the largest ``mask_layer`` whose token still reaches an
            output (``out_indices``); a later token would never be used.
        meaning: what ``mask_layer`` selects, for the error message.
    """
    check_int(owner, 'mask_layer', mask_layer, type_error=TypeError)
    if mask_layer not in valid:
        raise ValueError(
            f'{owner}: mask_layer={mask_layer} is out of range; it selects '
            f'{meaning} and must be one of {list(valid)}')
    if mask_layer > last_used:
        raise ValueError(
            f'{owner}: mask_layer={mask_layer} injects the mask token after '
            f'the last output stage (out_indices); the token would never be '
            f'used. Use mask_layer <= {last_used}.')
    return int(mask_layer)


MASK_TOKEN_MODES = ('add', 'replace')


class ResidualMaskTokenMixin:
    """Adds ``mask_token`` (and optionally ``mask_gamma``) to a backbone.

    Subclasses call :meth:`_init_mask_token` after building the parent and
    :meth:`add_mask_token` at the injection point. They also set
    ``self.mask_layer``, ``self.mask_stride`` (the stride of the injection
    stage in input pixels) and ``self.out_stride`` (the stride of the last
    output, ``max(out_indices)``).
    """

    mask_layer: int
    mask_stride: int
    out_stride: int

    def _init_mask_token(self, channels: int, channels_last: bool,
                         gamma_init: Optional[float],
                         mode: str = 'add') -> None:
        owner = type(self).__name__
        self.mask_token_mode = check_choice(owner, 'mask_token_mode', mode,
                                            MASK_TOKEN_MODES)
        if mode == 'replace' and gamma_init is not None:
            raise ValueError(
                f"{owner}: mask_token_mode='replace' substitutes the masked "
                f'features, so mask_gamma (mask_gamma_init={gamma_init}) '
                f'would never be used; set mask_gamma_init=None')
        shape = (1, 1, channels) if channels_last else (1, channels, 1, 1)
        self.mask_token = nn.Parameter(torch.zeros(shape))
        trunc_normal_(self.mask_token, mean=0., std=.02)
        if gamma_init is None:
            self.mask_gamma = None
        else:
            check_number(owner, 'mask_gamma_init', gamma_init, low=0,
                         noun='None (no gamma) or a number')
            self.mask_gamma = nn.Parameter(
                torch.full(shape, float(gamma_init)))
        self._channels_last = channels_last

    def train(self, mode: bool = True):
        # mmpretrain's ResNet.train / ConvNeXt.train return None, which
        # breaks ``backbone.eval()`` chains; nn.Module returns self.
        super().train(mode)
        return self

    def _check_mask_grid(self, mask: torch.Tensor,
                         feat_hw: Tuple[int, int]) -> None:
        expected = (mask.shape[0], *feat_hw) if mask.dim() == 3 else None
        if mask.dim() != 3 or tuple(mask.shape) != expected:
            raise ValueError(
                f'{type(self).__name__}: the mask has shape '
                f'{tuple(mask.shape)} but the feature map at mask_layer='
                f'{self.mask_layer} is {tuple(feat_hw)} (stride '
                f'{self.mask_stride} px); the mask must be (B, H / '
                f'{self.mask_stride}, W / {self.mask_stride}), i.e. one entry '
                f'per {self.mask_stride}-px cell of the input')

    def add_mask_token(self, x: torch.Tensor, mask: torch.Tensor,
                       feat_hw: Optional[Tuple[int, int]] = None
                       ) -> torch.Tensor:
        """Token injection: residual (``mask_token_mode='add'``) or
        substitution (``'replace'``).

        Args:
            x: (B, C, H, W) feature map, or (B, H * W, C) patch tokens
                (then ``feat_hw`` gives the token grid).
            mask: (B, H, W), 1 = masked.

        Returns:
            Tensor of the shape of ``x``.
        """
        if self._channels_last:
            self._check_mask_grid(mask, feat_hw)
            m = mask.flatten(1).unsqueeze(-1).to(x.dtype)  # (B, L, 1)
        else:
            self._check_mask_grid(mask, x.shape[-2:])
            m = mask.unsqueeze(1).to(x.dtype)  # (B, 1, H, W)
        if self.mask_token_mode == 'replace':
            return x * (1. - m) + m * self.mask_token
        if self.mask_gamma is not None:
            x = x * (1. - m) + self.mask_gamma * x * m
        return x + m * self.mask_token
