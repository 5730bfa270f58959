"""mmconmim: tokenizer-free masked image modeling (ConMIM, CIM, A2MIM) for
the OpenMMLab 2.x stack.

Importing the package registers every module into the ``mmconmim`` scope and
mmpretrain's registries (:mod:`mmconmim.registry`; every registered class is
also reachable as ``mmconmim.<Name>``, which is how ``type='mmconmim.X'``
resolves from mmseg/mmdet configs), registers our model index with
mmpretrain's ``ModelHub`` (:mod:`mmconmim.apis.model_index`) and puts every
checkpoint scheme of mmengine's ``CheckpointLoader`` behind the weights-only
trust gate (:mod:`mmconmim.checkpoint`). Nothing else outside mmconmim
changes: no upstream code is probed or replaced at import. The version fixes
the installed upstream packages need are applied by our runner, tools and
benchmarks, and by :func:`apply_compat_fixes` in users' own scripts
(:mod:`mmconmim.utils.compat`, docs/compat.md).
"""
from .version import __version__
from .checkpoint import install_gate
from .utils.compat import apply_compat_fixes  # noqa: F401  (public call)

install_gate()

from . import datasets, engine, models  # noqa: E402,F401  (registration)
from . import evaluation  # noqa: E402,F401

from .apis.model_index import register_model_index  # noqa: E402

register_model_index()

__all__ = ['__version__', 'apply_compat_fixes']


def __getattr__(name: str):
    """``mmconmim.<Name>``: a class registered in the ``mmconmim`` scope."""
    from .registry import lookup
    found = lookup(name) if not name.startswith('_') else None
    if found is None:
        raise AttributeError(f"module 'mmconmim' has no attribute {name!r}")
    return found
