"""Convert DALL-E dVAE weights to plain state dicts for CIM.

    python tools/model_converters/dalle_to_mmconmim.py encoder.pkl data/dalle/encoder.pth
    python tools/model_converters/dalle_to_mmconmim.py decoder.pkl data/dalle/decoder.pth

The official ``encoder.pkl`` / ``decoder.pkl`` (openai/DALL-E) are whole
pickled modules of the ``dall_e`` package. They are read with a restricted
unpickler that maps only the known ``dall_e`` / ``torch.nn`` classes to local
stand-ins -- ``dall_e`` need not be installed and no code from the file runs
-- and any other pickled global is refused. A state dict with the official
key names is accepted as well.

The weights are checked by loading them strictly into mmpretrain's
``DALLEEncoder`` / mmconmim's ``DALLEDecoder`` (architecture inferred from
the shapes) and written as ``{'state_dict': ..., 'meta': ...}``, readable with
``torch.load(OUT, weights_only=True)``. Point the CIM configs'
``tokenizer.encoder_checkpoint`` / ``decoder_checkpoint`` at the outputs.
Nothing is downloaded. OUT must not be SRC (refused) and must not exist
unless ``--force``.
"""
import argparse
import hashlib
import os.path as osp

from mmconmim.checkpoint import (check_output_path, refusals_as_exit,
                                 save_file)
from mmconmim.models.tokenizers.dalle_checkpoint import \
    convert_dalle_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official encoder.pkl / decoder.pkl, or '
                        'a state dict with the official key names')
    parser.add_argument('out', help='output .pth')
    parser.add_argument(
        '--kind', choices=['encoder', 'decoder'],
        help='fail unless the file holds this half of the dVAE')
    parser.add_argument('--force', action='store_true',
                        help='overwrite OUT if it exists (OUT may never be '
                        'SRC)')
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
        convert(args)


def convert(args):
    check_output_path(args.out, [args.src], args.force)
    kind, arch, state_dict = convert_dalle_checkpoint(args.src)
    if args.kind is not None and kind != args.kind:
        raise ValueError(f'{args.src} holds a DALL-E {kind}, not a '
                         f'{args.kind}')
    meta = dict(
        dalle_kind=kind,
        arch=arch,
        source=osp.abspath(args.src),
        source_sha256=sha256(args.src))
    save_file(dict(state_dict=state_dict, meta=meta), args.out)
    params = sum(v.numel() for v in state_dict.values())
    print(f'wrote the DALL-E {kind} ({len(state_dict)} tensors, '
          f'{params / 1e6:.2f}M parameters, {arch}) to {args.out}')


if __name__ == '__main__':
    main()
