from .a2mim_convnext import A2MIMConvNeXt
from .a2mim_resnet import A2MIMResNet
from .a2mim_vit import A2MIMViT
from .conmim_vit import ConMIMViT
from .simmim_vit import SimMIMViT
from .windowed_beit_vit import WindowedBEiTViT

__all__ = [
    'A2MIMConvNeXt', 'A2MIMResNet', 'A2MIMViT', 'ConMIMViT', 'SimMIMViT',
    'WindowedBEiTViT'
]
