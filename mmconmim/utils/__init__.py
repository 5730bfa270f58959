from .compat import (NotACheckpointError, UnsafeCheckpointError,
                     apply_compat_fixes, safe_torch_load)

__all__ = [
    'NotACheckpointError', 'UnsafeCheckpointError', 'apply_compat_fixes',
    'safe_torch_load'
]
