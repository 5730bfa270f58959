"""Checks of a comparison's inputs: the data folders, the geometry, the
numbers (:mod:`mmconmim.utils.validation`). Every refusal is a
:class:`~mmconmim.compare.catalogue.CompareError` naming the problem and the
fix, raised before anything is written."""
import hashlib
import os
import os.path as osp
from typing import Dict, List, Optional

from mmconmim.evaluation.features import IMG_EXTENSIONS, count_class_images
from mmconmim.utils.validation import check_int, check_number
from .catalogue import ARCHS, CompareError


def _image_files(root: str) -> List[str]:
    found = []
    for dirpath, _, files in os.walk(root):
        found += [osp.join(dirpath, f) for f in files
                  if f.lower().endswith(IMG_EXTENSIONS)]
    return sorted(found)


def fingerprint(root: str) -> dict:
    """Number of images and a hash of their paths and sizes: a re-run on
    other data is detected without reading the pixels."""
    files = _image_files(root)
    digest = hashlib.sha256()
    for path in files:
        digest.update(f'{osp.relpath(path, root)}\0'
                      f'{os.path.getsize(path)}\n'.encode())
    return dict(path=osp.abspath(root), images=len(files),
                sha256=digest.hexdigest()[:16])


EVAL_LAYOUT = ('DIR/train/<class>/*.jpg and DIR/val/<class>/*.jpg (the same '
               'class sub-folders in both, e.g. the output of '
               '`python benchmarks/photo_regions.py DIR`)')


def check_eval_data(root: str, knn_k: int) -> Dict[str, Dict[str, int]]:
    """``{split: {class: images}}`` of a labelled folder; raises
    :class:`CompareError` for a missing/empty/unlabelled folder, different
    classes in train and val, or fewer train images per class than k."""
    if not osp.isdir(root):
        raise CompareError(f'--eval-data {root!r} is not a folder; expected '
                           + EVAL_LAYOUT)
    counts = {}
    for split in ('train', 'val'):
        path = osp.join(root, split)
        if not osp.isdir(path):
            loose = _image_files(root)
            raise CompareError(
                f'--eval-data {root!r} has no {split}/ sub-folder '
                f'({len(loose)} images found elsewhere in it); expected '
                + EVAL_LAYOUT)
        counts[split] = count_class_images(path)
        if not any(counts[split].values()):
            loose = [f for f in os.listdir(path)
                     if f.lower().endswith(IMG_EXTENSIONS)]
            hint = (f' ({len(loose)} images lie directly in {split}/ without '
                    'a class sub-folder: they are unlabelled)') if loose \
                else ''
            raise CompareError(
                f'--eval-data: no labelled images in {path!r}{hint}; '
                'expected ' + EVAL_LAYOUT)
        empty = [c for c, n in counts[split].items() if n == 0]
        if empty:
            raise CompareError(
                f'--eval-data: class folder(s) {empty} in {path!r} hold no '
                'images; remove them or add images')
    if sorted(counts['train']) != sorted(counts['val']):
        only_train = sorted(set(counts['train']) - set(counts['val']))
        only_val = sorted(set(counts['val']) - set(counts['train']))
        raise CompareError(
            '--eval-data: train/ and val/ have different class folders '
            f'(only in train: {only_train}, only in val: {only_val}); both '
            'need the same classes')
    if len(counts['train']) < 2:
        raise CompareError('--eval-data: one class only; kNN and a linear '
                           'probe need at least 2 class sub-folders')
    small = {c: n for c, n in counts['train'].items() if n < knn_k}
    if small:
        worst = min(small.values())
        raise CompareError(
            f'--eval-data: too few train images per class for kNN with '
            f'k={knn_k}: {len(small)} class(es) have fewer than {knn_k} '
            f'(e.g. {dict(list(small.items())[:3])}), so their val images '
            'would be voted on mostly by other classes. Add train images '
            f'(at least {knn_k} per class) or lower --knn-k (at most '
            f'{worst} here)')
    return counts


def check_settings_geometry(arch: str, img_size: int,
                            patch_size: int) -> None:
    if arch not in ARCHS:
        raise CompareError(f'unknown --arch {arch!r}; choose one of '
                           f'{", ".join(ARCHS)}')
    if img_size < 1 or patch_size < 1:
        raise CompareError('--img-size and --patch-size must be positive')
    if ARCHS[arch][0] == 'vit':
        if img_size % patch_size:
            raise CompareError(
                f'--img-size {img_size} is not divisible by --patch-size '
                f'{patch_size}: a ViT needs a whole number of patches; use '
                f'e.g. --img-size {max(img_size // patch_size, 2) * patch_size}'
                f' or a patch size that divides {img_size}')
        if img_size // patch_size < 2:
            raise CompareError(f'--img-size {img_size} with --patch-size '
                               f'{patch_size} gives a single patch; use a '
                               'larger image or smaller patches')
    elif img_size % 32:
        raise CompareError(
            f'--img-size {img_size} is not divisible by 32, the stride of a '
            'ResNet\'s last stage (and the mask unit of A2MIM / ConMIMCNN); '
            f'use e.g. --img-size {max(64, img_size // 32 * 32)}')


LR_HELP = ("'auto' (each method's published lr scaled to the batch) or one "
           'positive number for all methods')


def parse_lr(value) -> object:
    """``'auto'`` or a positive finite float (``--lr``)."""
    if isinstance(value, str) and value.strip().lower() == 'auto':
        return 'auto'
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CompareError(f'--lr must be {LR_HELP}, got {value!r}') from None
    _checked(check_number, '--lr', number, low=0, low_open=True,
             finite=True, fix="or 'auto'")
    return number


def _checked(check, field, value, **kwargs):
    """A :mod:`mmconmim.utils.validation` check raising CompareError."""
    try:
        return check('compare_methods', field, value, **kwargs)
    except (TypeError, ValueError) as exc:
        raise CompareError(str(exc)) from None


def check_numbers(iters: Optional[int], minutes: Optional[float],
                  seeds: int, batch_size: int, knn_k: int,
                  finetune_iters: int, num_workers: int,
                  knn_interval: Optional[int],
                  checkpoint_interval: Optional[int],
                  sizes: Dict[str, Optional[int]]) -> None:
    """The numeric options: one budget, positive counts, optional sizes."""
    if (iters is None) == (minutes is None):
        raise CompareError('give exactly one budget: --iters N or '
                           '--minutes M')
    if iters is not None:
        _checked(check_int, '--iters', iters, min=1)
    else:
        _checked(check_number, '--minutes', minutes, low=0, low_open=True,
                 finite=True)
    for field, value in (('--seeds', seeds), ('--batch-size', batch_size),
                         ('--knn-k', knn_k)):
        _checked(check_int, field, value, min=1)
    _checked(check_int, '--finetune-iters', finetune_iters, min=0,
             fix='0 switches the fine-tune column off')
    _checked(check_int, '--num-workers', num_workers, min=0)
    if knn_interval is not None:
        _checked(check_int, '--knn-interval', knn_interval, min=0,
                 fix='0: only the final evaluation')
    if checkpoint_interval is not None:
        _checked(check_int, '--checkpoint-interval', checkpoint_interval,
                 min=1)
    for field, value in sizes.items():
        if value is not None:
            _checked(check_int, f'--{field}', value, min=1)


def check_seg_data(root: str) -> str:
    """A user's mmseg dataset (``--seg-data``): ``img_dir/{train,val}`` and
    ``ann_dir/{train,val}`` with images."""
    for sub in ('img_dir/train', 'img_dir/val', 'ann_dir/train',
                'ann_dir/val'):
        path = osp.join(root, sub)
        if not osp.isdir(path) or not _image_files(path):
            raise CompareError(
                f'--seg-data {root!r}: no images in {sub}/; expected '
                "mmseg's layout DIR/img_dir/{train,val}/*.png and "
                'DIR/ann_dir/{train,val}/*.png (uint8 class index per '
                'pixel, 255 = ignore) and DIR/meta.json with "classes", as '
                'mmconmim.compare.dense.prepare_seg_data writes')
    if not osp.isfile(osp.join(root, 'meta.json')):
        raise CompareError(f'--seg-data {root!r} has no meta.json (its '
                           '"classes" list names the labels); add it')
    return osp.abspath(root)
