from .denoising_contrast_loss import DenoisingContrastLoss
from .cim_respix_loss import CIMResPixLoss, sliding_window_normalize
from .cim_revdet_loss import CIMRevDetLoss, replaced_token_labels

__all__ = ['DenoisingContrastLoss']
__all__ += [
    'CIMResPixLoss', 'CIMRevDetLoss', 'sliding_window_normalize',
    'replaced_token_labels'
]
