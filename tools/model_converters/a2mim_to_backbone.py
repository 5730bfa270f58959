"""Export the backbone of an A2MIM checkpoint for fine-tuning and transfer.

    python tools/model_converters/a2mim_to_backbone.py CKPT OUT [--no-prefix]

A raw A2MIM runner checkpoint already works downstream with
``init_cfg=dict(type='Pretrained', checkpoint=CKPT, prefix='backbone.')``
(the A2MIM-only ``mask_token``/``mask_gamma`` are reported as unexpected
keys). This tool writes a small plain file instead: only the ``backbone.*``
tensors without ``mask_token``/``mask_gamma``, as ``{'state_dict': ...}``,
which ``torch.load(weights_only=True)`` accepts without mmconmim.

By default the ``backbone.`` prefix is kept (use ``prefix='backbone.'``);
``--no-prefix`` writes bare keys, which for ResNet are torchvision's layout.
"""
import argparse
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
from mmconmim.utils.compat import safe_torch_load  # noqa: E402

PREFIX = 'backbone.'
A2MIM_ONLY = ('mask_token', 'mask_gamma')


def extract_backbone(state_dict: dict, keep_prefix: bool = True) -> dict:
    backbone = {}
    for key, value in state_dict.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX):]
        if name in A2MIM_ONLY:
            continue
        backbone[key if keep_prefix else name] = value
    if not backbone:
        raise ValueError('no backbone.* weights found: is this an A2MIM '
                         'checkpoint?')
    return backbone


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', help='A2MIM checkpoint')
    parser.add_argument('out', help='output file')
    parser.add_argument('--no-prefix', action='store_true',
                        help="drop the 'backbone.' prefix")
    args = parser.parse_args()
    ckpt = safe_torch_load(args.checkpoint, map_location='cpu')
    state_dict = ckpt.get('state_dict', ckpt)
    backbone = extract_backbone(state_dict, keep_prefix=not args.no_prefix)
    torch.save({'state_dict': backbone}, args.out)
    print(f'wrote {len(backbone)} backbone tensors to {args.out}')


if __name__ == '__main__':
    main()
