"""ConvNeXt with A2MIM's mid-stage residual mask token.

Li et al., "Architecture-Agnostic Masked Image Modeling -- From ViT back to
CNN", ICML 2023 (arXiv:2205.13943), Sec. 3 (see
:mod:`.a2mim_mask_token` for the injection rule). ``mask_layer=k`` adds the
token right after ``downsample_layers[k]``, before the blocks of stage ``k``.
The A2MIM ConvNeXt recipes use ``mask_layer=3``: after the last downsample,
on the 7 x 7 x C map at 224 px (stride 32) -- not stride 16 as for ResNet.
"""
import math
from typing import Optional

import torch
from mmpretrain.models.backbones import ConvNeXt

from mmconmim.registry import MODELS
from .a2mim_mask_token import ResidualMaskTokenMixin, check_mask_layer


@MODELS.register_module()
class A2MIMConvNeXt(ResidualMaskTokenMixin, ConvNeXt):
    """mmpretrain ``ConvNeXt`` with a residual mask token at ``mask_layer``.

    Args:
        arch (str | dict): ConvNeXt architecture. Defaults to 'tiny'.
        mask_layer (int): Stage whose input (after its downsample layer)
            receives the token, 0 .. ``num_stages - 1``. Defaults to 3.
        mask_gamma_init (float, optional): Initial value of the learnable
            per-channel gamma; None disables it. Defaults to 1e-6.
        mask_token_mode (str): ``'add'`` (A2MIM) or ``'replace'`` (the
            token ablation; needs ``mask_gamma_init=None``). Defaults to
            'add'.
        **kwargs: Arguments of mmpretrain's ``ConvNeXt``.

    ``out_stride`` is the stride in input pixels of the last output
    (``max(out_indices)``).
    """

    def __init__(self, arch='tiny', mask_layer: int = 3,
                 mask_gamma_init: Optional[float] = 1e-6,
                 mask_token_mode: str = 'add', **kwargs) -> None:
        super().__init__(arch=arch, **kwargs)
        self.mask_layer = check_mask_layer(
            type(self).__name__, mask_layer, range(self.num_stages),
            max(self.out_indices), 'the stage whose input (after its '
            'downsample layer) receives the mask token')
        self.mask_stride = self._stride_after(self.mask_layer)
        self._init_mask_token(self.channels[self.mask_layer],
                              channels_last=False,
                              gamma_init=mask_gamma_init,
                              mode=mask_token_mode)

    def _stride_after(self, stage: int) -> int:
        """Stride in input pixels of the input of stage ``stage`` (after
        its downsample layer; the stages themselves keep the size)."""
        # downsample_layers[0] is the patchify stem (conv first), the others
        # are norm + strided conv.
        strides = [self.downsample_layers[0][0].stride[0]] + [
            layer[-1].stride[0] for layer in self.downsample_layers[1:]
        ]
        return math.prod(strides[:stage + 1])

    @property
    def out_stride(self) -> int:
        """Stride of the last output (``max(out_indices)``) in pixels."""
        return self._stride_after(max(self.out_indices))

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None):
        if mask is None:
            return super().forward(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = self.downsample_layers[i](x)
            if i == self.mask_layer:
                x = self.add_mask_token(x, mask)
            x = stage(x)
            if i in self.out_indices:
                norm_layer = getattr(self, f'norm{i}')
                if self.gap_before_final_norm:
                    outs.append(
                        norm_layer(x.mean([-2, -1], keepdim=True)).flatten(1))
                else:
                    outs.append(norm_layer(x))
        return tuple(outs)
