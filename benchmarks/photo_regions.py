"""Build "photo-regions-13", a small labelled collection of real image crops,
offline, from the 13 public-domain / CC0 photographs in data/demo/images.

    python benchmarks/photo_regions.py OUT_DIR [--per-class 48] [--size 64] \
        [--jitter 0.2] [--seed 0]

Class = source photograph (13 classes). Each photo is cut into four
quadrants; **train** crops come from the top-left and bottom-right quadrants,
**val** crops from the other two, so no val pixel is in the train set and a
classifier must recognise a photo from a part it has not seen. Each crop is
a random square of 50-100 % of the quadrant's short side, resized to
``size`` px (bicubic), with independent random brightness and contrast
factors in [1 - jitter, 1 + jitter]. Output: ``OUT_DIR/{train,val}/<photo>/
NNN.jpg`` (one sub-folder per class, as mmpretrain's ``CustomDataset``
reads it) and ``OUT_DIR/README.txt`` (source and license). Deterministic
for a given seed. See benchmarks/photo_regions.md.
"""
import argparse
import glob
import os
import os.path as osp
import shutil

import numpy as np
from PIL import Image, ImageEnhance

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_SOURCE = osp.join(REPO_ROOT, 'data', 'demo', 'images')
# (column, row) of the quadrants each split draws from
QUADRANTS = {'train': ((0, 0), (1, 1)), 'val': ((1, 0), (0, 1))}
README = '''photo-regions-13: labelled crops of 13 photographs (class = photo).
Built by benchmarks/photo_regions.py (per_class={per_class}, size={size},
jitter={jitter}, seed={seed}) from data/demo/images of the mmconmim
repository: public-domain and CC0 photographs taken from scikit-image's
sample data (see data/demo/README.md there for each image's source and
license). The crops inherit those terms: public domain / CC0 / no known
copyright restrictions.
train: crops of the top-left and bottom-right quadrants of each photo;
val: crops of the top-right and bottom-left quadrants.
'''


def build_photo_regions(out_dir: str, source: str = DEFAULT_SOURCE,
                        per_class: int = 48, size: int = 64,
                        jitter: float = 0.2, seed: int = 0) -> dict:
    """Write the collection; returns ``{split: number of images}``."""
    if per_class < 1 or size < 8 or not 0 <= jitter < 1:
        raise ValueError(f'need per_class >= 1, size >= 8 and 0 <= jitter '
                         f'< 1, got {per_class}, {size}, {jitter}')
    photos = sorted(
        p for p in glob.glob(osp.join(source, '*'))
        if p.lower().endswith(('.jpg', '.jpeg', '.png')))
    if len(photos) < 2:
        raise FileNotFoundError(f'need at least 2 photos in {source!r}, '
                                f'found {len(photos)}')
    for split in QUADRANTS:  # no stale crops of an earlier build
        shutil.rmtree(osp.join(out_dir, split), ignore_errors=True)
    rng = np.random.default_rng(seed)
    counts = {split: 0 for split in QUADRANTS}
    for path in photos:
        name = osp.splitext(osp.basename(path))[0]
        img = Image.open(path).convert('RGB')
        width, height = img.size
        for split, quadrants in QUADRANTS.items():
            folder = osp.join(out_dir, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(per_class):
                col, row = quadrants[i % len(quadrants)]
                x0, x1 = col * width // 2, (col + 1) * width // 2
                y0, y1 = row * height // 2, (row + 1) * height // 2
                side = max(8, int(rng.uniform(0.5, 1.0) *
                                  min(x1 - x0, y1 - y0)))
                x = int(rng.integers(x0, x1 - side + 1))
                y = int(rng.integers(y0, y1 - side + 1))
                crop = img.crop((x, y, x + side, y + side)).resize(
                    (size, size), Image.BICUBIC)
                if jitter:
                    crop = ImageEnhance.Brightness(crop).enhance(
                        rng.uniform(1 - jitter, 1 + jitter))
                    crop = ImageEnhance.Contrast(crop).enhance(
                        rng.uniform(1 - jitter, 1 + jitter))
                crop.save(osp.join(folder, f'{i:03d}.jpg'), quality=90)
                counts[split] += 1
    with open(osp.join(out_dir, 'README.txt'), 'w') as f:
        f.write(README.format(per_class=per_class, size=size, jitter=jitter,
                              seed=seed))
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir')
    parser.add_argument('--source', default=DEFAULT_SOURCE,
                        help='folder of photographs (one class each)')
    parser.add_argument('--per-class', type=int, default=48,
                        help='crops per class and split')
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--jitter', type=float, default=0.2)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    counts = build_photo_regions(args.out_dir, args.source, args.per_class,
                                 args.size, args.jitter, args.seed)
    print(f'wrote {args.out_dir}: {counts["train"]} train / {counts["val"]} '
          'val images')


if __name__ == '__main__':
    main()
