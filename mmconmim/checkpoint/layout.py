"""Where a backbone's weights are in a checkpoint, and the named pre-load
steps that make them fit every loading route.

* :func:`extract_backbone` -- one backbone of a training state dict, chosen
  by the teacher/student rule (:mod:`.networks`), without the pre-training
  only keys (:data:`PRETRAIN_ONLY_KEYS`).
* :func:`expand_shared_rel_pos_bias` / :func:`drop_per_layer_copies` -- the
  shared relative position table of BEiT-style pre-training backbones, as
  per-layer copies for fine-tuning backbones and back.
* :func:`expand_shared_tables` -- the named pre-load step of model-level
  loads: every BEiT-style backbone below a module that keeps per-layer
  tables gets the checkpoint's shared table.
"""
import re
from collections import OrderedDict
from typing import Dict, Iterator, Tuple

import torch
from torch import nn

from .networks import state_network, strip_prefix

# Pre-training-only parameters of a backbone (ConMIM/CIM/A2MIM mask tokens,
# A2MIM's mask gamma); fine-tuning models lack them.
PRETRAIN_ONLY_KEYS = ('mask_token', 'mask_gamma')


def extract_backbone(state_dict: Dict[str, torch.Tensor],
                     source: str = 'auto') -> Tuple[OrderedDict, str, list]:
    """Select one backbone of a pre-training model's state dict.

    Args:
        state_dict: the model's state dict (``checkpoint['state_dict']``).
        source: ``'teacher'`` (ConMIM's momentum encoder, what the official
            recipe fine-tunes from), ``'student'`` (the ``backbone.*`` keys),
            or ``'auto'``: the teacher when the model has one, else the
            student (A2MIM and CIM have a single network). The rule and the
            key prefixes come from :mod:`mmconmim.checkpoint.networks`.

    Returns:
        (weights with keys ``backbone.<name>``, the source used, the dropped
        pre-training-only keys)
    """
    prefix, source = state_network(state_dict, None, source)
    weights, dropped = OrderedDict(), []
    for name, value in strip_prefix(state_dict, prefix).items():
        if name.split('.')[-1] in PRETRAIN_ONLY_KEYS:
            dropped.append(name)
            continue
        weights['backbone.' + name] = value.detach().clone().contiguous()
    if not weights:
        raise KeyError(f'no {prefix}* keys in the checkpoint')
    # a plain str: exporters write it into checkpoint meta, which the
    # weights-only gate reads back
    return weights, str(source), dropped


# BEiT-style backbones pre-train with one relative position table shared by
# all layers (``rel_pos_bias.*``); fine-tuning BEiTViTs have one table per
# layer. mmpretrain's BEiTViT load hook copies the shared table into the
# layers only when the backbone is the root of the load (it looks for the
# key without prefix), so a model-level load (``load_from``, ``tools/test.py``,
# ``get_model(pretrained=...)``) left every layer's table at zero. Exports
# therefore carry the per-layer copies themselves.
SHARED_REL_POS_TABLE = 'rel_pos_bias.relative_position_bias_table'
LAYER_REL_POS_TABLE = 'layers.{}.attn.relative_position_bias_table'


def expand_shared_rel_pos_bias(state_dict: Dict[str, torch.Tensor],
                               prefix: str = 'backbone.') -> OrderedDict:
    """Per-layer copies of a shared relative position table.

    Returns the new entries
    ``{prefix}layers.N.attn.relative_position_bias_table`` (a clone of
    ``{prefix}rel_pos_bias.relative_position_bias_table``) for
    every layer ``N`` under ``prefix`` that has no table of its own; empty
    when there is no shared table. The shared table itself is kept, so the
    weights still load into pre-training backbones (shared table) as well as
    into fine-tuning ones (per-layer tables) through any loading route.
    """
    shared = state_dict.get(prefix + SHARED_REL_POS_TABLE)
    if shared is None:
        return OrderedDict()
    layer_key = re.compile(re.escape(prefix) + r'layers\.(\d+)\.')
    layers = sorted({int(m.group(1)) for m in map(layer_key.match, state_dict)
                     if m is not None})
    return OrderedDict(
        (prefix + LAYER_REL_POS_TABLE.format(i), shared.clone())
        for i in layers
        if prefix + LAYER_REL_POS_TABLE.format(i) not in state_dict)


def drop_per_layer_copies(state_dict: Dict[str, torch.Tensor],
                           prefix: str = '') -> OrderedDict:
    """The inverse of :func:`expand_shared_rel_pos_bias`: ``state_dict``
    without the per-layer tables under ``prefix`` that equal the shared one,
    for a backbone that keeps the shared table (pre-training layout). Tables
    that differ from it are kept (and reported by the load as unexpected)."""
    shared = state_dict.get(prefix + SHARED_REL_POS_TABLE)
    if shared is None:
        return OrderedDict(state_dict)
    layer_table = re.compile(
        re.escape(prefix) + r'layers\.\d+\.attn\.relative_position_bias_table$')
    return OrderedDict(
        (key, value) for key, value in state_dict.items()
        if not (layer_table.match(key) and torch.equal(value, shared)))


def per_layer_table_backbones(root: nn.Module
                              ) -> Iterator[Tuple[str, nn.Module]]:
    """(prefix, module) of BEiT-style backbones below ``root`` that keep one
    relative position table per layer and no shared one."""
    for path, module in root.named_modules():
        if (path and getattr(module, 'use_rel_pos_bias', False)
                and getattr(module, 'rel_pos_bias', True) is None
                and isinstance(getattr(module, 'layers', None),
                               nn.ModuleList)):
            yield path + '.', module


def expand_shared_tables(root: nn.Module, state_dict: dict) -> Dict[str, int]:
    """Pre-load step of a model-level load into ``root``: give every
    BEiT-style backbone below it that keeps per-layer relative position
    tables the shared table of ``state_dict`` (in place), then drop the
    shared table it has used up.

    mmpretrain's ``BEiTViT`` expands the shared table only when the backbone
    itself is the root of the load, so ``load_from``, ``tools/test.py`` and
    ``get_model(pretrained=...)`` left every layer's table at zero.

    Returns:
        backbone prefix -> number of layers that got a copy.
    """
    copied = {}
    for prefix, _ in per_layer_table_backbones(root):
        added = expand_shared_rel_pos_bias(state_dict, prefix)
        if added:
            state_dict.update(added)
            copied[prefix] = len(added)
        if prefix + SHARED_REL_POS_TABLE in state_dict:
            # every layer has its table now: the shared one is used up
            state_dict.pop(prefix + SHARED_REL_POS_TABLE)
            state_dict.pop(prefix + 'rel_pos_bias.relative_position_index',
                           None)
    return copied
