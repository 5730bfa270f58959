"""ResNet with A2MIM's mid-stage residual mask token.

Li et al., "Architecture-Agnostic Masked Image Modeling -- From ViT back to
CNN", ICML 2023 (arXiv:2205.13943), Sec. 3 (see
:mod:`.a2mim_mask_token` for the injection rule). ``mask_layer=k`` adds the
token to the *input* of residual stage ``k`` (``layer{k+1}``), i.e. after the
stem and ``k`` stages. The A2MIM ResNet-50 recipe uses ``mask_layer=3``: the
token goes onto the stage-3 output (14 x 14 x 1024 at 224 px, stride 16),
right before ``layer4``.
"""
import math
from typing import Optional

import torch
from mmpretrain.models.backbones import ResNet
from mmpretrain.models.backbones.resnet import Bottleneck

from mmconmim.registry import MODELS
from .a2mim_mask_token import ResidualMaskTokenMixin, check_mask_layer

# mmpretrain's depths plus ResNet-200 (He et al., "Identity Mappings in Deep
# Residual Networks", 2016: bottleneck blocks 3-24-36-3), which A2MIM
# pre-trains (its reference builds on mmcls 0.x, which had it).
RESNET_ARCHS = {**ResNet.arch_settings, 200: (Bottleneck, (3, 24, 36, 3))}


@MODELS.register_module()
class DeepResNet(ResNet):
    """mmpretrain's ``ResNet`` that also accepts ``depth=200``.

    Same modules and state-dict keys as ``ResNet``; the classification and
    transfer configs of an A2MIM ResNet-200 use it where ``ResNet`` would
    refuse the depth."""
    arch_settings = RESNET_ARCHS


@MODELS.register_module()
class A2MIMResNet(ResidualMaskTokenMixin, ResNet):
    """mmpretrain ``ResNet`` with a residual mask token at ``mask_layer``.

    Args:
        depth (int): ResNet depth (18, 34, 50, 101, 152, 200).
        mask_layer (int): Residual stage whose input receives the token,
            0 (after the stem) .. ``num_stages - 1``. Defaults to 3.
        mask_gamma_init (float, optional): Initial value of the learnable
            per-channel gamma that scales the masked features; None disables
            gamma (pure additive token). Defaults to 1e-6 (A2MIM CNN recipe).
        mask_token_mode (str): ``'add'`` (A2MIM) or ``'replace'`` (the
            token ablation; needs ``mask_gamma_init=None``). Defaults to
            'add'.
        **kwargs: Arguments of mmpretrain's ``ResNet``.

    ``forward(x)`` is the plain ResNet; ``forward(x, mask)`` injects the token,
    with ``mask`` of shape (B, H / s, W / s), ``s = self.mask_stride``.
    ``stem_stride`` and ``out_stride`` are the strides in input pixels of the
    stem output and of the last output (``max(out_indices)``).
    """

    arch_settings = RESNET_ARCHS

    def __init__(self, depth: int, mask_layer: int = 3,
                 mask_gamma_init: Optional[float] = 1e-6,
                 mask_token_mode: str = 'add', **kwargs) -> None:
        super().__init__(depth=depth, **kwargs)
        self.mask_layer = check_mask_layer(
            type(self).__name__, mask_layer, range(self.num_stages),
            max(self.out_indices), 'the residual stage whose input receives '
            'the mask token')
        first_block = getattr(self, self.res_layers[self.mask_layer])[0]
        self.mask_stride = self.stem_stride * math.prod(
            self.strides[:self.mask_layer])
        self._init_mask_token(first_block.in_channels, channels_last=False,
                              gamma_init=mask_gamma_init,
                              mode=mask_token_mode)

    @property
    def stem_stride(self) -> int:
        """Stride of the stem (first conv x max-pool) in input pixels."""
        first_conv = self.stem[0].conv if self.deep_stem else self.conv1
        pool_stride = self.maxpool.stride
        if not isinstance(pool_stride, int):
            pool_stride = pool_stride[0]
        return first_conv.stride[0] * pool_stride

    @property
    def out_stride(self) -> int:
        """Stride of the last output (``max(out_indices)``) in pixels."""
        last = max(self.out_indices)
        return self.stem_stride * math.prod(self.strides[:last + 1])

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        return self.maxpool(x)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None):
        if mask is None:
            return super().forward(x)
        x = self._stem(x)
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            if i == self.mask_layer:
                x = self.add_mask_token(x, mask)
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
