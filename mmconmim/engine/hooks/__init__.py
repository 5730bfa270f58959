from .checkpoint_hook import (AtomicLocalBackend, SafeCheckpointHook,
                              atomic_write, register_atomic_local_backend)
from .knn_eval_hook import KNNEvalHook
from .nonfinite_loss_hook import NonFiniteLossHook

__all__ = [
    'AtomicLocalBackend', 'KNNEvalHook', 'NonFiniteLossHook',
    'SafeCheckpointHook', 'atomic_write', 'register_atomic_local_backend'
]
