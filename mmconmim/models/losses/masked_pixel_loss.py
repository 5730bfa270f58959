"""A2MIM's spatial reconstruction loss: L1 or focal-L1 over masked pixels.

Li et al., "Architecture-Agnostic Masked Image Modeling -- From ViT back to
CNN", ICML 2023 (arXiv:2205.13943), L_spa, as in the reference ``A2MIMHead``:

    L_spa = sum_{b,c,h,w} l(pred - target) * M / (sum_{b,h,w} M + eps) / C

with M the (B, H, W) pixel mask (1 = masked) broadcast over the C channels,
i.e. the mean error per masked element; visible pixels do not count. ``l`` is
plain L1 for ViTs and, for CNNs, the focal-L1 of Yang et al. ("Delving into
Deep Imbalanced Regression", ICML 2021):

    l(e) = |e| * (2 * sigmoid(alpha * |e|) - 1) ** gamma,  alpha=0.2, gamma=1

which is about 0.1 e^2 near 0 and ten times smaller than L1 at |e| = 1.
"""
import torch
from mmpretrain.models.losses import PixelReconstructionLoss
from torch import nn

from mmconmim.registry import MODELS
from mmconmim.utils.validation import check_choice, check_positive

_HALF = (torch.float16, torch.bfloat16)


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """Half-precision tensors to fp32; fp32 and wider unchanged."""
    return x.float() if x.dtype in _HALF else x


def focal_l1(error: torch.Tensor, alpha: float = 0.2,
             gamma: float = 1.0) -> torch.Tensor:
    """Element-wise ``|e| * (2 * sigmoid(alpha * |e|) - 1) ** gamma``."""
    abs_error = error.abs()
    return abs_error * (2. * torch.sigmoid(alpha * abs_error) - 1.)**gamma


class FocalL1Penalty(nn.Module):
    """Element-wise focal-L1 between two tensors (``reduction='none'``)."""

    def __init__(self, alpha: float, gamma: float) -> None:
        super().__init__()
        self.alpha, self.gamma = alpha, gamma

    def forward(self, pred, target):
        return focal_l1(pred - target, self.alpha, self.gamma)


@MODELS.register_module()
class MaskedPixelLoss(PixelReconstructionLoss):
    """mmpretrain's ``PixelReconstructionLoss`` with a focal-L1 criterion,
    a (B, H, W) pixel mask and A2MIM's normalisation.

    Args:
        criterion (str): ``'L1'``, ``'L2'`` or ``'FocalL1'``.
        focal_alpha (float): alpha of focal-L1. Defaults to 0.2.
        focal_gamma (float): gamma of focal-L1. Defaults to 1.0.
        eps (float): Added to the masked-pixel count. Defaults to 1e-5.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.

    The channel count is taken from the prediction.
    """

    CRITERIA = ('L1', 'L2', 'FocalL1')

    def __init__(self, criterion: str, focal_alpha: float = 0.2,
                 focal_gamma: float = 1.0, eps: float = 1e-5,
                 loss_weight: float = 1.0) -> None:
        check_choice('MaskedPixelLoss', 'criterion', criterion, self.CRITERIA)
        super().__init__('L1' if criterion == 'FocalL1' else criterion)
        if criterion == 'FocalL1':
            check_positive('MaskedPixelLoss', 'focal_alpha', focal_alpha,
                           bool_ok=True)
            self.penalty = FocalL1Penalty(focal_alpha, focal_gamma)
        self.criterion = criterion
        self.eps = eps
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """
        Args:
            pred (Tensor): (B, C, H, W) reconstruction.
            target (Tensor): (B, C, H, W) target.
            mask (Tensor): (B, H, W) pixel mask, 1 = masked.
        """
        if pred.dim() != 4 or pred.shape != target.shape:
            raise ValueError(
                'MaskedPixelLoss expects pred and target of the same shape '
                f'(B, C, H, W), got {tuple(pred.shape)} and '
                f'{tuple(target.shape)}')
        expected = (pred.shape[0], *pred.shape[2:])
        if tuple(mask.shape) != expected:
            raise ValueError(
                f'MaskedPixelLoss: mask shape {tuple(mask.shape)} does not '
                f'match the pixel grid {expected}')
        error = self.penalty(at_least_fp32(pred), at_least_fp32(target))
        m = mask.unsqueeze(1).to(error.dtype)
        loss = (error * m).sum() / (m.sum() + self.eps) / pred.shape[1]
        return self.loss_weight * loss
