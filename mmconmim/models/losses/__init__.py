from .denoising_contrast_loss import DenoisingContrastLoss

__all__ = ['DenoisingContrastLoss']
from .focal_frequency_loss import FocalFrequencyLoss
from .masked_pixel_loss import MaskedPixelLoss, focal_l1

__all__ += ['FocalFrequencyLoss', 'MaskedPixelLoss', 'focal_l1']
