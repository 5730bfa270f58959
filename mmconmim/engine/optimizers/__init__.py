from .backbone_layer_decay_constructor import \
    BackboneLayerDecayOptimWrapperConstructor
from .mixed_precision_optim_wrapper import MixedPrecisionOptimWrapper
from .trainable_params_constructor import \
    TrainableParamsOptimWrapperConstructor

__all__ = [
    'BackboneLayerDecayOptimWrapperConstructor', 'MixedPrecisionOptimWrapper',
    'TrainableParamsOptimWrapperConstructor'
]
