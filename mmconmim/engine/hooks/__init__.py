from .checkpoint_hook import (AtomicLocalBackend, SafeCheckpointHook,
                              atomic_write, register_atomic_local_backend)
from .knn_eval_hook import KNNEvalHook
from .nonfinite_loss_hook import NonFiniteLossHook
from .rng_state_hook import TorchRNGStateHook
from .train_data_check_hook import TrainDataCheckHook

__all__ = [
    'AtomicLocalBackend', 'KNNEvalHook', 'NonFiniteLossHook',
    'SafeCheckpointHook', 'TorchRNGStateHook', 'atomic_write',
    'register_atomic_local_backend'
]
__all__ += ['TrainDataCheckHook']
