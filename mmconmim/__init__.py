"""mmconmim: tokenizer-free masked image modeling (ConMIM, CIM, A2MIM) for
the OpenMMLab 2.x stack.

Importing the package registers every module into the ``mmconmim`` scope and
mmpretrain's registries (:mod:`mmconmim.registry`; every registered class is
also reachable as ``mmconmim.<Name>``, which is how ``type='mmconmim.X'``
resolves from mmseg/mmdet configs), registers our model index with
mmpretrain's ``ModelHub`` (:mod:`mmconmim.apis.model_index`), puts every
checkpoint scheme of mmengine's ``CheckpointLoader`` behind the weights-only
trust gate and applies the version fixes that the installed upstream packages
need (:mod:`mmconmim.utils.compat`, docs/compat.md). Nothing else outside
mmconmim changes.
"""
from .version import __version__
from .utils.compat import apply_compat_fixes

apply_compat_fixes()

from . import datasets, engine, models  # noqa: E402,F401  (registration)
from . import evaluation  # noqa: E402,F401

from .apis.model_index import register_model_index  # noqa: E402

register_model_index()

__all__ = ['__version__']


def __getattr__(name: str):
    """``mmconmim.<Name>``: a class registered in the ``mmconmim`` scope."""
    from .registry import lookup
    found = lookup(name) if not name.startswith('_') else None
    if found is None:
        raise AttributeError(f"module 'mmconmim' has no attribute {name!r}")
    return found
