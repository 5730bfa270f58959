"""mmconmim: tokenizer-free masked image modeling (ConMIM, CIM, A2MIM) for
the OpenMMLab 2.x stack.

Importing the package registers every module into mmpretrain's registries
(and the ``mmconmim`` scope) and applies the compatibility fixes of
:mod:`mmconmim.utils.compat`.
"""
from .version import __version__
from .utils.compat import apply_compat_fixes

apply_compat_fixes()

from . import datasets, engine, models  # noqa: E402,F401  (registration)

__all__ = ['__version__']
