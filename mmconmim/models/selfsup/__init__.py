from .conmim import ConMIM
from .cim import CIM

__all__ = ['ConMIM']
__all__ += ['CIM']
