from .compat import (UnsafeCheckpointError, apply_compat_fixes,
                     safe_torch_load)

__all__ = ['UnsafeCheckpointError', 'apply_compat_fixes', 'safe_torch_load']
