"""A ready backbone from an exported or a training checkpoint.

    from mmconmim.apis import load_backbone
    backbone = load_backbone('export.pth', 'configs/demo/conmim_demo.py')
    feats = backbone(images)  # images normalised like the config's data

Which network: the rule of :mod:`mmconmim.checkpoint.networks` (ConMIM's teacher
by default, the only backbone of A2MIM/CIM; an export is the network it
records).
"""
import os.path as osp
import warnings
from typing import Mapping, Optional, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from torch import nn

from mmconmim.checkpoint import read_state_dict, trusted_config
from mmconmim.checkpoint.layout import (PRETRAIN_ONLY_KEYS,
                                        SHARED_REL_POS_TABLE,
                                        drop_per_layer_copies)
from mmconmim.checkpoint.networks import state_network, strip_prefix

ConfigType = Union[str, Config, Mapping, None]


def read_checkpoint(checkpoint: str) -> Tuple[dict, dict]:
    """(state dict without a ``module.`` wrapper prefix, meta) of a runner
    checkpoint, an export or a bare state dict, read through the gate
    (:func:`mmconmim.checkpoint.read_state_dict`)."""
    return read_state_dict(checkpoint)


def resolve_source(source: Optional[str], network: Optional[str],
                   caller: str) -> str:
    """``source`` (the one name of the network choice), accepting the old
    keyword ``network`` with a deprecation warning."""
    if network is None:
        return 'auto' if source is None else source
    if source is not None and source != network:
        raise TypeError(f'{caller}: give source= only (network= is its old '
                        f'name), not both: source={source!r}, '
                        f'network={network!r}')
    warnings.warn(f'{caller}(network=...) is deprecated: use source=',
                  DeprecationWarning, stacklevel=3)
    return network


def backbone_weights(checkpoint: str, source: Optional[str] = None,
                     network: Optional[str] = None
                     ) -> Tuple[dict, str, dict]:
    """(backbone weights with bare keys, ``'teacher'``/``'student'``, meta)
    of ``checkpoint`` under the teacher/student rule (``source``: ``'auto'``,
    ``'teacher'`` or ``'student'``; ``network`` is its deprecated name)."""
    source = resolve_source(source, network, 'backbone_weights')
    state, meta = read_checkpoint(checkpoint)
    prefix, chosen = state_network(state, meta, source, checkpoint)
    weights = strip_prefix(state, prefix)
    if not weights:
        raise KeyError(f'{checkpoint} has no {prefix}* weights')
    return weights, str(chosen), meta


def embedded_config(checkpoint: str, meta: Mapping) -> Config:
    """The training config stored in a checkpoint (``meta['cfg']`` of a
    runner checkpoint, ``meta['config']`` of an export). Parsing it runs
    Python code from the file, so it needs ``MMCONMIM_TRUST_CHECKPOINTS=1``
    (:func:`mmconmim.checkpoint.trusted_config`).
    """
    text = meta.get('cfg') or meta.get('config')
    if not text:
        raise ValueError(
            f'load_backbone: {checkpoint} stores no config; pass cfg= (the '
            'config file it was trained with, or a backbone dict)')
    return trusted_config(
        text, checkpoint, 'load_backbone: no cfg given. Pass cfg= (the '
        'config file it was trained with, or a backbone dict)')


def backbone_config(cfg: ConfigType) -> Tuple[dict, str]:
    """(backbone config dict, default scope) from a config file, a
    :class:`Config`, a full model dict or a backbone dict."""
    if isinstance(cfg, str):
        if not osp.isfile(cfg):
            raise FileNotFoundError(f'load_backbone: config {cfg!r} does not '
                                    'exist')
        cfg = Config.fromfile(cfg)
    if isinstance(cfg, Config):
        cfg = cfg.to_dict()
    if not isinstance(cfg, Mapping):
        raise TypeError('load_backbone: cfg must be a config path, a Config '
                        f'or a dict, got {type(cfg).__name__}')
    scope = cfg.get('default_scope') or 'mmconmim'
    for key in ('model', 'backbone'):  # a full config, then a model dict
        if isinstance(cfg.get(key), Mapping):
            cfg = cfg[key]
    if 'type' not in cfg:
        raise ValueError('load_backbone: cfg has no backbone (expected '
                         "model.backbone, backbone, or a dict with 'type')")
    cfg = dict(cfg)
    cfg.pop('init_cfg', None)  # the weights come from the checkpoint
    return cfg, scope


def fill_backbone(backbone: nn.Module, weights: dict,
                  checkpoint: str) -> None:
    """Load ``weights`` into ``backbone``: every weight of the architecture
    (pre-training-only mask tokens excepted) with the right shape, nothing
    extra; a clear error otherwise."""
    own = backbone.state_dict()
    if SHARED_REL_POS_TABLE in own:
        # exports carry per-layer copies of the shared table for fine-tuning
        # backbones; this backbone keeps the shared one
        weights = drop_per_layer_copies(weights)
    mismatched = [f'{k}: checkpoint {tuple(v.shape)} vs model '
                  f'{tuple(own[k].shape)}' for k, v in weights.items()
                  if k in own and v.shape != own[k].shape]
    if mismatched:
        raise ValueError(
            f'load_backbone: {checkpoint} does not fit the config\'s '
            f'backbone ({len(mismatched)} shape mismatches, first: '
            f'{mismatched[0]}); use the config it was trained with')
    missing, unexpected = backbone.load_state_dict(weights, strict=False)
    missing = [k for k in missing if k.split('.')[-1] not in PRETRAIN_ONLY_KEYS
               and not k.endswith('relative_position_index')]
    if missing or unexpected:
        raise KeyError(
            f'load_backbone: {checkpoint} and the config\'s '
            f'{type(backbone).__name__} disagree: {len(missing)} weights '
            f'missing (first: {missing[:1]}), {len(unexpected)} unexpected '
            f'(first: {unexpected[:1]}); use the config it was trained with')


def load_backbone(checkpoint: str,
                  cfg: ConfigType = None,
                  source: Optional[str] = None,
                  device: Union[str, torch.device] = 'cpu',
                  network: Optional[str] = None) -> nn.Module:
    """Build a backbone and fill it from ``checkpoint``, in eval mode.

    Args:
        checkpoint: an export of ``tools/model_converters/export_backbone.py``
            (``backbone.*`` or bare keys, ``meta['source']`` recording the
            network) or a training checkpoint (``iter_*.pth``).
        cfg: the training config (file, :class:`Config` or dict), a model
            dict, or a backbone dict. ``None`` reads the config stored in the
            checkpoint, which needs ``MMCONMIM_TRUST_CHECKPOINTS=1``.
        source: ``'auto'`` (default), ``'teacher'`` or ``'student'``: see
            :mod:`mmconmim.checkpoint.networks` (the same name as the tools'
            ``--source``).
        device: where the backbone goes.
        network: deprecated name of ``source``.

    Returns:
        The backbone (``mask=None`` is its default for MIM backbones), with
        ``backbone.source`` (old name ``backbone.network``) = the network
        it holds. Every weight of the
        architecture must be in the file (pre-training-only mask tokens
        excepted) with the right shape; extra weights are refused too.
    """
    source = resolve_source(source, network, 'load_backbone')
    weights, chosen, meta = backbone_weights(checkpoint, source)
    if cfg is None:
        cfg = embedded_config(checkpoint, meta)
    backbone_cfg, scope = backbone_config(cfg)
    from mmconmim.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        backbone = MODELS.build(backbone_cfg)
    fill_backbone(backbone, weights, checkpoint)
    backbone.source = chosen
    backbone.network = chosen  # its old name (docs/apis.md)
    backbone.to(device)
    backbone.eval()  # some backbones' train() does not return self
    return backbone
