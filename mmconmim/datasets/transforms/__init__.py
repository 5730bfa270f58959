from .loading import RobustLoadImageFromFile, UnreadableImageError
from .mask_generators import BlockMaskGenerator, UnitMaskGenerator

__all__ = [
    'BlockMaskGenerator', 'RobustLoadImageFromFile', 'UnitMaskGenerator',
    'UnreadableImageError'
]
