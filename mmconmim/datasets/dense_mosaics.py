"""Dense (per-pixel and per-instance) labels from a labelled crop folder.

Segmentation and detection need dense labels, which a classification folder
such as benchmarks/photo_regions.py's "photo-regions" does not have. A
mosaic makes them: a grid of crops of *different* classes of one split, each
resized to ``tile_size`` x ``tile_size``; every pixel of a tile is labelled
with its crop's class, and every tile is one instance (its box, its square
polygon). Recognising a tile's class then needs the crop's content, and the
boundaries between tiles are exact.

Two writers share one mosaic builder, so a segmentation set and a detection
set built with the same arguments hold the same images:

* :func:`write_segmentation_mosaics` -- mmsegmentation's layout
  ``out/img_dir/<split>/<name>.png`` (RGB) and ``out/ann_dir/<split>/
  <name>.png`` (uint8 class index per pixel; :data:`IGNORE_INDEX` = 255 for
  no class, unused by full grids), plus ``out/meta.json``.
* :func:`write_detection_mosaics` -- the same, plus COCO json
  ``out/annotations/instances_<split>.json`` (category ids 1..K, one
  annotation per tile).

``meta.json`` is ``{"classes": [...], "palette": [[r, g, b], ...],
"splits": {split: [{"name": ..., "tiles": [{"source": path, "class": idx,
"box": [x0, y0, x1, y1]}, ...]}, ...]}}``; boxes are in pixels, ``x1`` /
``y1`` exclusive (a tile covers ``img[y0:y1, x0:x1]``). Deterministic for a
seed.
"""
import colorsys
import json
import math
import os
import os.path as osp
import shutil
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

__all__ = [
    'IGNORE_INDEX', 'write_segmentation_mosaics', 'write_detection_mosaics'
]

IGNORE_INDEX = 255  # mmseg's default ignore_index
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png')
# bicubic, as benchmarks/photo_regions.py resizes its crops
TILE_RESAMPLE = Image.BICUBIC
_SRC_LAYOUT = ('src must be a labelled folder src/<split>/<class>/*.jpg|png, '
               'as benchmarks/photo_regions.py writes it')

NumPerSplit = Union[None, int, Dict[str, int]]


def _list_split(src: str, split: str) -> Dict[str, List[str]]:
    """``{class: sorted crop paths}`` of one split; refuses bad layouts."""
    folder = osp.join(src, split)
    if not osp.isdir(folder):
        raise FileNotFoundError(f'dense mosaics: no split folder {folder!r} '
                                f'({_SRC_LAYOUT})')
    crops = {}
    for name in sorted(os.listdir(folder)):
        class_dir = osp.join(folder, name)
        if not osp.isdir(class_dir):
            continue
        files = sorted(
            osp.join(class_dir, f) for f in os.listdir(class_dir)
            if f.lower().endswith(IMAGE_SUFFIXES))
        if not files:
            raise FileNotFoundError(
                f'dense mosaics: class folder {class_dir!r} holds no '
                f'{"/".join(IMAGE_SUFFIXES)} image (remove it or add crops)')
        crops[name] = files
    if not crops:
        raise FileNotFoundError(f'dense mosaics: {folder!r} has no class '
                                f'sub-folder ({_SRC_LAYOUT})')
    return crops


def _check_args(splits, grids, tile_size, num_per_split) -> None:
    if isinstance(splits, str) or not splits or len(set(splits)) != len(
            splits):
        raise ValueError('dense mosaics: splits must be a non-empty sequence '
                         f'of distinct split names, got {splits!r}')
    if not grids or not all(
            len(g) == 2 and all(isinstance(n, int) and n >= 1 for n in g)
            and g[0] * g[1] >= 2 for g in grids):
        raise ValueError('dense mosaics: grids must be (rows, cols) pairs of '
                         'positive ints with at least 2 tiles each, got '
                         f'{grids!r}')
    if not isinstance(tile_size, int) or isinstance(tile_size, bool) or \
            tile_size < 2:
        raise ValueError(
            f'dense mosaics: tile_size must be an int >= 2, got {tile_size!r}')
    counts = (num_per_split.values()
              if isinstance(num_per_split, dict) else [num_per_split])
    if num_per_split is not None and not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1
            for n in counts):
        raise ValueError('dense mosaics: num_per_split must be None, an int '
                         '>= 1 or a {split: int >= 1} dict, got '
                         f'{num_per_split!r}')
    if isinstance(num_per_split, dict) and set(num_per_split) != set(splits):
        raise ValueError(f'dense mosaics: num_per_split names the splits '
                         f'{sorted(num_per_split)}, expected {sorted(splits)}')


def _palette(num_classes: int) -> List[List[int]]:
    """Distinct, fixed colours: golden-ratio steps around the hue circle."""
    colours = []
    for i in range(num_classes):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.75,
                                      0.95 if i % 2 == 0 else 0.7)
        colours.append([round(r * 255), round(g * 255), round(b * 255)])
    return colours


def _plan_split(crops: Dict[str, List[str]], classes: List[str],
                num: Optional[int], grids: Sequence[Tuple[int, int]],
                tile_size: int, rng: np.random.Generator) -> List[dict]:
    """Choose each mosaic's grid, classes and crops (no pixels yet).

    Grids alternate in the given order. Each mosaic draws distinct classes
    at random; each class hands out its crops in a shuffled order, reshuffled
    once used up, so crops are used evenly. ``num=None`` makes about as many
    tiles as the split has crops.
    """
    tiles_per_mosaic = [rows * cols for rows, cols in grids]
    if num is None:
        total = sum(len(files) for files in crops.values())
        num = max(1, math.ceil(total / np.mean(tiles_per_mosaic)))
    names = sorted(crops)
    queues = {name: [] for name in names}
    plan = []
    for i in range(num):
        rows, cols = grids[i % len(grids)]
        picked = rng.choice(len(names), size=rows * cols, replace=False)
        tiles = []
        for cell, k in enumerate(picked):
            name = names[k]
            if not queues[name]:
                queues[name] = list(rng.permutation(crops[name]))
            x0 = (cell % cols) * tile_size
            y0 = (cell // cols) * tile_size
            tiles.append({
                'source': str(queues[name].pop()),
                'class': classes.index(name),
                'box': [x0, y0, x0 + tile_size, y0 + tile_size]
            })
        plan.append({'name': f'{i:04d}', 'tiles': tiles})
    return plan


def _render(entry: dict, tile_size: int) -> Tuple[Image.Image, Image.Image]:
    """The mosaic's RGB image and its uint8 label map."""
    width = max(t['box'][2] for t in entry['tiles'])
    height = max(t['box'][3] for t in entry['tiles'])
    img = Image.new('RGB', (width, height))
    label = np.full((height, width), IGNORE_INDEX, dtype=np.uint8)
    for tile in entry['tiles']:
        x0, y0, x1, y1 = tile['box']
        with Image.open(tile['source']) as crop:
            img.paste(
                crop.convert('RGB').resize((tile_size, tile_size),
                                           TILE_RESAMPLE), (x0, y0))
        label[y0:y1, x0:x1] = tile['class']
    return img, Image.fromarray(label)  # uint8 2-D: mode 'L'


def _build(src: str, out: str, splits, num_per_split: NumPerSplit, grids,
           tile_size: int, seed: int) -> dict:
    grids = [tuple(g) for g in grids]
    _check_args(splits, grids, tile_size, num_per_split)
    listed = {split: _list_split(src, split) for split in splits}
    classes = sorted(set().union(*listed.values()))
    if len(classes) > IGNORE_INDEX:
        raise ValueError(f'dense mosaics: {len(classes)} classes do not fit '
                         f'uint8 labels below the ignore index {IGNORE_INDEX}')
    largest = max(rows * cols for rows, cols in grids)
    for split, crops in listed.items():
        if len(crops) < largest:
            raise ValueError(
                f'dense mosaics: split {split!r} has {len(crops)} classes but '
                f'a grid of {largest} tiles needs {largest} different classes'
                f' (use smaller grids or add classes to {src!r})')
    rng = np.random.default_rng(seed)
    meta = {'classes': classes, 'palette': _palette(len(classes)),
            'splits': {}}
    for split in splits:
        num = (num_per_split.get(split)
               if isinstance(num_per_split, dict) else num_per_split)
        plan = _plan_split(listed[split], classes, num, grids, tile_size, rng)
        for sub in ('img_dir', 'ann_dir'):  # no stale mosaics of a build
            shutil.rmtree(osp.join(out, sub, split), ignore_errors=True)
            os.makedirs(osp.join(out, sub, split))
        for entry in plan:
            img, label = _render(entry, tile_size)
            img.save(osp.join(out, 'img_dir', split, entry['name'] + '.png'))
            label.save(osp.join(out, 'ann_dir', split,
                                entry['name'] + '.png'))
        meta['splits'][split] = plan
    with open(osp.join(out, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    return meta


def write_segmentation_mosaics(src: str,
                               out: str,
                               *,
                               splits: Sequence[str] = ('train', 'val'),
                               num_per_split: NumPerSplit = None,
                               grids: Sequence[Tuple[int, int]] = ((2, 2),
                                                                   (3, 3)),
                               tile_size: int = 32,
                               seed: int = 0) -> dict:
    """Write mosaics in mmseg's layout; returns the ``meta.json`` dict.

    Args:
        src: Labelled folder ``src/<split>/<class>/*.{jpg,png}``.
        out: Output folder (its ``img_dir``/``ann_dir`` split folders are
            rewritten).
        splits: Splits to build; the classes are the union of their class
            folders (sorted), so indices agree across splits.
        num_per_split: Mosaics per split: an int, a ``{split: int}`` dict,
            or None for about one tile per crop of the split.
        grids: ``(rows, cols)`` grids, used in turn; each needs as many
            classes in every split as it has tiles.
        tile_size: Side of a tile in pixels (a mosaic is ``rows * tile_size``
            high and ``cols * tile_size`` wide).
        seed: Seed of the choice of classes and crops.
    """
    return _build(src, out, splits, num_per_split, grids, tile_size, seed)


def _coco(meta: dict, split: str) -> dict:
    """COCO instances of one split: one annotation per tile."""
    images, annotations = [], []
    for image_id, entry in enumerate(meta['splits'][split], start=1):
        width = max(t['box'][2] for t in entry['tiles'])
        height = max(t['box'][3] for t in entry['tiles'])
        images.append({'id': image_id, 'width': width, 'height': height,
                       'file_name': f'img_dir/{split}/{entry["name"]}.png'})
        for tile in entry['tiles']:
            x0, y0, x1, y1 = tile['box']
            annotations.append({
                'id': len(annotations) + 1,
                'image_id': image_id,
                'category_id': tile['class'] + 1,
                'bbox': [x0, y0, x1 - x0, y1 - y0],
                'segmentation': [[x0, y0, x1, y0, x1, y1, x0, y1]],
                'area': (x1 - x0) * (y1 - y0),
                'iscrowd': 0
            })
    categories = [{'id': i + 1, 'name': name}
                  for i, name in enumerate(meta['classes'])]
    return {'images': images, 'annotations': annotations,
            'categories': categories}


def write_detection_mosaics(src: str,
                            out: str,
                            *,
                            splits: Sequence[str] = ('train', 'val'),
                            num_per_split: NumPerSplit = None,
                            grids: Sequence[Tuple[int, int]] = ((2, 2),
                                                                (3, 3)),
                            tile_size: int = 32,
                            seed: int = 0) -> dict:
    """The mosaics of :func:`write_segmentation_mosaics` (same arguments,
    same images) plus ``out/annotations/instances_<split>.json`` in COCO
    format: images ``img_dir/<split>/<name>.png`` (relative to ``out``),
    categories = classes with ids 1..K, one annotation per tile (bbox
    ``[x, y, w, h]``, square polygon, area, ``iscrowd`` 0). Returns the
    ``meta.json`` dict."""
    meta = _build(src, out, splits, num_per_split, grids, tile_size, seed)
    os.makedirs(osp.join(out, 'annotations'), exist_ok=True)
    for split in splits:
        with open(osp.join(out, 'annotations', f'instances_{split}.json'),
                  'w') as f:
            json.dump(_coco(meta, split), f)
    return meta
