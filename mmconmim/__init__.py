"""mmconmim: tokenizer-free masked image modeling (ConMIM, CIM, A2MIM) for
the OpenMMLab 2.x stack.

Importing the package registers every module into mmpretrain's registries
(and the ``mmconmim`` scope), applies the compatibility fixes of
:mod:`mmconmim.utils.compat` and makes mmengine's local file writes atomic
(:mod:`mmconmim.engine.hooks.checkpoint_hook`).
"""
from .version import __version__
from .utils.compat import apply_compat_fixes

apply_compat_fixes()

from . import datasets, engine, models  # noqa: E402,F401  (registration)
from . import evaluation  # noqa: E402,F401
from .engine.hooks import register_atomic_local_backend  # noqa: E402

register_atomic_local_backend()

__all__ = ['__version__']
