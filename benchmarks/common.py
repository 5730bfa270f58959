"""What the benchmark scripts share, written once: the checkout they run
from and the parts of their command lines that mean the same thing.

Each script puts the repository root first on ``sys.path`` (one line, so
that ``python benchmarks/<name>.py`` imports this checkout's mmconmim and
``benchmarks.common``) and builds its parser here.
"""
import argparse
import os.path as osp

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def benchmark_parser(doc: str) -> argparse.ArgumentParser:
    """A parser described by the first line of the script's docstring."""
    return argparse.ArgumentParser(description=doc.split('\n')[0])


def add_timing_args(parser: argparse.ArgumentParser, batch_size: int,
                    iters: int, warmup: int, iters_help: str = None) -> None:
    """``--batch-size``, ``--iters`` (timed or trained iterations) and
    ``--warmup`` (iterations before them)."""
    parser.add_argument('--batch-size', type=int, default=batch_size)
    parser.add_argument('--iters', type=int, default=iters, help=iters_help)
    parser.add_argument('--warmup', type=int, default=warmup)


def add_tiny_conmim_args(parser: argparse.ArgumentParser, *, img_size: int,
                         patch_size: int, unit_size: int, unit_help: str,
                         embed_dims: int, num_layers: int, num_heads: int,
                         proj_hidden: int, proj_out: int) -> None:
    """The geometry and size of a tiny ConMIM ViT trained from a script:
    crop, patch and mask unit (px), mask ratio, width, depth, heads and the
    projector's hidden and output widths."""
    parser.add_argument('--img-size', type=int, default=img_size)
    parser.add_argument('--patch-size', type=int, default=patch_size)
    parser.add_argument('--unit-size', type=int, default=unit_size,
                        help=unit_help)
    parser.add_argument('--mask-ratio', type=float, default=0.75)
    parser.add_argument('--embed-dims', type=int, default=embed_dims)
    parser.add_argument('--num-layers', type=int, default=num_layers)
    parser.add_argument('--num-heads', type=int, default=num_heads)
    parser.add_argument('--proj-hidden', type=int, default=proj_hidden)
    parser.add_argument('--proj-out', type=int, default=proj_out)
