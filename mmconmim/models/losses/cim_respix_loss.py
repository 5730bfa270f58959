"""RESPIX loss of CIM: regress all original pixels, normalised in a sliding
window.

Fang et al., "Corrupted Image Modeling for Self-Supervised Visual
Pre-Training", ICLR 2023, Sec. 2.2 (RESPIX). The enhancer sees the corrupted
image and predicts *every* pixel of the original view. The target is the
original image normalised per channel over a k x k window centred at each
pixel (stride 1, same size), which -- unlike MAE's per-patch normalisation --
assumes no patch grid, so it serves ViTs and CNNs alike:

    t_c(p) = (x_c(p) - mu_k,c(p)) / sqrt(var_k,c(p) + eps)

with ``mu`` and ``var`` the mean and (population) variance of ``x_c`` over
the window ``W_k(p)`` clipped to the image (border windows average over the
pixels inside the image only). For even ``k`` the window reaches ``(k-1)//2``
pixels before and ``k//2`` after ``p`` (asymmetric padding keeps the size).
The loss is the mean squared (or absolute) error over all pixels and
channels. The paper's window size, eps and loss type are not confirmed: they
are knobs (defaults k=8, eps=1e-6, L2).

"Pixel Residual learning" may also be read literally: the enhancer predicts
the residual that turns its (corrupted) input back into the original,

    t_c(p) = x_c(p) - x~_c(p)

with x~ the corrupted image, both in the enhancer's normalisation (so
prediction + input = original). ``target='residual'`` selects it; which of
the two the paper trains is not confirmed (knob, default
``'normalized'``).
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from mmconmim.registry import MODELS
from mmconmim.utils.validation import (check_choice, check_int,
                                       check_positive)


def _window_sum(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """Sum over the k x k window at each pixel (zero padding, same size)."""
    before = (window_size - 1) // 2
    after = window_size - 1 - before
    padded = F.pad(x, (before, after, before, after))
    return F.avg_pool2d(padded, window_size, stride=1) * window_size**2


def sliding_window_normalize(x: torch.Tensor,
                             window_size: int,
                             eps: float = 1e-6) -> torch.Tensor:
    """Normalise (B, C, H, W) per channel by the mean/variance of the k x k
    window around each pixel; computed in fp32."""
    if x.dim() != 4:
        raise ValueError(f'expected (B, C, H, W), got {tuple(x.shape)}')
    with torch.autocast(device_type=x.device.type, enabled=False):
        x = x.float()
        H, W = x.shape[-2:]
        count = _window_sum(x.new_ones(1, 1, H, W), window_size)
        mean = _window_sum(x, window_size) / count
        mean_sq = _window_sum(x * x, window_size) / count
        # E[x^2] - E[x]^2 can dip below 0 by rounding in flat windows.
        var = (mean_sq - mean * mean).clamp(min=0)
        return (x - mean) / torch.sqrt(var + eps)


@MODELS.register_module()
class CIMResPixLoss(nn.Module):
    """Pixel regression against the sliding-window normalised original.

    Args:
        window_size (int): ``k`` (>= 2). Defaults to 8 (knob; the paper's
            value is not confirmed).
        eps (float): Variance floor (> 0). Defaults to 1e-6.
        loss_type (str): ``'l2'`` (mean squared error) or ``'l1'``.
            Defaults to ``'l2'`` (knob).
        loss_weight (float): Defaults to 1.0.
        target (str): ``'normalized'`` (the sliding-window normalised
            original) or ``'residual'`` (original minus the corrupted
            input). Defaults to 'normalized' (knob).
    """

    TARGETS = ('normalized', 'residual')

    def __init__(self,
                 window_size: int = 8,
                 eps: float = 1e-6,
                 loss_type: str = 'l2',
                 loss_weight: float = 1.0,
                 target: str = 'normalized') -> None:
        super().__init__()
        window_size = check_int('CIMResPixLoss', 'window_size', window_size,
                                min=2)
        check_positive('CIMResPixLoss', 'eps', eps, bool_ok=True)
        check_choice('CIMResPixLoss', 'loss_type', loss_type, ('l2', 'l1'))
        check_choice('CIMResPixLoss', 'target', target, self.TARGETS)
        self.window_size = window_size
        self.eps = eps
        self.loss_type = loss_type
        self.loss_weight = loss_weight
        self.target_mode = target

    def target(self, img: torch.Tensor,
               corrupted: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The regression target of the original ``img`` (and, for
        ``target='residual'``, the ``corrupted`` enhancer input)."""
        if self.target_mode == 'normalized':
            return sliding_window_normalize(img.detach(), self.window_size,
                                            self.eps)
        if corrupted is None or corrupted.shape != img.shape:
            raise ValueError(
                "CIMResPixLoss(target='residual') needs the corrupted image "
                'of the shape of the original '
                f'{tuple(img.shape)}, got '
                f'{None if corrupted is None else tuple(corrupted.shape)}')
        with torch.autocast(device_type=img.device.type, enabled=False):
            return (img.detach().float() - corrupted.detach().float())

    def forward(self, pred: torch.Tensor, img: torch.Tensor,
                corrupted: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Args:
            pred (Tensor): (B, C, H, W) prediction.
            img (Tensor): (B, C, H, W) original image (no gradient).
            corrupted (Tensor, optional): (B, C, H, W) enhancer input; only
                ``target='residual'`` reads it.
        """
        if pred.shape != img.shape:
            raise ValueError(
                f'CIMResPixLoss: prediction {tuple(pred.shape)} and image '
                f'{tuple(img.shape)} differ in shape')
        target = self.target(img, corrupted)
        with torch.autocast(device_type=pred.device.type, enabled=False):
            if self.loss_type == 'l2':
                loss = F.mse_loss(pred.float(), target)
            else:
                loss = F.l1_loss(pred.float(), target)
        return self.loss_weight * loss
