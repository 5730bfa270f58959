"""Our configs in mmpretrain's model hub.

``import mmconmim`` registers ``model-index.yml`` with
:class:`mmpretrain.apis.ModelHub` (its public ``register_model_index``), so
``mmpretrain.apis.list_models('*conmim*')`` lists our configs and
``get_model(name, pretrained=CKPT)`` / ``FeatureExtractor`` build them. The
index is read from the installed package (``mmconmim/.mim``, written at
build time like mmpretrain's) or, in a source checkout, from the repository
root. Config paths in the metafiles are relative to that directory.
"""
import os.path as osp
import warnings
from typing import List, Optional, Tuple

PACKAGE_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def model_index_location() -> Optional[Tuple[str, str]]:
    """(model-index.yml, the directory its config paths are relative to),
    or None when neither the installed nor the source-tree index exists."""
    for root in (osp.join(PACKAGE_ROOT, '.mim'), osp.dirname(PACKAGE_ROOT)):
        index = osp.join(root, 'model-index.yml')
        if osp.isfile(index) and osp.isdir(osp.join(root, 'configs')):
            return index, root
    return None


def model_names(index: str) -> List[str]:
    from modelindex.load_model_index import load
    model_index = load(index)
    model_index.build_models_with_collections()
    return [model.name.lower() for model in model_index.models]


def register_model_index() -> List[str]:
    """Register our models with mmpretrain's ``ModelHub`` (once) and return
    their names; ``[]`` (with a warning) when no index is found."""
    from mmpretrain.apis import ModelHub
    location = model_index_location()
    if location is None:
        warnings.warn('mmconmim: no model-index.yml found next to the '
                      'package (mmconmim/.mim) or in its source tree; our '
                      'configs are not in mmpretrain\'s model hub')
        return []
    index, root = location
    names = model_names(index)
    if names and all(ModelHub.has(name) for name in names):
        return names  # already registered (e.g. a module reload)
    ModelHub.register_model_index(index, config_prefix=root)
    return names
