"""A2MIM's reconstruction head: spatial loss + lambda * Fourier loss.

Li et al., "Architecture-Agnostic Masked Image Modeling -- From ViT back to
CNN", ICML 2023 (arXiv:2205.13943): L = L_spa + lambda * L_freq, with L_spa
the (focal-)L1 over masked pixels (:class:`MaskedPixelLoss`) and L_freq the
focal frequency loss (:class:`FocalFrequencyLoss`, which holds lambda as its
``loss_weight``).
"""
from typing import Dict, Optional

import torch
from mmengine.model import BaseModule

from mmconmim.registry import MODELS


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
