"""The bottom floor: argument checks (:mod:`.validation`), launch helpers
(:mod:`.launch`) and the version fixes (:mod:`.compat`). It imports nothing
of mmconmim's other packages (tests/test_package/test_structure.py)."""
from .compat import apply_compat_fixes

__all__ = ['apply_compat_fixes']

#: names this package re-exported before the checkpoint code got its own
#: package (issue 26), and where they are now
MOVED = dict(
    NotACheckpointError='mmconmim.checkpoint',
    UnsafeCheckpointError='mmconmim.checkpoint',
    safe_torch_load='mmconmim.checkpoint')


def __getattr__(name: str):
    if name in MOVED:
        # ImportError, not AttributeError: ``from mmconmim.utils import X``
        # would replace an AttributeError's message by a generic one
        raise ImportError(
            f'mmconmim.utils.{name} moved: import it from {MOVED[name]} '
            f'(from {MOVED[name]} import {name})')
    raise AttributeError(f"module 'mmconmim.utils' has no attribute {name!r}")
