"""Build "photo-halves-13" (halves32 in docs/conmim_small_scale.md), the
second labelled set of issue 25's small-scale study, offline, from the 13
photographs in data/demo/images:

    python benchmarks/conmim_small_scale.py --make-halves OUT_DIR

Class = source photograph. **train** crops come from the TOP half of each
photo and **val** crops from the BOTTOM half (so the val images show other
content of the same photos: section 12 of the doc measures what that shift
does), squares of 20-40 % of the short side resized to 32 px, 48 per class
and split. Deterministic for a given seed. Output: ``OUT_DIR/{train,val}/
<photo>/NNN.jpg``.
"""
import os
import os.path as osp

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def make_halves(out_dir, size=32, per_class=48, seed=1):
    """photo-halves-13: 13 classes (one per photo of data/demo/images);
    train crops from the TOP half of each photo, val crops from the BOTTOM
    half (a different split from photo-regions' quadrants), squares of
    20-40 % of the short side (texture scale) resized to ``size`` px."""
    import glob
    import shutil

    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    photos = sorted(glob.glob(osp.join(REPO_ROOT, 'data', 'demo', 'images',
                                       '*.jpg')))
    for split in ('train', 'val'):
        shutil.rmtree(osp.join(out_dir, split), ignore_errors=True)
    for path in photos:
        name = osp.splitext(osp.basename(path))[0]
        img = Image.open(path).convert('RGB')
        w, h = img.size
        for split, (top, bottom) in (('train', (0, h // 2)),
                                     ('val', (h // 2, h))):
            folder = osp.join(out_dir, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(per_class):
                side = int(min(w, h) * rng.uniform(0.2, 0.4))
                side = min(side, bottom - top)
                x = int(rng.integers(0, w - side + 1))
                y = int(rng.integers(top, bottom - side + 1))
                crop = img.crop((x, y, x + side, y + side)).resize(
                    (size, size), Image.BICUBIC)
                crop.save(osp.join(folder, f'{i:03d}.jpg'), quality=90)
    print(f'written {out_dir}: {len(photos)} classes x {per_class} per split')
