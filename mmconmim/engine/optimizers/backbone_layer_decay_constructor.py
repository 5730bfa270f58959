"""Layer-wise learning-rate decay for detectors and segmentors.

mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` asks the *model*
for ``get_layer_depth``; classifiers and self-supervised models delegate it
to their backbone, but mmdet detectors and mmseg segmentors do not have it.
This constructor takes the depth from ``model.backbone.get_layer_depth``
(mmpretrain ViTs, Swin, ConvNeXt...), so every parameter outside the backbone
(neck, heads) gets the full learning rate, and backbone layer ``i`` of ``L``
gets ``lr * layer_decay_rate ** (L + 1 - i)``.
"""
from functools import partial

from mmpretrain.engine.optimizers import \
    LearningRateDecayOptimWrapperConstructor

from mmconmim.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class BackboneLayerDecayOptimWrapperConstructor(
        LearningRateDecayOptimWrapperConstructor):
    """Layer decay driven by ``model.backbone.get_layer_depth``.

    Same ``paramwise_cfg`` as mmpretrain's constructor
    (``layer_decay_rate``, ``custom_keys``, ``flat_decay_mult``...).
    """

    def add_params(self, params, module, prefix='', get_layer_depth=None,
                   **kwargs):
        if get_layer_depth is None and not hasattr(module, 'get_layer_depth'):
            backbone = getattr(module, 'backbone', None)
            if not hasattr(backbone, 'get_layer_depth'):
                raise NotImplementedError(
                    f'{type(self).__name__}: {type(module).__name__} has no '
                    'backbone with a get_layer_depth method (mmpretrain '
                    'backbones such as BEiTViT/VisionTransformer have one)')
            get_layer_depth = partial(backbone.get_layer_depth,
                                      prefix='backbone.')
        super().add_params(params, module, prefix=prefix,
                           get_layer_depth=get_layer_depth, **kwargs)
