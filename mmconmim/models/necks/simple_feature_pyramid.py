"""Simple feature pyramid for plain (single-scale) ViT backbones.

Li et al., "Exploring Plain Vision Transformer Backbones for Object
Detection" (ViTDet, ECCV 2022), Sec. 3: from the last stride-16 feature map
alone, build stride 4/8/16/32 maps with deconvolutions (x4, x2), identity and
max-pooling (x0.5); project each to ``out_channels`` with a 1x1 and a 3x3
convolution (each followed by a norm), and add further levels by stride-2
subsampling of the coarsest one (P6 for the RPN). No top-down pathway.

The pyramid is designed for 16-px patches. For another patch size P the same
scale factors give other strides (P/4 ... P/0.5), which no longer match the
RPN anchor strides and RoI extractor strides of mmdet's configs (4-64); the
neck therefore takes the backbone's ``patch_size``, reports its
``out_strides`` and warns when P is not 16 (16/P times ViTDet's factors, e.g.
(2, 1, 0.5, 0.25) for P = 8, keep the strides).

mmdet 3.3.0 has no such neck (ViTDet lives in the git repository's
``projects/`` only), so mmconmim registers it; mmdet configs use it as
``type='mmconmim.SimpleFeaturePyramid'``.
"""
import warnings
from typing import Sequence, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.models.utils import LayerNorm2d
from torch import nn

from mmconmim.registry import MODELS


def _norm(norm_cfg: dict, channels: int) -> nn.Module:
    # 'LN2d' is built directly: mmpretrain registers it, but mmdet's scope
    # (where this neck is built) does not see mmpretrain's registry.
    if norm_cfg['type'] == 'LN2d':
        return LayerNorm2d(channels, eps=norm_cfg.get('eps', 1e-6))
    return build_norm_layer(norm_cfg, channels)[1]


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """ViTDet's simple feature pyramid.

    Args:
        in_channels (int): Channels of the backbone's (last) feature map.
        out_channels (int): Channels of every output level. Defaults to 256.
        scale_factors (Sequence[float]): Resampling of the input map, one
            output level each, from fine to coarse. Supported: 4, 2, 1, 0.5,
            0.25. Defaults to (4, 2, 1, 0.5): strides 4, 8, 16, 32 for a
            stride-16 ViT.
        num_outs (int): Number of outputs; levels beyond
            ``len(scale_factors)`` are stride-2 max-pools of the last one.
            Defaults to 5.
        norm_cfg (dict): Norm after each convolution. Defaults to ``LN2d``.
        patch_size (int): The backbone's patch size (the stride of its
            feature map), used for ``out_strides`` and the warning above.
            Defaults to 16.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 256,
                 scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
                 num_outs: int = 5,
                 norm_cfg: dict = dict(type='LN2d'),
                 patch_size: int = 16,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_outs < len(scale_factors):
            raise ValueError(
                f'SimpleFeaturePyramid: num_outs={num_outs} is smaller than '
                f'the {len(scale_factors)} scale_factors')
        self.num_outs = num_outs
        self.patch_size = patch_size
        strides = [patch_size / scale for scale in scale_factors]
        while len(strides) < num_outs:
            strides.append(strides[-1] * 2)
        #: stride of each output level in input pixels
        self.out_strides = tuple(
            int(s) if float(s).is_integer() else s for s in strides)
        if patch_size != 16:
            warnings.warn(
                f'SimpleFeaturePyramid: patch_size={patch_size}, not the 16 '
                f"ViTDet's pyramid is designed for: scale_factors "
                f'{tuple(scale_factors)} give output strides '
                f'{self.out_strides}; the RPN anchor strides and the RoI '
                f'extractors\' featmap_strides must be these (mmdet\'s '
                f'defaults: 4, 8, 16, 32, 64). Scale factors 16/patch_size '
                f"times ViTDet's (4, 2, 1, 0.5) keep them, e.g. "
                f'(2, 1, 0.5, 0.25) for 8-px patches.')
        self.stages = nn.ModuleList()
        for scale in scale_factors:
            resample, channels = self._resample(scale, in_channels, norm_cfg)
            self.stages.append(
                nn.Sequential(
                    *resample,
                    nn.Conv2d(channels, out_channels, 1, bias=False),
                    _norm(norm_cfg, out_channels),
                    nn.Conv2d(out_channels, out_channels, 3, padding=1,
                              bias=False),
                    _norm(norm_cfg, out_channels)))

    @staticmethod
    def _resample(scale: float, channels: int, norm_cfg: dict):
        if scale == 4.0:
            return [
                nn.ConvTranspose2d(channels, channels // 2, 2, stride=2),
                _norm(norm_cfg, channels // 2),
                nn.GELU(),
                nn.ConvTranspose2d(channels // 2, channels // 4, 2, stride=2),
            ], channels // 4
        if scale == 2.0:
            return [nn.ConvTranspose2d(channels, channels // 2, 2,
                                       stride=2)], channels // 2
        if scale == 1.0:
            return [], channels
        if scale in (0.5, 0.25):
            stride = int(1 / scale)
            return [nn.MaxPool2d(stride, stride=stride)], channels
        raise ValueError(f'SimpleFeaturePyramid: unsupported scale factor '
                         f'{scale} (use 4, 2, 1, 0.5 or 0.25)')

    def forward(self, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        x = inputs[-1]
        outs = [stage(x) for stage in self.stages]
        while len(outs) < self.num_outs:
            outs.append(nn.functional.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
