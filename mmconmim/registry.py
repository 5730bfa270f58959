"""Registry nodes of the ``mmconmim`` scope.

Every node is a child of the matching **mmpretrain** node
(``Registry(name, parent=mmpretrain.registry.X, scope='mmconmim')``), the
way OpenMMLab projects extend a codebase. What that gives, with mmengine's
public resolution rules only:

* ``default_scope='mmconmim'``: a bare ``type='X'`` is looked up here first,
  then in mmpretrain, then in mmengine (a node searches its ancestors), so
  our configs can name mmpretrain's ``SelfSupDataPreprocessor`` or
  ``UniversalVisualizer`` without a prefix;
* ``default_scope='mmpretrain'`` (every config shipped before this scope
  existed): each registration is also made in the parent node through its
  public ``register_module``, so after ``custom_imports=['mmconmim']`` a
  bare ``type='ConMIM'`` resolves in mmpretrain's scope unchanged, and
  ``type='mmconmim.X'`` resolves among mmpretrain's children;
* mmseg / mmdet configs (sibling trees): mmengine looks a ``scope.X`` key up
  only among the root's direct children, which a child of mmpretrain is not;
  it then falls back to importing ``scope`` and reading the attribute ``X``
  (``Registry.get``'s dotted-path lookup), which :func:`lookup` answers
  through ``mmconmim.__getattr__``. ``type='mmconmim.X'`` therefore names
  the same class in every scope.

Inside the package, sub-modules are built with this module's nodes
(``MODELS.build(cfg)``), never with mmpretrain's directly.
"""
from typing import Callable, List, Optional, Type, Union

from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry

SCOPE = 'mmconmim'

__all__ = [
    'SCOPE', 'MODELS', 'TRANSFORMS', 'DATASETS', 'DATA_SAMPLERS', 'HOOKS',
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'RUNNERS',
    'RUNNER_CONSTRUCTORS', 'LOOPS', 'LOG_PROCESSORS', 'METRICS',
    'EVALUATORS', 'VISUALIZERS', 'VISBACKENDS', 'BATCH_AUGMENTS',
    'TASK_UTILS', 'TOKENIZER', 'lookup'
]


class ChildRegistry(Registry):
    """A node of scope ``mmconmim`` under an mmpretrain node whose
    registrations are also made in that parent (through its public
    :meth:`register_module`), so mmpretrain-scoped configs keep finding our
    classes."""

    def __init__(self, parent: Registry, locations: List[str]):
        super().__init__(parent.name, parent=parent, scope=SCOPE,
                         locations=locations)

    def register_module(self,
                        name: Optional[Union[str, List[str]]] = None,
                        force: bool = False,
                        module: Optional[Type] = None
                        ) -> Union[type, Callable]:
        if module is not None:
            super().register_module(name=name, force=force, module=module)
            self.parent.register_module(name=name, force=force, module=module)
            return module

        def register(cls):
            return self.register_module(name=name, force=force, module=cls)

        return register


def _child(parent: Registry, *ours: str) -> ChildRegistry:
    # A node imports its own locations before a lookup, not its parent's;
    # listing mmpretrain's too means a default_scope='mmconmim' config finds
    # mmpretrain's metrics/visualizers even if nothing imported them yet.
    upstream = [f'mmpretrain.{name}' for name in (
        'models', 'datasets', 'engine', 'evaluation', 'visualization')]
    return ChildRegistry(parent, [f'mmconmim.{name}' for name in ours] +
                         upstream)


# runtime
RUNNERS = _child(mmpretrain_registry.RUNNERS, 'engine')
RUNNER_CONSTRUCTORS = _child(mmpretrain_registry.RUNNER_CONSTRUCTORS,
                             'engine')
LOOPS = _child(mmpretrain_registry.LOOPS, 'engine')
HOOKS = _child(mmpretrain_registry.HOOKS, 'engine')
LOG_PROCESSORS = _child(mmpretrain_registry.LOG_PROCESSORS, 'engine')
OPTIMIZERS = _child(mmpretrain_registry.OPTIMIZERS, 'engine')
OPTIM_WRAPPERS = _child(mmpretrain_registry.OPTIM_WRAPPERS, 'engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child(
    mmpretrain_registry.OPTIM_WRAPPER_CONSTRUCTORS, 'engine')
PARAM_SCHEDULERS = _child(mmpretrain_registry.PARAM_SCHEDULERS, 'engine')
# data
DATASETS = _child(mmpretrain_registry.DATASETS, 'datasets')
DATA_SAMPLERS = _child(mmpretrain_registry.DATA_SAMPLERS, 'datasets')
TRANSFORMS = _child(mmpretrain_registry.TRANSFORMS, 'datasets')
# models
MODELS = _child(mmpretrain_registry.MODELS, 'models')
MODEL_WRAPPERS = _child(mmpretrain_registry.MODEL_WRAPPERS, 'engine')
WEIGHT_INITIALIZERS = _child(mmpretrain_registry.WEIGHT_INITIALIZERS,
                             'models')
BATCH_AUGMENTS = _child(mmpretrain_registry.BATCH_AUGMENTS, 'models')
TASK_UTILS = _child(mmpretrain_registry.TASK_UTILS, 'models')
TOKENIZER = _child(mmpretrain_registry.TOKENIZER, 'models')
# evaluation / visualisation
METRICS = _child(mmpretrain_registry.METRICS, 'evaluation')
EVALUATORS = _child(mmpretrain_registry.EVALUATORS, 'evaluation')
VISUALIZERS = _child(mmpretrain_registry.VISUALIZERS, 'evaluation')
VISBACKENDS = _child(mmpretrain_registry.VISBACKENDS, 'evaluation')

_NODES = [value for key, value in sorted(globals().items())
          if isinstance(value, ChildRegistry)]


def lookup(name: str) -> Optional[type]:
    """The class (or function) registered as ``name`` in any ``mmconmim``
    node, or None. Raises if two nodes hold different objects under it."""
    found = {id(node.module_dict[name]): node.module_dict[name]
             for node in _NODES if name in node.module_dict}
    if len(found) > 1:
        raise KeyError(f'mmconmim: {name!r} names different objects in '
                       'several registries; use the registry directly')
    return next(iter(found.values()), None)
