"""Registry nodes of the ``mmconmim`` scope.

Every class of this package is registered twice through one decorator:

* into **mmpretrain's** node (``mmpretrain.registry.X``), so that mmpretrain
  configs (``default_scope='mmpretrain'``) find it after
  ``custom_imports=dict(imports=['mmconmim'])``;
* into a node of scope ``mmconmim`` that hangs directly under mmengine's root
  registry, so that ``type='mmconmim.X'`` resolves from any scope (mmseg,
  mmdet), which is how mmengine finds cross-scope keys: it imports
  ``mmconmim.registry`` and looks the scope up among the root's children.

Use ``default_scope='mmpretrain'`` in configs: the ``mmconmim`` nodes hold
only this package's classes (they fall back to mmengine's root, not to
mmpretrain).
"""
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry

__all__ = [
    'MODELS', 'TRANSFORMS', 'DATASETS', 'HOOKS', 'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'MODEL_WRAPPERS', 'RUNNERS'
]


class MirroredRegistry(Registry):
    """A registry node whose registrations are copied into ``mirror``."""

    def __init__(self, mirror: Registry, locations):
        super().__init__(
            mirror.name, parent=mirror.parent, scope='mmconmim',
            locations=locations)
        self.mirror = mirror

    def _register_module(self, module, module_name=None, force=False):
        super()._register_module(module, module_name, force)
        self.mirror._register_module(module, module_name, force)


MODELS = MirroredRegistry(mmpretrain_registry.MODELS, ['mmconmim.models'])
TRANSFORMS = MirroredRegistry(mmpretrain_registry.TRANSFORMS,
                              ['mmconmim.datasets'])
DATASETS = MirroredRegistry(mmpretrain_registry.DATASETS,
                            ['mmconmim.datasets'])
HOOKS = MirroredRegistry(mmpretrain_registry.HOOKS, ['mmconmim.engine'])
OPTIM_WRAPPERS = MirroredRegistry(mmpretrain_registry.OPTIM_WRAPPERS,
                                  ['mmconmim.engine'])
MODEL_WRAPPERS = MirroredRegistry(mmpretrain_registry.MODEL_WRAPPERS,
                                  ['mmconmim.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = MirroredRegistry(
    mmpretrain_registry.OPTIM_WRAPPER_CONSTRUCTORS, ['mmconmim.engine'])
RUNNERS = MirroredRegistry(mmpretrain_registry.RUNNERS, ['mmconmim.engine'])
