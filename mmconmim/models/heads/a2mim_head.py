"""A2MIM's reconstruction head: spatial loss + lambda * Fourier loss.

Li et al., "Architecture-Agnostic Masked Image Modeling -- From ViT back to
CNN", ICML 2023 (arXiv:2205.13943): L = L_spa + lambda * L_freq, with L_spa
the (focal-)L1 over masked pixels (:class:`MaskedPixelLoss`) and L_freq the
focal frequency loss (:class:`FocalFrequencyLoss`, which holds lambda as its
``loss_weight``).

Also the decoder that feeds it, :class:`A2MIMLinearDecoder`: SimMIM's 1x1
conv + PixelShuffle initialised as the reference's ``NonLinearMIMNeck``.
"""
from typing import Dict, Optional

import torch
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.necks import SimMIMLinearDecoder
from torch import nn

from mmconmim.registry import MODELS
from mmconmim.utils.validation import check_positive


@MODELS.register_module()
class A2MIMLinearDecoder(SimMIMLinearDecoder):
    """mmpretrain's ``SimMIMLinearDecoder`` (Conv2d 1x1 to
    ``encoder_stride**2 * 3`` channels + PixelShuffle, same state-dict keys)
    with the reference initialisation: conv weight trunc-normal(std 0.02,
    truncated at +-2 as mmcv's ``trunc_normal_init``), bias 0 -- instead of
    PyTorch's default conv init.

    Args:
        in_channels (int): Channels of the backbone's last feature map.
        encoder_stride (int): Output stride of the backbone.
        init_std (float): Std of the truncated normal. Defaults to 0.02.
    """

    def __init__(self, in_channels: int, encoder_stride: int,
                 init_std: float = 0.02) -> None:
        super().__init__(in_channels=in_channels,
                         encoder_stride=encoder_stride)
        check_positive('A2MIMLinearDecoder', 'init_std', init_std,
                       bool_ok=True)
        self.init_std = init_std

    def init_weights(self) -> None:
        super().init_weights()
        if (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            return
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                trunc_normal_(module.weight, std=self.init_std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)


@MODELS.register_module()
class A2MIMHead(BaseModule):
    """Computes A2MIM's two loss terms on the decoder output.

    Args:
        loss (dict): Spatial loss, e.g. ``MaskedPixelLoss``.
        fourier_loss (dict, optional): Fourier loss, e.g.
            ``FocalFrequencyLoss``; None when lambda is 0 (the ConvNeXt and
            deep ResNet recipes). Defaults to None.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, loss: dict, fourier_loss: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.spatial_loss = MODELS.build(loss)
        self.fourier_loss = MODELS.build(fourier_loss) \
            if fourier_loss is not None else None

    def loss(self, pred: torch.Tensor, target: torch.Tensor,
             mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            pred (Tensor): (B, C, H, W) reconstruction.
            target (Tensor): (B, C, H, W) unmasked target.
            mask (Tensor): (B, H, W) pixel mask, 1 = masked.

        Returns:
            dict: ``loss_spatial`` and, with a Fourier loss,
            ``loss_fourier`` (already multiplied by lambda); the runner sums
            them.
        """
        losses = dict(loss_spatial=self.spatial_loss(pred, target, mask))
        if self.fourier_loss is not None:
            losses['loss_fourier'] = self.fourier_loss(pred, target, mask)
        return losses
