"""Export the backbone of a pre-training checkpoint for downstream use.

    python tools/model_converters/export_backbone.py CKPT OUT [--student] [--no-prefix]

By default a ConMIM checkpoint exports its **teacher** (the momentum encoder,
which the official recipe fine-tunes from); ``--student`` exports the student.
Checkpoints without a teacher (A2MIM, CIM) export their ``backbone``. The
mask token (and A2MIM's mask gamma), projector, heads and the teacher/student
wrappers are dropped.

OUT is a plain tensor state dict, ``{'state_dict': {'backbone.*': tensor},
'meta': {...}}``, readable with ``torch.load(OUT, weights_only=True)``; load
it in any mmpretrain/mmseg/mmdet config with
``init_cfg=dict(type='Pretrained', checkpoint=OUT, prefix='backbone.')``.
``--no-prefix`` writes bare keys instead (for a ResNet-50 these are exactly
torchvision's ``resnet50`` keys without ``fc``).
"""
import argparse
import hashlib
import os
import os.path as osp

import torch

import mmconmim
from mmconmim.utils import safe_torch_load
from mmconmim.utils.export import extract_backbone


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', help='pre-training checkpoint')
    parser.add_argument('out', help='output file (.pth)')
    parser.add_argument(
        '--student', action='store_true',
        help='export the student instead of the EMA teacher')
    parser.add_argument(
        '--no-prefix', action='store_true',
        help="write bare keys instead of 'backbone.*'")
    return parser.parse_args()


def sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def main():
    args = parse_args()
    ckpt = safe_torch_load(args.checkpoint, map_location='cpu')
    state_dict = ckpt.get('state_dict', ckpt)
    weights, source, dropped = extract_backbone(
        state_dict, 'student' if args.student else 'auto')
    if args.no_prefix:
        weights = type(weights)(
            (k[len('backbone.'):], v) for k, v in weights.items())
    src_meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
    meta = dict(
        source=source,
        prefix='' if args.no_prefix else 'backbone.',
        source_checkpoint=osp.abspath(args.checkpoint),
        source_sha256=sha256(args.checkpoint),
        iteration=int(src_meta.get('iter', -1)),
        epoch=int(src_meta.get('epoch', -1)),
        config=str(src_meta.get('cfg', '')),
        dropped_keys=list(dropped),
        mmconmim_version=mmconmim.__version__)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    tmp = args.out + '.tmp'
    torch.save(dict(state_dict=weights, meta=meta), tmp)
    os.replace(tmp, args.out)
    print(f'exported the {source} backbone ({len(weights)} tensors, '
          f'iteration {meta["iteration"]}) to {args.out}; dropped '
          f'{dropped or "nothing"}')


if __name__ == '__main__':
    main()
