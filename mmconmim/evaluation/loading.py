"""Build a pre-training model from its config and load a checkpoint, for the
offline monitoring tools (kNN, linear probe, similarity / attention maps).

Accepted checkpoints: a runner checkpoint of any of our algorithms
(``iter_*.pth``: student, ConMIM teacher, projector, ...), an exported
backbone (``tools/model_converters/export_backbone.py``: ``backbone.*``
keys only), or ``'none'`` / ``'random'`` for the randomly initialised
architecture (the baseline of a learning-signal comparison).
"""
from typing import Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from torch import nn

from mmconmim.checkpoint import load_file
from mmconmim.checkpoint.layout import PRETRAIN_ONLY_KEYS
from mmconmim.checkpoint.networks import (STUDENT_BACKBONE_PREFIX, Network,
                                          check_network, has_teacher,
                                          model_network, select_backbone,
                                          state_network, strip_prefix)

RANDOM_INIT = ('none', 'random')


def quiet_logger(name: str = 'mmconmim_monitor') -> None:
    """Make ``name`` the current MMLogger at WARNING level, so the tools'
    output is not buried in weight-initialisation messages."""
    from mmengine.logging import MMLogger
    if MMLogger.check_instance_created(name):
        MMLogger.get_instance(name).setLevel('WARNING')
    else:
        MMLogger.get_instance(name, log_level='WARNING')


def load_config(config: str, cfg_options: Optional[dict] = None) -> Config:
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cfg


def build_model(cfg: Config, seed: int = 0) -> nn.Module:
    """The config's model, randomly initialised (``init_weights``) with
    ``seed``, in eval mode."""
    from mmconmim.registry import MODELS
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        # as the Runner does: a top-level data_preprocessor is the model's
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    train_cfg = cfg.get('train_cfg') or {}
    MessageHub.get_current_instance().update_info(
        'max_iters', int(train_cfg.get('max_iters', 1) or 1))
    torch.manual_seed(seed)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model.eval()


def load_weights(model: nn.Module, checkpoint: str,
                 source: str = 'auto') -> Network:
    """Load ``checkpoint`` into ``model`` and return the network whose
    weights it holds (``'teacher'`` / ``'student'``), chosen by the rule of
    :mod:`mmconmim.checkpoint.networks`.

    A training checkpoint fills the whole model. An exported backbone fills
    the network its ``meta['source']`` names (ConMIM's teacher for a
    default export) and is reported as that network. Raises a clear error
    when the requested network is not in the file (a ``teacher`` request on
    an A2MIM/CIM checkpoint or an exported student) or when its weights do
    not fit the config's architecture.
    """
    check_network(source)
    ckpt = load_file(checkpoint)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise ValueError(f'{checkpoint}: no state dict found')
    state = {(k[7:] if k.startswith('module.') else k): v
             for k, v in state.items()}
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else None
    if source == 'auto' and not has_teacher(model):
        source = 'student'  # the model has one network: fill that one
    file_prefix, source = state_network(state, meta, source, checkpoint)
    if source == 'teacher' and not has_teacher(model):
        raise ValueError('source=teacher, but the config\'s model has no '
                         'teacher (only ConMIM has one)')
    # where this network lives in the model's own state dict
    prefix = source.backbone_prefix if has_teacher(model) \
        else STUDENT_BACKBONE_PREFIX
    if file_prefix != prefix:  # an export: move its keys to the model's
        state = {prefix + k: v
                 for k, v in strip_prefix(state, file_prefix).items()}
    if not any(k.startswith(prefix) for k in state):
        raise KeyError(f'{checkpoint} has no {file_prefix}* weights')
    own = model.state_dict()
    wanted = [k for k in own if k.startswith(prefix)]
    shape_errors = [
        f'{k}: checkpoint {tuple(state[k].shape)} vs model '
        f'{tuple(own[k].shape)}' for k in wanted
        if k in state and state[k].shape != own[k].shape
    ]
    if shape_errors:
        raise ValueError(
            f'{checkpoint} does not fit the config\'s architecture '
            f'({len(shape_errors)} shape mismatches, first: '
            f'{shape_errors[0]}); use the config it was trained with')
    state = {k: v for k, v in state.items()
             if k not in own or v.shape == own[k].shape}
    missing, _ = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k.startswith(prefix)
               and not k.endswith('relative_position_index')
               and k.split('.')[-1] not in PRETRAIN_ONLY_KEYS]
    if missing:
        raise KeyError(f'{checkpoint} lacks {len(missing)} {source} weights '
                       f'of this architecture (first: {missing[0]})')
    if source == 'teacher':
        # an EMA saved before its first step, or an export: it holds weights
        model.teacher_updated = True
    return source


def load_model(config: str, checkpoint: str, source: str = 'auto',
               cfg_options: Optional[dict] = None,
               seed: int = 0) -> Tuple[nn.Module, nn.Module, str, Config]:
    """Config + checkpoint -> (model, backbone to evaluate, source, cfg).

    The network is resolved here, once (:mod:`mmconmim.checkpoint.networks`):
    the returned ``source`` is a :class:`Network` that the caller passes on
    (``extract_splits``, ``select_projector``, ...) without a second
    resolution.

    ``checkpoint='none'`` (or ``'random'``) keeps the random initialisation
    drawn with ``seed``; the student is evaluated then (a never-updated
    ConMIM teacher is not yet the student's copy).
    """
    cfg = load_config(config, cfg_options)
    model = build_model(cfg, seed)
    if str(checkpoint).lower() in RANDOM_INIT:
        # the rule: a never-updated teacher gives way to the student
        source = model_network(model, source)
    else:
        source = load_weights(model, checkpoint, source)
    backbone, source = select_backbone(model, source)
    return model, backbone, source, cfg
