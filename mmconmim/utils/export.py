"""Turn pre-training checkpoints into downstream backbone weights, and map
the official ConMIM/BEiT key layout to mmpretrain's.

Exported files are plain tensor state dicts (``torch.load(...,
weights_only=True)`` reads them) with the keys prefixed by ``backbone.``, so
any mmpretrain/mmseg/mmdet config loads them with
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
"""
import re
from collections import OrderedDict
from typing import Dict, Tuple

import torch

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
            key prefixes come from :mod:`mmconmim.apis.networks`.

    Returns:
        (weights with keys ``backbone.<name>``, the source used, the dropped
        pre-training-only keys)
    """
    from mmconmim.apis.networks import state_network, strip_prefix
    prefix, source = state_network(state_dict, None, source)
    weights, dropped = OrderedDict(), []
    for name, value in strip_prefix(state_dict, prefix).items():
        if name.split('.')[-1] in PRETRAIN_ONLY_KEYS:
            dropped.append(name)
            continue
        weights['backbone.' + name] = value.detach().clone().contiguous()
    if not weights:
        raise KeyError(f'no {prefix}* keys in the checkpoint')
    return weights, source, dropped


# Official ConMIM (BEiT code base) -> mmpretrain BEiTViT / NonLinearNeck.
# Applied in order to the key after removing an optional "module."/"model."
# wrapper; see docs/transfer.md for the table.
OFFICIAL_TO_MMPRETRAIN = [
    (r'^patch_embed\.proj\.', 'backbone.patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'backbone.layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'backbone.layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'backbone.layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'backbone.layers.\1.ffn.layers.1.'),
    (r'^blocks\.(\d+)\.', r'backbone.layers.\1.'),  # attn.*, gamma_1/2
    (r'^norm\.', 'backbone.ln1.'),
    (r'^fc_norm\.', 'backbone.ln2.'),
    (r'^(cls_token|mask_token|pos_embed)$', r'backbone.\1'),
    (r'^rel_pos_bias\.', 'backbone.rel_pos_bias.'),
    # projector: Linear, BN, ReLU, Linear, BN, ReLU, Linear, BN(affine=False)
    (r'^projectors\.0\.', 'neck.fc0.'),
    (r'^projectors\.1\.', 'neck.bn0.'),
    (r'^projectors\.3\.', 'neck.fc1.'),
    (r'^projectors\.4\.', 'neck.bn1.'),
    (r'^projectors\.6\.', 'neck.fc2.'),
    (r'^projectors\.7\.', 'neck.bn2.'),
    (r'^head\.', 'head.fc.'),
]
MMPRETRAIN_TO_OFFICIAL = [
    (r'^backbone\.patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^backbone\.layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
    (r'^backbone\.layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
    (r'^backbone\.layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^backbone\.layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^backbone\.layers\.(\d+)\.', r'blocks.\1.'),
    (r'^backbone\.ln1\.', 'norm.'),
    (r'^backbone\.ln2\.', 'fc_norm.'),
    (r'^backbone\.', ''),
    (r'^neck\.fc0\.', 'projectors.0.'),
    (r'^neck\.bn0\.', 'projectors.1.'),
    (r'^neck\.fc1\.', 'projectors.3.'),
    (r'^neck\.bn1\.', 'projectors.4.'),
    (r'^neck\.fc2\.', 'projectors.6.'),
    (r'^neck\.bn2\.', 'projectors.7.'),
    (r'^head\.fc\.', 'head.'),
]
OFFICIAL_UNUSED = (r'^lm_head\.', )


def _rename(key: str, rules) -> str:
    for pattern, repl in rules:
        new, count = re.subn(pattern, repl, key)
        if count:
            return new
    raise KeyError(f'no mapping for key {key!r}')


def official_to_mmpretrain(state_dict: Dict[str, torch.Tensor]):
    """Map official ConMIM/BEiT keys to ours.

    Returns:
        (converted state dict, list of official keys without a counterpart,
        e.g. the unused ``lm_head``)
    """
    converted, skipped = OrderedDict(), []
    for key, value in state_dict.items():
        bare = re.sub(r'^(module|model)\.', '', key)
        if any(re.match(p, bare) for p in OFFICIAL_UNUSED):
            skipped.append(key)
            continue
        converted[_rename(bare, OFFICIAL_TO_MMPRETRAIN)] = value
    return converted, skipped


def mmpretrain_to_official(state_dict: Dict[str, torch.Tensor]):
    """The inverse of :func:`official_to_mmpretrain`."""
    return OrderedDict(
        (_rename(k, MMPRETRAIN_TO_OFFICIAL), v) for k, v in state_dict.items())


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


def same_file(path_a: str, path_b: str) -> bool:
    """Whether two paths name the same file (symlinks and hard links
    included); a path that does not exist yet names no file."""
    import os
    if os.path.exists(path_a) and os.path.exists(path_b):
        return os.path.samefile(path_a, path_b)
    return os.path.realpath(path_a) == os.path.realpath(path_b)


def check_output_path(output: str, inputs, force: bool = False) -> None:
    """Refuse to write a converter's output over its input, or over an
    existing file unless ``force``.

    Raises:
        SystemExit: with a message naming the file and the way out.
    """
    import os
    for src in inputs:
        if same_file(output, src):
            raise SystemExit(
                f'refusing to write the output over the input {src!r}: that '
                'would destroy the source (even with --force); choose another '
                'output path')
    if os.path.isdir(output):
        raise SystemExit(f'the output {output!r} is a directory; give a '
                         'file path (.pth)')
    if os.path.exists(output) and not force:
        raise SystemExit(
            f'the output {output!r} already exists; pass --force to '
            'overwrite it, or choose another path')
