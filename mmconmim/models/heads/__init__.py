from .cim_enhancer_heads import CIMResPixHead, CIMRevDetHead
from .cim_generator import CIMGenerator

__all__ = ['CIMGenerator', 'CIMResPixHead', 'CIMRevDetHead']
