"""A comparison's settings: the ViT size, the learning rate of each row,
and the ``settings.json`` that keeps a work dir to one set of settings.

Learning rate (``--lr auto``, the default): each method's published peak
lr, read from its recipe (``optim_wrapper.optimizer.lr``) together with the
total batch it was published for (``auto_scale_lr.base_batch_size``), scaled
to the comparison's batch by the **square-root rule**

    lr = lr_published * sqrt(batch / batch_published)

All recipes but MoCo v3's ResNet (LARS) use AdamW, for which the
square-root rule is the one that keeps the training dynamics (Malladi et
al., "On the SDEs and Scaling Rules for Adaptive Gradient Algorithms",
NeurIPS 2022); the linear rule (Goyal et al. 2017, derived for SGD) would
divide the published lrs by 64-128 at batch 32 (MAE: 2.4e-3 -> 1.9e-5), far
below what a few hundred iterations can learn with. Measured
(docs/compare_methods.md): 150 pre-training iterations did not separate the
rules; 150 fine-tuning iterations did, in favour of the square root, which
the fine-tune column therefore uses too. ``--lr X`` gives every method the
peak lr X instead.
"""
import json
import math
import os
import os.path as osp

from .catalogue import ARCHS, CompareError

LR_RULE = 'sqrt'


def scaled_lr(lr: float, base_batch: int, batch: int,
              rule: str = LR_RULE) -> float:
    """``lr`` published for ``base_batch`` at ``batch``: ``'sqrt'`` (the
    default rule, see the module docstring) or ``'linear'``."""
    if rule == 'sqrt':
        return lr * math.sqrt(batch / base_batch)
    if rule == 'linear':
        return lr * batch / base_batch
    raise CompareError(f"lr scaling rule must be 'sqrt' or 'linear', got "
                       f'{rule!r}')


def vit_arch(settings: dict) -> dict:
    base = dict(ARCHS[settings['arch']][1])
    if settings.get('width'):
        base['embed_dims'] = settings['width']
        if not settings.get('heads'):
            base['num_heads'] = max(1, settings['width'] // 64)
    if settings.get('depth'):
        base['num_layers'] = settings['depth']
    if settings.get('heads'):
        base['num_heads'] = settings['heads']
    if base['embed_dims'] % base['num_heads']:
        raise CompareError(f'width {base["embed_dims"]} is not divisible by '
                           f'{base["num_heads"]} heads; set --heads')
    base['feedforward_channels'] = base['embed_dims'] * 4
    return base


SETTINGS_FILE = 'settings.json'
COMPARED_KEYS = ('arch', 'width', 'depth', 'heads', 'img_size', 'patch_size',
                 'iters', 'minutes', 'batch_size', 'lr', 'lr_rule', 'knn_k',
                 'knn_interval', 'checkpoint_interval', 'pretrain_data',
                 'eval_data', 'finetune_iters', 'dense_iters', 'seg_data')


# settings of the dense column: a comparison run without --dense may be
# continued with it (only the dense columns then run)
DENSE_KEYS = ('dense', 'dense_iters', 'seg_data')


def check_or_store_settings(work_dir: str, settings: dict) -> None:
    """Store ``settings`` in a new work dir; in a used one, refuse settings
    that differ from the stored ones (nothing is overwritten silently). The
    one addition allowed: ``--dense`` (with its iterations and dataset) to a
    comparison stored without it; the stored settings then record it."""
    path = osp.join(work_dir, SETTINGS_FILE)
    if osp.isfile(path):
        with open(path) as f:
            stored = json.load(f)
        adding_dense = settings['dense'] and not stored.get('dense')
        diffs = [f'{k}: stored {stored.get(k)!r}, now {settings.get(k)!r}'
                 for k in COMPARED_KEYS if stored.get(k) != settings.get(k)
                 and not (adding_dense and k in DENSE_KEYS)]
        if diffs:
            raise CompareError(
                f'{work_dir} holds a comparison with other settings ('
                + '; '.join(diffs) + '). Its results would be mixed with '
                'this run\'s; use a new --work-dir (or the same settings to '
                'continue that comparison)')
        if not adding_dense:
            return
        settings = dict(stored, **{k: settings[k] for k in DENSE_KEYS})
    elif osp.isdir(work_dir) and os.listdir(work_dir):
        raise CompareError(
            f'{work_dir} is not empty and holds no {SETTINGS_FILE}: it is not '
            'a compare_methods work dir; use a new --work-dir')
    os.makedirs(work_dir, exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        json.dump(settings, f, indent=2)
    os.replace(path + '.tmp', path)
