from .a2mim_head import A2MIMHead
from .cim_enhancer_heads import CIMResPixHead, CIMRevDetHead
from .cim_generator import CIMGenerator

__all__ = ['A2MIMHead', 'CIMGenerator', 'CIMResPixHead', 'CIMRevDetHead']
