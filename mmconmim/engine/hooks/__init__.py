from .checkpoint_hook import SafeCheckpointHook, atomic_write
from .compare_budget_hook import CompareBudgetHook, CompareIterEndHook
from .knn_eval_hook import KNNEvalHook
from .nonfinite_loss_hook import NonFiniteLossHook
from .rng_state_hook import TorchRNGStateHook
from .train_data_check_hook import TrainDataCheckHook
from .vit_geometry_check_hook import ViTGeometryCheckHook, ViTGeometryError

__all__ = [
    'KNNEvalHook', 'NonFiniteLossHook', 'SafeCheckpointHook',
    'TorchRNGStateHook', 'atomic_write'
]
__all__ += ['TrainDataCheckHook']
__all__ += ['CompareBudgetHook', 'CompareIterEndHook']
__all__ += ['ViTGeometryCheckHook', 'ViTGeometryError']
