"""Tiny synthetic downstream datasets in the real on-disk formats."""
import json
import os
import os.path as osp

import numpy as np
from PIL import Image


def _image(rng, size):
    yy, xx = np.mgrid[0:size, 0:size]
    base = rng.integers(0, 256, 3)
    img = base + 50 * np.sin((xx + 2 * yy) / 5.)[..., None]
    return img.clip(0, 255).astype(np.uint8)


def make_class_folders(root, classes=('a', 'b', 'c'), per_class=4, size=72):
    """ImageNet-style folder per class (mmpretrain CustomDataset)."""
    rng = np.random.default_rng(0)
    for c in classes:
        os.makedirs(osp.join(root, c), exist_ok=True)
        for i in range(per_class):
            Image.fromarray(_image(rng, size)).save(
                osp.join(root, c, f'{c}_{i}.jpg'))
    return root


def make_ade20k(root, num=4, size=64):
    """ADEChallengeData2016 layout: images/*.jpg, annotations/*.png with
    0 = 'other' (ignored after reduce_zero_label) and 1..150 classes."""
    rng = np.random.default_rng(1)
    for split in ('training', 'validation'):
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations', split), exist_ok=True)
        for i in range(num):
            img = _image(rng, size)
            seg = np.zeros((size, size), np.uint8)
            seg[:size // 2] = rng.integers(1, 151)
            seg[size // 2:, size // 2:] = rng.integers(1, 151)
            name = f'ADE_{split}_{i:08d}'
            Image.fromarray(img).save(
                osp.join(root, 'images', split, name + '.jpg'))
            Image.fromarray(seg).save(
                osp.join(root, 'annotations', split, name + '.png'))
    return root


def make_coco(root, num=4, size=64, classes=('person', 'car')):
    """COCO instances json with boxes and polygon masks."""
    rng = np.random.default_rng(2)
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    images, annotations = [], []
    for i in range(num):
        file_name = f'{i:012d}.jpg'
        Image.fromarray(_image(rng, size)).save(
            osp.join(root, 'images', file_name))
        images.append(dict(id=i + 1, file_name=file_name, width=size,
                           height=size))
        for j in range(2):
            x, y = int(rng.integers(2, size // 2)), int(rng.integers(2, size // 2))
            w, h = int(rng.integers(12, size // 2)), int(rng.integers(12, size // 2))
            annotations.append(dict(
                id=len(annotations) + 1, image_id=i + 1,
                category_id=1 + (j % len(classes)), iscrowd=0,
                bbox=[x, y, w, h], area=float(w * h),
                segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]]))
    categories = [dict(id=k + 1, name=n) for k, n in enumerate(classes)]
    ann_file = osp.join(root, 'instances.json')
    with open(ann_file, 'w') as f:
        json.dump(dict(images=images, annotations=annotations,
                       categories=categories), f)
    return root
