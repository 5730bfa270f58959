from .all_patches_contrast_loss import AllPatchesContrastLoss
from .cim_respix_loss import CIMResPixLoss, sliding_window_normalize
from .cim_revdet_loss import CIMRevDetLoss, replaced_token_labels
from .denoising_contrast_loss import DenoisingContrastLoss
from .focal_frequency_loss import FocalFrequencyLoss, PlainFrequencyLoss
from .masked_pixel_loss import MaskedPixelLoss, focal_l1

__all__ = [
    'AllPatchesContrastLoss', 'CIMResPixLoss', 'CIMRevDetLoss',
    'DenoisingContrastLoss', 'FocalFrequencyLoss', 'MaskedPixelLoss',
    'PlainFrequencyLoss', 'focal_l1',
    'replaced_token_labels', 'sliding_window_normalize'
]
