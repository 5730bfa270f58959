from .a2mim import A2MIM, mean_fill
from .cim import CIM
from .conmim import ConMIM
from .conmim_cnn import ConMIMCNN

__all__ = ['A2MIM', 'CIM', 'ConMIM', 'ConMIMCNN', 'mean_fill']
