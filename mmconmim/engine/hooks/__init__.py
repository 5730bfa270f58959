from .checkpoint_hook import SafeCheckpointHook, atomic_write
from .knn_eval_hook import KNNEvalHook
from .nonfinite_loss_hook import NonFiniteLossHook
from .rng_state_hook import TorchRNGStateHook

__all__ = [
    'KNNEvalHook', 'NonFiniteLossHook', 'SafeCheckpointHook',
    'TorchRNGStateHook', 'atomic_write'
]
