from .conmim import ConMIM

__all__ = ['ConMIM']
from .a2mim import A2MIM, mean_fill

__all__ += ['A2MIM', 'mean_fill']
