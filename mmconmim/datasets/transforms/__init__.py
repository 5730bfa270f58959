from .mask_generators import BlockMaskGenerator, UnitMaskGenerator

__all__ = ['BlockMaskGenerator', 'UnitMaskGenerator']
