"""Write a PNG of what ConMIM trains on: for a few images of a config's
training set, the original, the student view with its mask, and the
teacher view.

    python tools/visualization/vis_conmim_views.py CONFIG --out views.png \
        [--num-images 4] [--seed 0]

The student (masked) view gets no photometric change; the teacher (full) view
gets the strong photometric ops of the same crop. Masked patches are drawn
darkened.
"""
import argparse
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import mmcv  # noqa: E402
import numpy as np  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import set_random_seed  # noqa: E402
from mmengine.utils import mkdir_or_exist  # noqa: E402
from mmpretrain.registry import DATASETS  # noqa: E402

import mmconmim  # noqa: E402,F401


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='ConMIM config')
    parser.add_argument('--out', required=True, help='output PNG path')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def to_rgb(chw_bgr) -> np.ndarray:
    return chw_bgr.numpy().transpose(1, 2, 0)[..., ::-1]


def overlay_mask(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Darken masked patches of an (H, W, 3) image; mask is (h, w)."""
    scale = img.shape[0] // mask.shape[0], img.shape[1] // mask.shape[1]
    pixel_mask = np.kron(mask, np.ones(scale))[..., None].astype(bool)
    return np.where(pixel_mask, (img * 0.25).astype(img.dtype), img)


def main():
    mmconmim.apply_compat_fixes()  # version fixes: docs/compat.md
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    set_random_seed(args.seed)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    count = min(args.num_images, len(dataset))

    fig, axes = plt.subplots(
        count, 3, figsize=(9, 3 * count), squeeze=False)
    titles = ('original', 'student view + mask', 'teacher view')
    for row in range(count):
        path = dataset.get_data_info(row)['img_path']
        sample = dataset[row]
        student, teacher = sample['inputs']
        mask = np.asarray(sample['data_samples'].mask, dtype=np.uint8)
        panels = (mmcv.imread(path, channel_order='rgb'),
                  overlay_mask(to_rgb(student), mask), to_rgb(teacher))
        for col, (ax, img) in enumerate(zip(axes[row], panels)):
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(titles[col])
        axes[row][0].set_ylabel(osp.basename(path), fontsize=8)
    fig.suptitle(f'{osp.basename(args.config)}: training views and masks '
                 f'(data pipeline only, no checkpoint; seed {args.seed})',
                 fontsize=9)
    fig.tight_layout()
    mkdir_or_exist(osp.dirname(osp.abspath(args.out)))
    fig.savefig(args.out, dpi=100)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
