from .conmim_projector import ConMIMProjector
from .simple_feature_pyramid import SimpleFeaturePyramid

__all__ = ['ConMIMProjector', 'SimpleFeaturePyramid']
