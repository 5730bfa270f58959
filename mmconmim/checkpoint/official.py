"""The official ConMIM/BEiT key layout (Yi et al., ICLR 2023, released
code) mapped to mmpretrain's ``BEiTViT`` / ``NonLinearNeck`` and back
(docs/transfer.md has the table). The backbone layout of our own
checkpoints is :mod:`mmconmim.checkpoint.layout`.
"""
import re
from collections import OrderedDict
from typing import Dict

import torch

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
