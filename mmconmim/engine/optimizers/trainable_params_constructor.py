"""Optimizer constructor that keeps frozen parameters out of the optimizer.

mmengine's ``DefaultOptimWrapperConstructor`` puts *every* parameter into the
optimizer when no ``paramwise_cfg`` is given (``model.parameters()``), and
with one it skips frozen parameters but logs a warning for each of them --
hundreds of lines for a momentum teacher or a frozen tokenizer. This
constructor always takes the paramwise path and skips modules without any
trainable parameter as a whole, so a momentum teacher is never in the
optimizer and never in the log.
"""
from mmengine.optim import DefaultOptimWrapperConstructor

from mmconmim.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TrainableParamsOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` over ``requires_grad`` params only.

    Accepts the same ``paramwise_cfg`` options.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None):
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        # A non-empty paramwise_cfg selects the path that filters frozen
        # parameters; bypass_duplicate=False is mmengine's default (no-op).
        self.paramwise_cfg = dict(self.paramwise_cfg)
        self.paramwise_cfg.setdefault('bypass_duplicate', False)

    def add_params(self, params, module, prefix='', is_dcn_module=None):
        if not any(p.requires_grad for p in module.parameters()):
            return
        super().add_params(params, module, prefix=prefix,
                           is_dcn_module=is_dcn_module)
