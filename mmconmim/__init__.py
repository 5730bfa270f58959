"""mmconmim: tokenizer-free masked image modeling (ConMIM, CIM, A2MIM) for
the OpenMMLab 2.x stack.

Importing the package registers every module into mmpretrain's registries
(and the ``mmconmim`` scope), puts every checkpoint scheme of mmengine's
``CheckpointLoader`` behind the weights-only trust gate and applies the
version fixes that the installed upstream packages need
(:mod:`mmconmim.utils.compat`, docs/compat.md). Nothing else outside
mmconmim changes.
"""
from .version import __version__
from .utils.compat import apply_compat_fixes

apply_compat_fixes()

from . import datasets, engine, models  # noqa: E402,F401  (registration)
from . import evaluation  # noqa: E402,F401

__all__ = ['__version__']
