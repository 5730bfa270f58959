from .denoising_contrast_loss import DenoisingContrastLoss

__all__ = ['DenoisingContrastLoss']
