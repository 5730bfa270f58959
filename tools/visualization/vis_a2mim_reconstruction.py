"""Write a PNG of what an A2MIM checkpoint reconstructs: for a few images,
the input image, the masked input (masked units filled with the image mean),
the reconstruction and the target.

    python tools/visualization/vis_a2mim_reconstruction.py CONFIG CHECKPOINT \
        --out recon.png [--images a.jpg b.jpg] [--num-images 4] [--seed 0]

Images go through the config's training pipeline (crop, flip, random mask);
without ``--images`` the first images of the config's training set are used.
The reconstruction shows the prediction in the masked units and the input
elsewhere (the loss only covers masked pixels). The title names the
checkpoint and its iteration.
"""
import argparse
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import mmcv  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dataset import Compose, default_collate  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import load_checkpoint, set_random_seed  # noqa: E402
from mmengine.utils import mkdir_or_exist  # noqa: E402
from mmpretrain.registry import DATASETS, MODELS  # noqa: E402

import mmconmim  # noqa: E402,F401
from mmconmim.models.utils.pixel_normalization import (  # noqa: E402
    denormalize_pixels)
from mmconmim.checkpoint.info import checkpoint_label  # noqa: E402

TITLES = ('input', 'masked input (mean fill)', 'reconstruction', 'target')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='A2MIM config')
    parser.add_argument('checkpoint', help='A2MIM checkpoint')
    parser.add_argument('--out', required=True, help='output PNG path')
    parser.add_argument('--images', nargs='+', help='image files')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def to_image(normalised: torch.Tensor, preprocessor) -> np.ndarray:
    """(C, H, W) normalised RGB -> (H, W, C) floats in [0, 1]."""
    img = denormalize_pixels(preprocessor, normalised)
    return (img / 255.).clamp(0, 1).permute(1, 2, 0).numpy()


def main():
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    set_random_seed(args.seed)

    # Like the Runner: a top-level data_preprocessor belongs to the model.
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    dataset_cfg = cfg.train_dataloader.dataset
    pipeline = Compose(dataset_cfg.pipeline)
    paths = args.images
    if not paths:
        dataset = DATASETS.build(dataset_cfg)
        paths = [dataset.get_data_info(i)['img_path']
                 for i in range(min(args.num_images, len(dataset)))]

    fig, axes = plt.subplots(
        len(paths), len(TITLES), figsize=(3 * len(TITLES), 3 * len(paths)),
        squeeze=False)
    for row, path in enumerate(paths):
        batch = default_collate([pipeline(dict(img_path=path))])
        data = model.data_preprocessor(batch, False)
        img = data['inputs']
        mask = torch.stack([s.mask for s in data['data_samples']])
        with torch.no_grad():
            masked_img, img_rec, pixel_mask = model.reconstruct(img, mask)
        m = pixel_mask.unsqueeze(1).to(img.dtype)
        pasted = img_rec * m + img * (1. - m)
        panels = [mmcv.imread(path, channel_order='rgb')] + [
            to_image(x[0], model.data_preprocessor)
            for x in (masked_img, pasted, img)
        ]
        for col, (ax, panel) in enumerate(zip(axes[row], panels)):
            ax.imshow(panel)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(TITLES[col])
        axes[row][0].set_ylabel(osp.basename(path), fontsize=8)
    fig.suptitle(checkpoint_label(args.checkpoint), fontsize=9)
    fig.tight_layout()
    mkdir_or_exist(osp.dirname(osp.abspath(args.out)))
    fig.savefig(args.out, dpi=100)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
