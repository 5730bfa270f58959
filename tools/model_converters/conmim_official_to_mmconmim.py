"""Convert an official ConMIM (TencentARC/ConMIM, BEiT code base) checkpoint
to mmpretrain/mmconmim key names.

    python tools/model_converters/conmim_official_to_mmconmim.py \\
        SRC OUT [--force]

SRC is e.g. ``checkpoint_copy-799.pth`` (the teacher, which the official
README fine-tunes from) or a fine-tuned classifier. The weights are taken
from ``model`` (or ``module``/``state_dict``). Backbone keys become
``backbone.*`` (``blocks.N`` -> ``layers.N``, ``norm1/2`` -> ``ln1/2``,
``mlp.fc1/fc2`` -> ``ffn.layers.0.0/1``, ``patch_embed.proj`` ->
``patch_embed.projection``, final ``norm`` -> ``ln1``, ``fc_norm`` -> ``ln2``),
the projector ``projectors.{0,1,3,4,6,7}`` becomes ``neck.{fc0,bn0,fc1,bn1,
fc2,bn2}``, a classifier ``head`` becomes ``head.fc``; the unused ``lm_head``
is dropped (and reported). The full table is in docs/transfer.md.
As in exported backbones, a shared relative position table is also copied
into every layer (``backbone.layers.N.attn.relative_position_bias_table``), so
fine-tuning BEiTViTs receive it through every loading route.

OUT must not be SRC (refused) and must not exist unless ``--force``; it is
written atomically (temporary file, then rename) with the umask's
permissions.

The official checkpoints also pickle the training arguments (an
``argparse.Namespace``) and numpy objects; the loader allows exactly those on
top of tensors (``weights_only=True``).
"""
import argparse
import os.path as osp

from mmconmim.checkpoint import (check_output_path, load_file,
                                 refusals_as_exit, save_file)
from mmconmim.checkpoint.layout import expand_shared_rel_pos_bias
from mmconmim.checkpoint.official import official_to_mmpretrain


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('out', help='output file (.pth)')
    parser.add_argument('--force', action='store_true',
                        help='overwrite OUT if it exists (OUT may never be '
                        'SRC)')
    args = parser.parse_args()
    with refusals_as_exit(KeyError, ValueError):
        convert(args)


def convert(args):
    check_output_path(args.out, [args.src], args.force)
    ckpt = load_file(args.src, extra_globals=[argparse.Namespace],
                     allow_urls=False)
    for key in ('model', 'module', 'state_dict'):
        if isinstance(ckpt, dict) and key in ckpt:
            ckpt = ckpt[key]
            break
    converted, skipped = official_to_mmpretrain(ckpt)
    per_layer_tables = expand_shared_rel_pos_bias(converted, 'backbone.')
    converted.update(per_layer_tables)
    save_file(dict(state_dict=converted,
                   meta=dict(source_checkpoint=osp.abspath(args.src),
                             dropped_keys=skipped,
                             per_layer_rel_pos_tables=len(per_layer_tables))),
              args.out)
    print(f'converted {len(converted)} tensors to {args.out}; dropped '
          f'{len(skipped)} unused keys ({", ".join(skipped[:4])}'
          f'{"..." if len(skipped) > 4 else ""})'
          + (f'; shared relative position table copied into '
             f'{len(per_layer_tables)} layers' if per_layer_tables else ''))


if __name__ == '__main__':
    main()
