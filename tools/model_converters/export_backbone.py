"""Export the backbone of a pre-training checkpoint for downstream use.

    python tools/model_converters/export_backbone.py CKPT OUT \\
        [--student] [--no-prefix] [--force]

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

A shared relative position table (ConMIM/CIM ViTs) is written twice: as is
(``rel_pos_bias.relative_position_bias_table``, for pre-training backbones)
and copied into every layer (``layers.N.attn.relative_position_bias_table``),
so that fine-tuning BEiTViTs get it through every loading route, also those
where mmpretrain's own expansion does not run (``load_from``,
``tools/test.py``, ``get_model(pretrained=...)``); see docs/transfer.md.

OUT must not be CKPT (refused) and must not exist unless ``--force``; it is
written atomically with the umask's permissions. CKPT must be a local file
(its checksum is recorded): URLs are not taken here.
"""
import argparse
import hashlib
import os.path as osp

import mmconmim
from mmconmim.checkpoint import (check_output_path, load_file,
                                 refusals_as_exit, save_file)
from mmconmim.checkpoint.layout import (expand_shared_rel_pos_bias,
                                        extract_backbone)


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
    parser.add_argument(
        '--force', action='store_true',
        help='overwrite OUT if it exists (OUT may never be CKPT)')
    return parser.parse_args()


def sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def main():
    args = parse_args()
    with refusals_as_exit(KeyError, ValueError):
        export(args)


def export(args):
    check_output_path(args.out, [args.checkpoint], args.force)
    ckpt = load_file(args.checkpoint, allow_urls=False)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{args.checkpoint} holds a {type(ckpt).__name__}, '
                         'not a checkpoint dict')
    state_dict = ckpt.get('state_dict', ckpt)
    weights, source, dropped = extract_backbone(
        state_dict, 'student' if args.student else 'auto')
    per_layer_tables = expand_shared_rel_pos_bias(weights, 'backbone.')
    weights.update(per_layer_tables)
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
        per_layer_rel_pos_tables=len(per_layer_tables),
        mmconmim_version=mmconmim.__version__)
    save_file(dict(state_dict=weights, meta=meta), args.out)
    print(f'exported the {source} backbone ({len(weights)} tensors, '
          f'iteration {meta["iteration"]}) to {args.out}; dropped '
          f'{dropped or "nothing"}'
          + (f'; shared relative position table copied into '
             f'{len(per_layer_tables)} layers' if per_layer_tables else ''))


if __name__ == '__main__':
    main()
