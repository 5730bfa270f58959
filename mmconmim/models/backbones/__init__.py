from .conmim_vit import ConMIMViT

__all__ = ['ConMIMViT']
