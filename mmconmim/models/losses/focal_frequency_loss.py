"""A2MIM's Fourier-domain loss: a focal frequency loss on batch-averaged
spectra.

Li et al., "Architecture-Agnostic Masked Image Modeling -- From ViT back to
CNN", ICML 2023 (arXiv:2205.13943), L_freq, in the form of the reference
implementation (openmixup ``A2MIMHead`` + ``FocalFrequencyLoss`` of Jiang et
al., ICCV 2021, with ``ave_spectrum``, ``log_matrix``, ``batch_matrix``,
alpha = 1). With M the pixel mask (1 = masked), F the orthonormal 2-D DFT over
(H, W) per channel and sg the stop-gradient:

    M_f = M + (1 - M) * w_u
    y   = pred * M_f + (sg(pred) + target) / 2 * (1 - M_f)    ("mixed")
    P   = mean_b F(y_b),   T = mean_b F(target_b)
    D   = |P - T|^2                                            (re^2 + im^2)
    W   = sg(clamp(log(1 + |P - T|) / max_{c,u,v} log(1 + |P - T|), 0, 1)),
          NaN -> 0
    L   = lambda * mean_{c,u,v}(W * D)

Gradients reach the prediction through the masked pixels (and w_u times the
visible ones). The spectra are averaged over the batch *before* the distance:
this compares mini-batch mean spectra, not per-sample spectra. The FFT always
runs in fp32 or wider (half-precision FFTs only support power-of-two sizes).

The focal weight generalises to W = log(1 + |P - T|^alpha) / max(...) (Jiang
et al.'s alpha); ``alpha=0`` makes every weight 1, i.e. the plain (non-focal)
MSE between the batch-mean spectra.

:class:`PlainFrequencyLoss` is the reference's other form, ``fft_focal=False``
(its ResNet-101 recipe): the same mixed input, but per-sample spectra and the
spatial criterion l (L1 or focal-L1) on the modulus of their difference,

    L = lambda * mean_{b,c,u,v} l(|F(y_b) - F(target_b)|).
"""
import torch
from torch import nn

from mmconmim.registry import MODELS
from mmconmim.utils.validation import (check_choice, check_number,
                                       check_positive)
from .masked_pixel_loss import at_least_fp32, focal_l1


def check_loss_inputs(owner: str, pred: torch.Tensor, target: torch.Tensor,
                      mask: torch.Tensor) -> None:
    if pred.dim() != 4 or pred.shape != target.shape:
        raise ValueError(
            f'{owner} expects pred and target of the same shape '
            f'(B, C, H, W), got {tuple(pred.shape)} and '
            f'{tuple(target.shape)}')
    expected = (pred.shape[0], *pred.shape[2:])
    if tuple(mask.shape) != expected:
        raise ValueError(
            f'{owner}: mask shape {tuple(mask.shape)} does not match the '
            f'pixel grid {expected}')


def mix_unmasked(pred: torch.Tensor, target: torch.Tensor,
                 mask: torch.Tensor, unmask_weight: float) -> torch.Tensor:
    """The FFT input ("mixed"): the prediction at masked pixels, w_u of it
    plus (1 - w_u) of (sg(pred) + target) / 2 at visible ones."""
    m = mask.unsqueeze(1).to(pred.dtype)
    m_f = m + (1. - m) * unmask_weight
    visible = 0.5 * pred.detach() + 0.5 * target
    return pred * m_f + visible * (1. - m_f)


@MODELS.register_module()
class FocalFrequencyLoss(nn.Module):
    """A2MIM's focal frequency loss, ``loss(pred, target, mask)``.

    Args:
        unmask_weight (float): w_u, the share of the raw prediction kept at
            visible pixels of the FFT input, in [0, 1]. 1e-3 for ResNet,
            0 for ViT. Defaults to 0.
        loss_weight (float): lambda. 0.5 for ResNet-50, 0.1 for ViT.
            Defaults to 1.0.
        alpha (float): Exponent of the focal weight, >= 0. 1 in every A2MIM
            recipe; 0 gives the non-focal ablation (all weights 1).
            Defaults to 1.0.
    """

    def __init__(self, unmask_weight: float = 0., loss_weight: float = 1.0,
                 alpha: float = 1.0):
        super().__init__()
        check_number('FocalFrequencyLoss', 'unmask_weight', unmask_weight,
                     low=0, high=1, bool_ok=True)
        check_number('FocalFrequencyLoss', 'loss_weight', loss_weight, low=0,
                     bool_ok=True)
        check_number('FocalFrequencyLoss', 'alpha', alpha, low=0,
                     bool_ok=True)
        self.unmask_weight = float(unmask_weight)
        self.loss_weight = float(loss_weight)
        self.alpha = float(alpha)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """
        Args:
            pred (Tensor): (B, C, H, W) reconstruction.
            target (Tensor): (B, C, H, W) target image.
            mask (Tensor): (B, H, W) pixel mask, 1 = masked.

        Returns:
            Tensor: scalar loss (fp32 or wider).
        """
        check_loss_inputs('FocalFrequencyLoss', pred, target, mask)
        with torch.autocast(device_type=pred.device.type, enabled=False):
            pred = at_least_fp32(pred)
            target = at_least_fp32(target).to(pred.dtype)
            mixed = mix_unmasked(pred, target, mask, self.unmask_weight)

            pred_spec = torch.fft.fft2(mixed, norm='ortho').mean(0)
            target_spec = torch.fft.fft2(target, norm='ortho').mean(0)
            diff = pred_spec - target_spec
            distance = diff.real**2 + diff.imag**2

            with torch.no_grad():  # the focal weight is a constant
                weight = torch.log1p(diff.abs()**self.alpha)
                weight = weight / weight.max()
                weight = torch.nan_to_num(weight, nan=0.).clamp(0., 1.)
            loss = (weight * distance).mean()
        return self.loss_weight * loss


@MODELS.register_module()
class PlainFrequencyLoss(nn.Module):
    """The reference's non-focal Fourier loss (``fft_focal=False``),
    ``loss(pred, target, mask)``.

    Args:
        criterion (str): ``'L1'`` or ``'FocalL1'`` (the reference reuses its
            spatial criterion: focal-L1 for ResNet-101). Defaults to 'L1'.
        unmask_weight (float): w_u of the mixed FFT input, in [0, 1].
            Defaults to 0.
        loss_weight (float): lambda. Defaults to 1.0.
        focal_alpha (float): alpha of focal-L1. Defaults to 0.2.
        focal_gamma (float): gamma of focal-L1. Defaults to 1.0.
    """

    CRITERIA = ('L1', 'FocalL1')

    def __init__(self, criterion: str = 'L1', unmask_weight: float = 0.,
                 loss_weight: float = 1.0, focal_alpha: float = 0.2,
                 focal_gamma: float = 1.0):
        super().__init__()
        owner = 'PlainFrequencyLoss'
        self.criterion = check_choice(owner, 'criterion', criterion,
                                      self.CRITERIA)
        check_number(owner, 'unmask_weight', unmask_weight, low=0, high=1,
                     bool_ok=True)
        check_number(owner, 'loss_weight', loss_weight, low=0, bool_ok=True)
        check_positive(owner, 'focal_alpha', focal_alpha, bool_ok=True)
        self.unmask_weight = float(unmask_weight)
        self.loss_weight = float(loss_weight)
        self.focal_alpha, self.focal_gamma = focal_alpha, focal_gamma

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Same arguments as :meth:`FocalFrequencyLoss.forward`."""
        check_loss_inputs('PlainFrequencyLoss', pred, target, mask)
        with torch.autocast(device_type=pred.device.type, enabled=False):
            pred = at_least_fp32(pred)
            target = at_least_fp32(target).to(pred.dtype)
            mixed = mix_unmasked(pred, target, mask, self.unmask_weight)
            diff = torch.fft.fft2(mixed, norm='ortho') - torch.fft.fft2(
                target, norm='ortho')
            error = diff.abs()  # per sample, per channel, per frequency
            if self.criterion == 'FocalL1':
                error = focal_l1(error, self.focal_alpha, self.focal_gamma)
            loss = error.mean()
        return self.loss_weight * loss
