from .a2mim_head import A2MIMHead

__all__ = ['A2MIMHead']
