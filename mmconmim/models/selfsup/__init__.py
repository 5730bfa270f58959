from .a2mim import A2MIM, mean_fill
from .cim import CIM
from .conmim import ConMIM

__all__ = ['A2MIM', 'CIM', 'ConMIM', 'mean_fill']
