from .checkpoint_hook import (AtomicLocalBackend, SafeCheckpointHook,
                              atomic_write, register_atomic_local_backend)
from .nonfinite_loss_hook import NonFiniteLossHook

__all__ = [
    'AtomicLocalBackend', 'NonFiniteLossHook', 'SafeCheckpointHook',
    'atomic_write', 'register_atomic_local_backend'
]
