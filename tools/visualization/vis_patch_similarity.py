"""Write a PNG of patch-similarity maps (as in the ConMIM paper's figure):
for chosen query patches, the cosine similarity between the query patch's
embedding and every patch embedding of the same image.

    python tools/visualization/vis_patch_similarity.py CONFIG CHECKPOINT \
        --out sim.png [--images a.jpg b.jpg] [--num-images 2] \
        [--query 1,1 4,4 6,6] [--source auto|teacher|student] \
        [--embedding backbone|projected] [--img-size N]

Queries are (row, col) coordinates on the patch grid (8x8 for the 64-px
demo); by default three patches evenly spread along the diagonal.
``--embedding backbone`` (default) uses the encoder's last-layer patch
tokens, as in the paper's figure; ``projected`` passes them through ConMIM's
projector (the loss's space). Without ``--images`` the first images of the
config's training set are used; each is resized (short edge) and
centre-cropped to the backbone's input size.

Layout: one row per image: the crop with the query patches boxed, then one
panel per query (similarity upsampled bilinearly, overlaid, with a colour
bar); the title names the checkpoint and its iteration. Each panel is
3 x 3 inches at 100 dpi, so the PNG is 300 * (1 + queries) x 300 * images
pixels.
"""
import argparse
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.utils import mkdir_or_exist  # noqa: E402

import mmconmim  # noqa: E402,F401
from mmconmim.checkpoint.networks import select_projector  # noqa: E402
from mmconmim.evaluation.features import (SOURCES,  # noqa: E402
                                          default_img_size, unwrap)
from mmconmim.evaluation.loading import load_model, quiet_logger  # noqa: E402
from mmconmim.evaluation.maps import (check_queries,  # noqa: E402
                                      default_queries, load_images,
                                      patch_embeddings, sample_paths,
                                      similarity_maps)
from mmconmim.checkpoint.info import checkpoint_label  # noqa: E402

PANEL_INCHES, DPI = 3, 100


def parse_query(text: str):
    try:
        row, col = (int(v) for v in text.split(','))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'query {text!r} is not ROW,COL (two integers)')
    return row, col


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='pre-training config')
    parser.add_argument('checkpoint',
                        help="checkpoint, or 'none' (random initialisation)")
    parser.add_argument('--out', required=True, help='output PNG path')
    parser.add_argument('--images', nargs='+', help='image files')
    parser.add_argument('--num-images', type=int, default=2)
    parser.add_argument('--query', nargs='+', type=parse_query,
                        help='query patches as ROW,COL (patch grid)')
    parser.add_argument('--source', choices=SOURCES, default='auto')
    parser.add_argument('--embedding', choices=('backbone', 'projected'),
                        default='backbone')
    parser.add_argument('--img-size', type=int)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def projector_for(model, source):
    try:
        return select_projector(model, source)[0]
    except ValueError as exc:
        raise ValueError(f'--embedding projected: {exc}') from exc


def main():
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md
    args = parse_args()
    quiet_logger()
    model, backbone, source, cfg = load_model(
        args.config, args.checkpoint, args.source, args.cfg_options)
    img_size = args.img_size or default_img_size(model, source)
    paths = args.images or sample_paths(cfg, args.num_images)
    inputs, rgb = load_images(paths, img_size, unwrap(model))
    projector = projector_for(model, source) \
        if args.embedding == 'projected' else None
    if projector is not None:
        projector.eval()
    grids = patch_embeddings(backbone, inputs, projector)  # (B, h, w, C)
    grid = tuple(grids.shape[1:3])
    queries = check_queries(args.query or default_queries(grid), grid)
    cell_h, cell_w = img_size / grid[0], img_size / grid[1]

    cols = 1 + len(queries)
    fig, axes = plt.subplots(
        len(paths), cols, figsize=(PANEL_INCHES * cols,
                                   PANEL_INCHES * len(paths)),
        squeeze=False)
    colors = plt.cm.tab10.colors
    for row, path in enumerate(paths):
        sims = similarity_maps(grids[row], queries)  # (Q, h, w)
        up = F.interpolate(sims[None], size=(img_size, img_size),
                           mode='bilinear', align_corners=False)[0]
        ax = axes[row][0]
        ax.imshow(rgb[row].numpy())
        for i, (r, c) in enumerate(queries):
            ax.add_patch(Rectangle((c * cell_w, r * cell_h), cell_w, cell_h,
                                   fill=False, lw=2,
                                   color=colors[i % len(colors)]))
        ax.set_ylabel(osp.basename(path), fontsize=8)
        if row == 0:
            ax.set_title(f'{source} {args.embedding}')
        for i, (r, c) in enumerate(queries):
            ax = axes[row][1 + i]
            ax.imshow(rgb[row].numpy())
            heat = ax.imshow(
                up[i].numpy(), cmap='jet', alpha=0.55,
                vmin=float(torch.clamp(sims[i].min(), max=0.99)), vmax=1.)
            fig.colorbar(heat, ax=ax, fraction=0.046, pad=0.02,
                         label='cosine similarity')
            ax.add_patch(Rectangle((c * cell_w, r * cell_h), cell_w, cell_h,
                                   fill=False, lw=2, color='white'))
            if row == 0:
                ax.set_title(f'query ({r}, {c})')
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f'{checkpoint_label(args.checkpoint)}: {source} '
                 f'{args.embedding} patch embeddings', fontsize=9)
    fig.tight_layout()
    mkdir_or_exist(osp.dirname(osp.abspath(args.out)))
    fig.savefig(args.out, dpi=DPI)
    print(f'wrote {args.out} ({len(paths)} images x {len(queries)} queries, '
          f'{grid[0]}x{grid[1]} patch grid)')


if __name__ == '__main__':
    main()
