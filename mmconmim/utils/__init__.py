from mmconmim.checkpoint import (NotACheckpointError, UnsafeCheckpointError,
                                 safe_torch_load)
from .compat import apply_compat_fixes

__all__ = [
    'NotACheckpointError', 'UnsafeCheckpointError', 'apply_compat_fixes',
    'safe_torch_load'
]
