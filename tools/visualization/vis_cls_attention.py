"""Write a PNG of CLS-attention maps: the attention of the CLS token to every
patch in one transformer layer (default: the last), averaged over heads.

    python tools/visualization/vis_cls_attention.py CONFIG CHECKPOINT \
        --out attn.png [--images a.jpg b.jpg] [--num-images 4] \
        [--layer -1] [--source auto|teacher|student] [--img-size N]

mmpretrain's attention modules return no weights; the maps are recomputed
from the layer's input with its own q/k weights and relative position bias
(mmconmim/evaluation/maps.py). ViT backbones only. Without ``--images`` the
first images of the config's training set are used, resized (short edge)
and centre-cropped to the backbone's input size.

Layout: one row per image: the crop, the head-averaged attention map (patch
grid, nearest, with a colour bar), and the map upsampled and overlaid on the
same colour scale; the title names the checkpoint and its iteration, the
source network and the layer. Each panel is 3 x 3
inches at 100 dpi: the PNG is 900 x 300 * images pixels.
"""
import argparse
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.utils import mkdir_or_exist  # noqa: E402

import mmconmim  # noqa: E402,F401
from mmconmim.evaluation.features import (SOURCES,  # noqa: E402
                                          default_img_size, unwrap)
from mmconmim.evaluation.loading import load_model, quiet_logger  # noqa: E402
from mmconmim.evaluation.maps import (cls_attention_maps,  # noqa: E402
                                      load_images, sample_paths)
from mmconmim.checkpoint.info import checkpoint_label  # noqa: E402

PANEL_INCHES, DPI = 3, 100
TITLES = ('input', 'CLS attention (mean of heads)', 'overlay')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='pre-training config')
    parser.add_argument('checkpoint',
                        help="checkpoint, or 'none' (random initialisation)")
    parser.add_argument('--out', required=True, help='output PNG path')
    parser.add_argument('--images', nargs='+', help='image files')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--layer', type=int, default=-1,
                        help='transformer layer index (default: last)')
    parser.add_argument('--source', choices=SOURCES, default='auto')
    parser.add_argument('--img-size', type=int)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main():
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md
    args = parse_args()
    quiet_logger()
    model, backbone, source, cfg = load_model(
        args.config, args.checkpoint, args.source, args.cfg_options)
    img_size = args.img_size or default_img_size(model, source)
    paths = args.images or sample_paths(cfg, args.num_images)
    inputs, rgb = load_images(paths, img_size, unwrap(model))
    maps = cls_attention_maps(backbone, inputs, args.layer)  # (B, h, w)
    up = F.interpolate(maps[:, None], size=(img_size, img_size),
                       mode='bilinear', align_corners=False)[:, 0]

    fig, axes = plt.subplots(
        len(paths), 3, figsize=(PANEL_INCHES * 3, PANEL_INCHES * len(paths)),
        squeeze=False)
    for row, path in enumerate(paths):
        panels = (axes[row][0], rgb[row].numpy(), {}), \
            (axes[row][1], maps[row].numpy(),
             dict(cmap='inferno', interpolation='nearest')), \
            (axes[row][2], rgb[row].numpy(), {})
        for ax, img, kwargs in panels:
            ax.imshow(img, **kwargs)
            ax.set_xticks([])
            ax.set_yticks([])
        # the map and its overlay share one colour scale, shown by the bar
        vmin, vmax = float(maps[row].min()), float(maps[row].max())
        heat = axes[row][1].images[0]
        heat.set_clim(vmin, vmax)
        axes[row][2].imshow(up[row].numpy(), cmap='inferno', alpha=0.6,
                            vmin=vmin, vmax=vmax)
        fig.colorbar(heat, ax=axes[row][1], fraction=0.046, pad=0.02,
                     label='attention weight')
        axes[row][0].set_ylabel(osp.basename(path), fontsize=8)
        if row == 0:
            for ax, title in zip(axes[row], TITLES):
                ax.set_title(title, fontsize=10)
    num_layers = len(backbone.layers)
    layer = args.layer % num_layers
    fig.suptitle(f'{checkpoint_label(args.checkpoint)}: {source} backbone, '
                 f'layer {layer + 1} of {num_layers}', fontsize=9)
    fig.tight_layout()
    mkdir_or_exist(osp.dirname(osp.abspath(args.out)))
    fig.savefig(args.out, dpi=DPI)
    print(f'wrote {args.out} ({len(paths)} images, layer {layer + 1} of '
          f'{num_layers})')


if __name__ == '__main__':
    main()
