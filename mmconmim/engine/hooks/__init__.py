from .checkpoint_hook import (AtomicLocalBackend, SafeCheckpointHook,
                              atomic_write, register_atomic_local_backend)
from .knn_eval_hook import KNNEvalHook
from .nonfinite_loss_hook import NonFiniteLossHook
from .rng_state_hook import TorchRNGStateHook

__all__ = [
    'AtomicLocalBackend', 'KNNEvalHook', 'NonFiniteLossHook',
    'SafeCheckpointHook', 'TorchRNGStateHook', 'atomic_write',
    'register_atomic_local_backend'
]
