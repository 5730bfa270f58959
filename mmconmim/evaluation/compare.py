"""Compare self-supervised methods on one's own images
(``tools/compare_methods.py``; docs/compare_methods.md).

Every method pre-trains the same backbone (same width, depth, heads, image
and patch size; or the same ResNet) on the same unlabelled folder with the
same budget (iterations, or wall-clock minutes of training) through the
normal mmengine runner, each with its own views, masking and objective as
its paper / mmpretrain recipe defines them (only the sizes are scaled down).
Each exported backbone (ConMIM: the momentum teacher, as the official recipe
fine-tunes from; the others: their only backbone / MoCo v3's base encoder)
and the random initialisation are then evaluated on a labelled folder
(``train/`` and ``val/``, one sub-folder per class) by weighted kNN (DINO:
cosine, k, T = 0.07) and a linear probe on frozen features
(:mod:`mmconmim.evaluation`).

Layout of a work dir::

    settings.json              what the comparison was started with
    report.md / .json / .png   the results
    random_init[-seedS]/       backbone.pth, metrics.json
    <method>[-seedS]/          config.py, iter_*.pth, <timestamp>/ (logs),
                               pretrain.json, backbone.pth, metrics.json

A method whose ``backbone.pth`` and ``metrics.json`` exist is finished and
skipped on a re-run; one with a checkpoint but no backbone resumes from its
last checkpoint (mmengine ``resume``).
"""
import hashlib
import json
import math
import os
import os.path as osp
import platform
import resource
import subprocess
import sys
import time
from typing import Dict, List, Optional

import torch
from mmengine.hooks import Hook
from torch import nn

from mmconmim.registry import HOOKS
from .features import IMG_EXTENSIONS, count_class_images

# ---------------------------------------------------------------- catalogue
ARCHS = {
    # name: (kind, settings); ViT sizes are DeiT's
    'vit-tiny': ('vit', dict(embed_dims=192, num_layers=12, num_heads=3)),
    'vit-small': ('vit', dict(embed_dims=384, num_layers=12, num_heads=6)),
    'resnet18': ('cnn', dict(depth=18)),
    'resnet50': ('cnn', dict(depth=50)),
}

METHOD_LABELS = {
    'conmim': 'ConMIM, paper setting (shared rel. pos. bias, no abs. pos. '
              'embedding)',
    'conmim-abspos': 'ConMIM + absolute position embedding',
    'a2mim': 'A2MIM',
    'mae': 'MAE',
    'simmim': 'SimMIM',
    'mocov3': 'MoCo v3',
    'cim': 'CIM / BEiT v2',
}
KNOWN_METHODS = tuple(METHOD_LABELS)
DEFAULT_METHODS = ('conmim', 'conmim-abspos', 'a2mim', 'mae', 'simmim',
                   'mocov3')
RANDOM_INIT = 'random_init'

NEEDS_TOKENIZER = ('needs --cim-tokenizer (pretrained DALL-E / VQ-KD '
                   'tokenizer weights); this tool does not run CIM or BEiT '
                   'v2 yet')
CNN_UNSUPPORTED = {
    'conmim-abspos': 'a ResNet has no position embedding to switch on '
                     '(the ResNet ConMIM row is "conmim", ConMIMCNN)',
    'mae': 'MAE drops the masked patches from the encoder input, which a '
           'CNN cannot do (ViT only)',
    'simmim': 'SimMIM has no CNN recipe in the paper or in mmpretrain '
              '(A2MIM is its CNN extension)',
}

ImageNet_NORM = dict(mean=[123.675, 116.28, 103.53],
                     std=[58.395, 57.12, 57.375], to_rgb=True)


class CompareError(ValueError):
    """Bad input to a comparison; the message names the problem and fix."""


def parse_methods(text: str) -> List[str]:
    names = [m.strip().lower() for m in text.split(',') if m.strip()]
    if not names:
        raise CompareError('--methods is empty; known methods: '
                           + ', '.join(KNOWN_METHODS))
    unknown = [m for m in names if m not in METHOD_LABELS]
    if unknown:
        raise CompareError(
            f'unknown method(s) {", ".join(unknown)}; known methods: '
            f'{", ".join(KNOWN_METHODS)} (comma-separated, e.g. '
            '--methods conmim,mae)')
    if len(set(names)) != len(names):
        raise CompareError(f'--methods names a method twice: {text}')
    return names


def method_label(method: str, arch: str) -> str:
    if method == 'conmim' and ARCHS[arch][0] == 'cnn':
        return 'ConMIM on a ResNet (ConMIMCNN)'
    return METHOD_LABELS.get(method, 'random init (no pre-training)')


def skip_reason(method: str, arch: str) -> Optional[str]:
    """Why ``method`` does not run with ``arch`` (None: it runs)."""
    if method == 'cim':
        return NEEDS_TOKENIZER
    if ARCHS[arch][0] == 'cnn':
        return CNN_UNSUPPORTED.get(method)
    return None


# -------------------------------------------------------------- input checks
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


# ----------------------------------------------------------------- settings
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
                 'iters', 'minutes', 'batch_size', 'lr', 'knn_k',
                 'knn_interval', 'checkpoint_interval', 'pretrain_data',
                 'eval_data')


def check_or_store_settings(work_dir: str, settings: dict) -> None:
    """Store ``settings`` in a new work dir; in a used one, refuse settings
    that differ from the stored ones (nothing is overwritten silently)."""
    path = osp.join(work_dir, SETTINGS_FILE)
    if osp.isfile(path):
        with open(path) as f:
            stored = json.load(f)
        diffs = [f'{k}: stored {stored.get(k)!r}, now {settings.get(k)!r}'
                 for k in COMPARED_KEYS if stored.get(k) != settings.get(k)]
        if diffs:
            raise CompareError(
                f'{work_dir} holds a comparison with other settings ('
                + '; '.join(diffs) + '). Its results would be mixed with '
                'this run\'s; use a new --work-dir (or the same settings to '
                'continue that comparison)')
        return
    if osp.isdir(work_dir) and os.listdir(work_dir):
        raise CompareError(
            f'{work_dir} is not empty and holds no {SETTINGS_FILE}: it is not '
            'a compare_methods work dir; use a new --work-dir')
    os.makedirs(work_dir, exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        json.dump(settings, f, indent=2)
    os.replace(path + '.tmp', path)


# ------------------------------------------------------------------ configs
def configs_root() -> str:
    """configs/ of a source checkout, or the copy an install ships."""
    pkg = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for root in (osp.join(osp.dirname(pkg), 'configs'),
                 osp.join(pkg, '.mim', 'configs')):
        if osp.isdir(osp.join(root, 'demo')):
            return root
    raise FileNotFoundError('mmconmim configs/ not found (neither in the '
                            'source checkout nor in mmconmim/.mim)')


def mask_unit(settings: dict) -> int:
    """Mask unit in pixels: two patches per side when they fit (the demos'
    16-px units for 8-px patches, the papers' 32 px for 16-px patches),
    else one patch; 32 px for ResNets (their last stage's stride)."""
    if ARCHS[settings['arch']][0] == 'cnn':
        return 32
    patch = settings['patch_size']
    return 2 * patch if settings['img_size'] % (2 * patch) == 0 else patch


def _schedule(settings: dict, max_iters: int) -> list:
    warmup = max(1, min(30, (settings['iters'] or 300) // 10))
    sched = [dict(type='LinearLR', start_factor=1e-4, by_epoch=False,
                  begin=0, end=warmup)]
    if settings['iters']:
        sched.append(dict(type='CosineAnnealingLR', eta_min=1e-5,
                          by_epoch=False, begin=warmup, end=max_iters))
    return sched  # --minutes: constant after warmup (length unknown)


# a run under --minutes stops by the budget hook long before this
MINUTES_MAX_ITERS = 10**8


def _photometric() -> list:
    """BYOL's strong photometric ops (MoCo v3 / ConMIM teacher view)."""
    return [
        dict(type='RandomApply', transforms=[dict(
            type='ColorJitter', brightness=0.4, contrast=0.4,
            saturation=0.2, hue=0.1)], prob=0.8),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
    ]


def _pixel_mim_optim_wrapper(lr: float, betas: tuple,
                             norm_key: str) -> dict:
    """AdamW, wd 0.05 except on norms, biases, position embedding, mask and
    cls tokens: mmpretrain's MAE (norms named ``ln``) and SimMIM (``norm``)
    recipes, which differ in betas."""
    no_decay = dict(decay_mult=0.)
    return dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=lr, betas=betas, weight_decay=0.05),
        paramwise_cfg=dict(custom_keys={
            key: no_decay for key in (norm_key, 'bias', 'pos_embed',
                                      'mask_token', 'cls_token')}))


def method_config(method: str, settings: dict, run_dir: str,
                  seed: int = 0) -> dict:
    """(``_base_`` list, overrides) of one pre-training run, as a dict with
    the key ``_base_``."""
    root = configs_root()
    kind = ARCHS[settings['arch']][0]
    img, patch = settings['img_size'], settings['patch_size']
    unit = mask_unit(settings)
    max_iters = settings['iters'] or MINUTES_MAX_ITERS
    runtime = osp.join(root, 'demo', '_base_', 'demo_runtime.py')
    cfg = dict(_base_=[runtime])
    crop = dict(type='RandomResizedCrop', scale=img,
                crop_ratio_range=(0.08, 1.0), backend='pillow',
                interpolation='bicubic')
    load = dict(type='RobustLoadImageFromFile')
    if kind == 'vit':
        arch = vit_arch(settings)
        dims = arch['embed_dims']
    else:
        depth = ARCHS[settings['arch']][1]['depth']
        dims = 512 if depth < 50 else 2048
    if method in ('conmim', 'conmim-abspos'):
        if kind == 'vit':
            cfg['_base_'] = [osp.join(root, 'demo', 'conmim_demo.py')]
            cfg['model'] = dict(
                backbone=dict(arch=dict(**arch), img_size=img,
                              patch_size=patch,
                              use_abs_pos_emb=method == 'conmim-abspos'),
                neck=dict(in_channels=dims, hid_channels=4 * dims,
                          out_channels=dims))
        else:
            cfg['_base_'] = [osp.join(root, 'demo', 'conmim_cnn_demo.py')]
            cfg['model'] = dict(
                mask_unit=unit,
                backbone=dict(depth=depth, stem_channels=64,
                              base_channels=64),
                neck=dict(in_channels=dims, hid_channels=4096 if dims > 512
                          else 2048, out_channels=256))
        pipeline = [
            load, dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(crop, aspect_ratio_range=(3. / 4., 4. / 3.)),
            dict(type='MultiView', num_views=[1, 1],
                 transforms=[[], _photometric() + [
                     dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
                          magnitude_std='inf', prob=0.1),
                     dict(type='Solarize', thr=128, prob=0.2)]]),
            dict(type='UnitMaskGenerator', input_size=img,
                 mask_patch_size=unit,
                 model_patch_size=unit if kind == 'cnn' else patch,
                 mask_ratio=0.75),
            dict(type='PackInputs')]
        cfg['optim_wrapper'] = dict(optimizer=dict(lr=settings['lr']))
    elif method == 'a2mim':
        if kind == 'vit':
            cfg['_base_'] = [
                osp.join(root, '_base_', 'models', 'a2mim_vit-base-p16.py'),
                osp.join(root, '_base_', 'datasets',
                         'imagenet_bs256_a2mim-vit-224.py'),
                osp.join(root, '_base_', 'schedules',
                         'a2mim_adamw_coslr.py'), runtime]
            cfg['model'] = dict(
                backbone=dict(arch=dict(**arch), img_size=img,
                              patch_size=patch, drop_path_rate=0.),
                neck=dict(in_channels=dims, encoder_stride=patch))
            crop_ratio = (0.67, 1.0)
        else:
            cfg['_base_'] = [osp.join(root, 'demo', 'a2mim_demo.py')]
            cfg['model'] = dict(
                backbone=dict(depth=depth, stem_channels=64,
                              base_channels=64),
                neck=dict(in_channels=dims))
            crop_ratio = (0.8, 1.0)  # A2MIM's CNN recipe
        pipeline = [
            load, dict(type='RandomResizedCrop', scale=img,
                       crop_ratio_range=crop_ratio,
                       aspect_ratio_range=(3. / 4., 4. / 3.)),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='UnitMaskGenerator', input_size=img,
                 mask_patch_size=unit, model_patch_size=unit,
                 mask_ratio=0.6),
            dict(type='PackInputs')]
        cfg['optim_wrapper'] = dict(type='OptimWrapper',
                                    optimizer=dict(lr=settings['lr']))
    elif method == 'mae':
        # mmpretrain configs/_base_/models/mae_vit-base-p16.py and
        # datasets/imagenet_bs512_mae.py, sizes scaled
        cfg['data_preprocessor'] = dict(type='SelfSupDataPreprocessor',
                                        **ImageNet_NORM)
        cfg['model'] = dict(
            type='MAE',
            backbone=dict(type='MAEViT', arch=arch, img_size=img,
                          patch_size=patch, mask_ratio=0.75),
            neck=dict(type='MAEPretrainDecoder',
                      num_patches=(img // patch) ** 2, patch_size=patch,
                      in_chans=3, embed_dim=dims, decoder_embed_dim=dims,
                      decoder_depth=max(1, arch['num_layers'] // 4),
                      decoder_num_heads=arch['num_heads'], mlp_ratio=4.),
            head=dict(type='MAEPretrainHead', norm_pix=True,
                      patch_size=patch,
                      loss=dict(type='PixelReconstructionLoss',
                                criterion='L2')),
            init_cfg=[dict(type='Xavier', layer='Linear',
                           distribution='uniform'),
                      dict(type='Constant', layer='LayerNorm', val=1.0,
                           bias=0.0)])
        pipeline = [load, dict(crop, crop_ratio_range=(0.2, 1.0)),
                    dict(type='RandomFlip', prob=0.5), dict(type='PackInputs')]
        cfg['optim_wrapper'] = _pixel_mim_optim_wrapper(
            settings['lr'], betas=(0.9, 0.95), norm_key='ln')
    elif method == 'simmim':
        # mmpretrain's SimMIM (algorithm, decoder, head; datasets/
        # imagenet_bs256_simmim_192.py) with the ViT of the SimMIM paper
        # (SimMIMViT); an absolute position embedding, as A2MIM's ViT has,
        # so masked tokens differ from the start at small scale
        cfg['data_preprocessor'] = dict(type='SelfSupDataPreprocessor',
                                        **ImageNet_NORM)
        cfg['model'] = dict(
            type='SimMIM',
            backbone=dict(type='SimMIMViT', arch=arch, img_size=img,
                          patch_size=patch, use_abs_pos_emb=True,
                          use_rel_pos_bias=False,
                          use_shared_rel_pos_bias=False,
                          layer_scale_init_value=0.1),
            neck=dict(type='SimMIMLinearDecoder', in_channels=dims,
                      encoder_stride=patch),
            head=dict(type='SimMIMHead', patch_size=patch,
                      loss=dict(type='PixelReconstructionLoss',
                                criterion='L1', channel=3)))
        pipeline = [load, dict(type='RandomResizedCrop', scale=img,
                               crop_ratio_range=(0.67, 1.0)),
                    dict(type='RandomFlip', prob=0.5),
                    dict(type='SimMIMMaskGenerator', input_size=img,
                         mask_patch_size=unit, model_patch_size=patch,
                         mask_ratio=0.6),
                    dict(type='PackInputs')]
        cfg['optim_wrapper'] = _pixel_mim_optim_wrapper(
            settings['lr'], betas=(0.9, 0.999), norm_key='norm')
    elif method == 'mocov3':
        # mmpretrain configs/mocov3/mocov3_{vit-small-p16,resnet50}_*.py
        temperature = 0.2
        cfg['data_preprocessor'] = dict(type='SelfSupDataPreprocessor',
                                        **ImageNet_NORM)
        if kind == 'vit':
            backbone = dict(type='MoCoV3ViT', arch=arch, img_size=img,
                            patch_size=patch, stop_grad_conv1=True)
        else:
            backbone = dict(type='ResNet', depth=depth,
                            norm_cfg=dict(type='BN'),
                            zero_init_residual=False)
        hid, out = 4 * dims, max(64, dims // 2)
        mlp = dict(type='NonLinearNeck', with_bias=False,
                   with_last_bn=True, with_last_bn_affine=False,
                   with_last_bias=False)
        cfg['model'] = dict(
            type='MoCoV3', base_momentum=0.01, backbone=backbone,
            neck=dict(mlp, in_channels=dims, hid_channels=hid,
                      out_channels=out, num_layers=3 if kind == 'vit' else 2,
                      with_avg_pool=kind == 'cnn'),
            head=dict(type='MoCoV3Head',
                      predictor=dict(mlp, in_channels=out, hid_channels=hid,
                                     out_channels=out, num_layers=2,
                                     with_last_bn=kind == 'vit',
                                     with_avg_pool=False),
                      loss=dict(type='CrossEntropyLoss',
                                loss_weight=2 * temperature),
                      temperature=temperature))
        view1 = [dict(crop, backend='pillow')] + _photometric() + [
            dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
                 magnitude_std='inf', prob=1.),
            dict(type='Solarize', thr=128, prob=0.),
            dict(type='RandomFlip', prob=0.5)]
        view2 = [dict(crop, backend='pillow')] + _photometric() + [
            dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
                 magnitude_std='inf', prob=0.1),
            dict(type='Solarize', thr=128, prob=0.2),
            dict(type='RandomFlip', prob=0.5)]
        pipeline = [load, dict(type='MultiView', num_views=[1, 1],
                               transforms=[view1, view2]),
                    dict(type='PackInputs')]
        cfg['optim_wrapper'] = dict(
            type='OptimWrapper',
            optimizer=dict(type='AdamW', lr=settings['lr'],
                           weight_decay=0.1))
    else:
        raise CompareError(f'{method}: not runnable here')

    cfg['optim_wrapper']['clip_grad'] = dict(max_norm=3.)
    workers = settings.get('num_workers', 0)
    cfg['train_dataloader'] = dict(
        batch_size=settings['batch_size'], num_workers=workers,
        persistent_workers=workers > 0, pin_memory=False, drop_last=True,
        sampler=dict(type='InfiniteSampler', shuffle=True),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type='CustomDataset',
                     data_root=settings['pretrain_data']['path'],
                     with_label=False, pipeline=pipeline))
    cfg['param_scheduler'] = _schedule(settings, max_iters)
    cfg['train_cfg'] = dict(type='IterBasedTrainLoop',
                            max_iters=max_iters)
    cfg['auto_scale_lr'] = dict(base_batch_size=settings['batch_size'])
    cfg['default_hooks'] = dict(
        logger=dict(type='LoggerHook', interval=max(
            1, min(50, settings['checkpoint_interval']))),
        checkpoint=dict(type='SafeCheckpointHook', by_epoch=False,
                        interval=settings['checkpoint_interval'],
                        max_keep_ckpts=2))
    eval_data = settings['eval_data']['path']
    cfg['custom_hooks'] = [
        dict(type='NonFiniteLossHook'),
        dict(type='KNNEvalHook', enable=settings['knn_interval'] > 0,
             interval=max(settings['knn_interval'], 0),
             train_data=osp.join(eval_data, 'train'),
             val_data=osp.join(eval_data, 'val'), k=settings['knn_k'],
             temperature=0.07, source='auto', pool='avg',
             img_size=settings['img_size'], eval_before_train=True,
             batch_size=64, num_workers=0),
        dict(type='TorchRNGStateHook'),
        dict(type='CompareBudgetHook', minutes=settings['minutes'],
             checkpoint_interval=settings['checkpoint_interval']),
        dict(type='CompareIterEndHook'),
    ]
    cfg['custom_imports'] = dict(
        imports=['mmconmim', 'mmconmim.evaluation.compare'],
        allow_failed_imports=False)
    cfg['randomness'] = dict(seed=seed, diff_rank_seed=True,
                             deterministic=False)
    cfg['work_dir'] = run_dir
    cfg['resume'] = True  # resumes when the work dir has a checkpoint
    return _replace_base_values(cfg)


# keys whose value replaces the base's instead of being merged into it
REPLACED = (('train_cfg', ), ('train_dataloader', 'dataset'),
            ('model', 'backbone', 'arch'))


def _replace_base_values(cfg: dict) -> dict:
    """Mark the :data:`REPLACED` keys ``_delete_`` where a base defines
    them (mmengine keeps a literal ``_delete_`` where none does)."""
    from mmengine.config import Config
    base = Config()
    for path in cfg['_base_']:
        base.merge_from_dict(Config.fromfile(path).to_dict())
    base = base.to_dict()
    for keys in REPLACED:
        here, there = cfg, base
        for key in keys[:-1]:
            here, there = here.get(key), (there or {}).get(key)
            if not isinstance(here, dict):
                break
        else:
            value = here.get(keys[-1])
            if isinstance(value, dict):
                value.pop('_delete_', None)
                if isinstance(there, dict) and keys[-1] in there:
                    here[keys[-1]] = dict(value, _delete_=True)
    return cfg


def write_config(cfg: dict, path: str) -> None:
    lines = ['# generated by tools/compare_methods.py '
             '(mmconmim.evaluation.compare.method_config)']
    for key, value in cfg.items():
        lines.append(f'{key} = {value!r}')
    with open(path + '.tmp', 'w') as f:
        f.write('\n'.join(lines) + '\n')
    os.replace(path + '.tmp', path)


def backbone_cfg(cfg_path: str) -> dict:
    """The backbone dict of a generated config (for load_backbone)."""
    from mmengine.config import Config
    return Config.fromfile(cfg_path).model.backbone.to_dict()


# -------------------------------------------------------------- budget hooks
BUDGET_FILE = 'budget.json'


@HOOKS.register_module()
class CompareBudgetHook(Hook):
    """Counts the training time of a comparison run (data loading, forward,
    backward, step; not the kNN evaluations, logging and checkpointing that
    run in ``after_train_iter``) and, with ``minutes``, stops the run when it
    is spent. The time at each checkpoint is kept in ``budget.json``, so a
    resumed run continues the count from its checkpoint. Pair with
    :class:`CompareIterEndHook`, which marks where an iteration's hooks
    end."""

    priority = 'HIGHEST'

    def __init__(self, minutes: Optional[float] = None,
                 checkpoint_interval: int = 1) -> None:
        self.limit = None if not minutes else float(minutes) * 60.
        self.checkpoint_interval = checkpoint_interval
        self.elapsed = 0.
        self.iter_end = None
        self.start_iter = 0
        self.record = {}

    def _path(self, runner):
        return osp.join(runner.work_dir, BUDGET_FILE)

    def before_train(self, runner) -> None:
        path = self._path(runner)
        if osp.isfile(path):
            with open(path) as f:
                self.record = {int(k): v for k, v in
                               json.load(f)['elapsed_at_iter'].items()}
        self.start_iter = runner.iter
        self.elapsed = self.record.get(runner.iter, 0.)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        now = time.perf_counter()
        if self.iter_end is not None:
            self.elapsed += now - self.iter_end
        step = runner.iter + 1
        if step % self.checkpoint_interval == 0 or (
                self.limit is not None and self.elapsed >= self.limit):
            self.record[step] = self.elapsed
            with open(self._path(runner) + '.tmp', 'w') as f:
                json.dump(dict(elapsed_at_iter=self.record), f)
            os.replace(self._path(runner) + '.tmp', self._path(runner))
        if self.limit is not None and self.elapsed >= self.limit:
            runner.logger.info(
                f'CompareBudgetHook: {self.elapsed:.1f} s of training >= '
                f'{self.limit:.0f} s budget; stopping after iteration {step}')
            runner.train_loop.stop_training = True


@HOOKS.register_module()
class CompareIterEndHook(Hook):
    """Marks the end of an iteration's hooks for :class:`CompareBudgetHook`
    (it runs last; the time until the next ``after_train_iter`` is
    training)."""

    priority = 'LOWEST'

    def _budget(self, runner):
        for hook in runner.hooks:
            if isinstance(hook, CompareBudgetHook):
                return hook
        raise RuntimeError('CompareIterEndHook needs a CompareBudgetHook')

    def before_train_epoch(self, runner) -> None:
        self._budget(runner).iter_end = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self._budget(runner).iter_end = time.perf_counter()


# ---------------------------------------------------------- one pre-training
def export_model_backbone(model: nn.Module, out: str, meta: dict) -> str:
    """Export the backbone of a pre-training model as
    ``tools/model_converters/export_backbone.py`` does (ConMIM: the
    teacher); returns the network exported."""
    from mmconmim.apis.networks import unwrap
    from mmconmim.utils.export import (expand_shared_rel_pos_bias,
                                       extract_backbone)
    model = unwrap(model)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if hasattr(model, 'teacher_updated') and not model.teacher_updated:
        # a never-updated EMA teacher is not the student's copy yet
        state = {k: v for k, v in state.items()
                 if not k.startswith('teacher')}
    weights, source, dropped = extract_backbone(state, 'auto')
    weights.update(expand_shared_rel_pos_bias(weights, 'backbone.'))
    meta = dict(meta, source=source, prefix='backbone.',
                dropped_keys=list(dropped))
    torch.save(dict(state_dict=weights, meta=meta), out + '.tmp')
    os.replace(out + '.tmp', out)
    return source


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: ``VmHWM`` of
    /proc/self/status (Linux), which starts afresh at ``exec``; getrusage's
    ``ru_maxrss`` is the fallback (on Linux it keeps the peak of the process
    that forked this one, so it would report the parent's memory)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2.**20 if sys.platform == 'darwin' else peak / 1024.  # B/kB


def pretrain(config: str, result: str) -> dict:
    """Run one generated config through the runner (resuming from the work
    dir's last checkpoint), export the backbone, write ``result`` (JSON)."""
    from mmengine.config import Config
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    import mmconmim  # noqa: F401
    cfg = Config.fromfile(config)
    run_dir = cfg.work_dir
    resumed_from = None
    if osp.isfile(osp.join(run_dir, 'last_checkpoint')):
        with open(osp.join(run_dir, 'last_checkpoint')) as f:
            resumed_from = f.read().strip()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    runner = (RUNNERS.build(cfg) if 'runner_type' in cfg
              else Runner.from_cfg(cfg))
    t0 = time.time()
    runner.train()
    wall = time.time() - t0
    budget = next(h for h in runner.hooks
                  if isinstance(h, CompareBudgetHook))
    iters = runner.iter
    loss = runner.message_hub.get_scalar('train/loss').current() \
        if 'train/loss' in runner.message_hub.log_scalars else float('nan')
    out = dict(
        iterations=iters,
        resumed_from=resumed_from,
        start_iter=budget.start_iter,
        train_seconds=round(budget.elapsed, 2),
        wall_seconds_this_run=round(wall, 2),
        images_per_second=round(
            (iters - budget.start_iter) * cfg.train_dataloader.batch_size
            / max(budget.elapsed - budget.record.get(budget.start_iter, 0.),
                  1e-9), 2),
        peak_rss_mb=round(peak_rss_mb(), 1),
        peak_cuda_mb=round(torch.cuda.max_memory_allocated() / 2**20, 1)
        if cuda else None,
        final_loss=float(loss),
        stopped_by='minutes' if budget.limit is not None
        and budget.elapsed >= budget.limit else 'iterations')
    meta = dict(iteration=iters, config=config)
    out['network'] = export_model_backbone(
        runner.model, osp.join(run_dir, 'backbone.pth'), meta)
    with open(result + '.tmp', 'w') as f:
        json.dump(out, f, indent=2)
    os.replace(result + '.tmp', result)
    return out


# -------------------------------------------------------------- evaluation
class FrozenNetwork(nn.Module):
    """A backbone with the data preprocessor its pre-training normalised
    with, the interface :func:`extract_features` reads."""

    def __init__(self, backbone: nn.Module, data_preprocessor: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.data_preprocessor = data_preprocessor


def build_preprocessor() -> nn.Module:
    from mmengine.registry import DefaultScope

    from mmconmim.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(dict(type='SelfSupDataPreprocessor',
                                 **ImageNet_NORM))


def evaluate_backbone(backbone_file: str, backbone: dict, eval_data: str,
                      img_size: int, knn_k: int = 20,
                      batch_size: int = 64, num_workers: int = 0) -> dict:
    """kNN top-1/top-5 and linear-probe top-1 of an exported backbone
    (loaded with :func:`mmconmim.apis.load_backbone`)."""
    from mmconmim.apis import load_backbone
    from .features import extract_splits
    from .knn import knn_classify
    from .linear_probe import linear_probe
    net = FrozenNetwork(load_backbone(backbone_file, dict(backbone=backbone),
                                      network='auto'), build_preprocessor())
    feats = extract_splits(net, osp.join(eval_data, 'train'),
                           osp.join(eval_data, 'val'), 'student', 'avg',
                           img_size, batch_size, num_workers)
    args = (feats['train_feats'], feats['train_labels'], feats['val_feats'],
            feats['val_labels'], feats['num_classes'])
    knn = knn_classify(*args, k=knn_k, temperature=0.07)
    probe = linear_probe(*args, weight_decay=1e-2)
    return dict(knn_top1=knn['top1'], knn_top5=knn['top5'],
                linear_top1=probe['top1'], feature_dims=int(
                    feats['train_feats'].shape[1]),
                num_train=len(args[1]), num_val=len(args[3]))


def random_backbone_cfg(settings: dict) -> dict:
    """The random-initialisation row: a plain ViT of the compared size
    (mmpretrain ``VisionTransformer``, mean of the patch tokens) or the
    ResNet."""
    if ARCHS[settings['arch']][0] == 'vit':
        return dict(type='VisionTransformer', arch=vit_arch(settings),
                    img_size=settings['img_size'],
                    patch_size=settings['patch_size'], out_type='raw')
    return dict(type='ResNet', depth=ARCHS[settings['arch']][1]['depth'])


def save_random_backbone(cfg: dict, seed: int, out: str) -> None:
    from mmengine.registry import DefaultScope

    from mmconmim.registry import MODELS
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        backbone = MODELS.build(cfg)
    backbone.init_weights()
    weights = {'backbone.' + k: v for k, v in backbone.state_dict().items()}
    torch.save(dict(state_dict=weights, meta=dict(
        source='student', prefix='backbone.', iteration=0,
        random_init_seed=seed)), out + '.tmp')
    os.replace(out + '.tmp', out)


# ------------------------------------------------------------------- report
def cpu_model() -> str:
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True,
                             timeout=10).stdout
        for line in out.splitlines():
            if line.startswith('Model name:'):
                return line.split(':', 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def knn_curve(run_dir: str) -> Dict[int, float]:
    """{iteration: kNN top-1} that KNNEvalHook logged in ``run_dir`` (all
    runs of the dir, a later record of a step replacing an earlier one)."""
    curve = {}
    for ts in sorted(os.listdir(run_dir)) if osp.isdir(run_dir) else []:
        path = osp.join(run_dir, ts, 'vis_data', 'scalars.json')
        if not osp.isfile(path):
            continue
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                record = json.loads(line)
                if 'knn/top1' in record and 'step' in record:
                    curve[int(record['step'])] = float(record['knn/top1'])
    return curve


def _fmt(value, spec='.1f'):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    return format(value, spec)


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def summarise(rows: List[dict]) -> dict:
    """Mean over seeds of one method's per-seed rows."""
    keys = ('knn_top1', 'knn_top5', 'linear_top1', 'train_seconds',
            'images_per_second', 'peak_rss_mb', 'peak_cuda_mb', 'final_loss',
            'iterations')
    out = {k: _mean([r.get(k) for r in rows]) for k in keys}
    out['seeds'] = len(rows)
    return out


def write_report(work_dir: str, settings: dict, results: dict,
                 skipped: dict, failed: dict, env: dict) -> dict:
    budget = (f'{settings["iters"]} iterations' if settings['iters'] else
              f'{settings["minutes"]} minutes of training per method')
    data_name = osp.basename(settings['eval_data']['path'].rstrip('/'))
    arch = settings['arch'] + (
        f' (width {vit_arch(settings)["embed_dims"]}, depth '
        f'{vit_arch(settings)["num_layers"]}, heads '
        f'{vit_arch(settings)["num_heads"]})'
        if ARCHS[settings['arch']][0] == 'vit' else '')
    summary = {name: summarise(rows) for name, rows in results.items()}
    report = dict(settings=settings, environment=env, budget=budget,
                  methods={name: dict(label=method_label(
                      name, settings['arch']), mean=summary[name],
                      per_seed=results[name]) for name in results},
                  skipped=skipped, failed=failed)
    with open(osp.join(work_dir, 'report.json.tmp'), 'w') as f:
        json.dump(report, f, indent=2)
    os.replace(osp.join(work_dir, 'report.json.tmp'),
               osp.join(work_dir, 'report.json'))
    pre, ev = settings['pretrain_data'], settings['eval_data']
    lines = [
        f'# Method comparison: {data_name}, {settings["arch"]}, {budget}',
        '',
        f'* pretrain data: `{pre["path"]}` ({pre["images"]} images)',
        f'* eval data: `{ev["path"]}` ({ev["train_images"]} train / '
        f'{ev["val_images"]} val images, {ev["classes"]} classes)',
        f'* backbone: {arch}, {settings["img_size"]} px'
        + (f', {settings["patch_size"]} px patches'
           if ARCHS[settings['arch']][0] == 'vit' else ''),
        f'* budget: {budget}, batch {settings["batch_size"]}, lr '
        f'{settings["lr"]}, seeds {settings["seeds"]}',
        f'* machine: {env["cpu"]}, {env["threads"]} threads, '
        f'{env["device"]}; torch {env["torch"]}',
        f'* evaluation: weighted kNN (k={settings["knn_k"]}, T=0.07, '
        'cosine) and linear probe (L-BFGS logistic regression, wd 1e-2) '
        'on frozen features: ConMIM teacher / mean of last-layer patch '
        'tokens (MoCo v3: CLS token, the one it trains; ResNets: global '
        'average pool)',
        '',
        '| method | kNN top-1 | kNN top-5 | linear top-1 | pretrain time '
        '(s) | img/s | peak memory (MB) | final loss | iterations |',
        '|---|---|---|---|---|---|---|---|---|',
    ]
    for name in results:
        s = summary[name]
        label = method_label(name, settings['arch'])
        if s['seeds'] > 1:
            label += f' (mean of {s["seeds"]} seeds)'
        memory = s['peak_cuda_mb'] if s['peak_cuda_mb'] is not None else \
            s['peak_rss_mb']
        mem_txt = _fmt(memory, '.0f') + (
            ' (CUDA)' if s['peak_cuda_mb'] is not None else
            (' (RSS)' if memory is not None else ''))
        lines.append(
            f'| `{name}` {label} | {_fmt(s["knn_top1"])} | '
            f'{_fmt(s["knn_top5"])} | {_fmt(s["linear_top1"])} | '
            f'{_fmt(s["train_seconds"])} | {_fmt(s["images_per_second"])} | '
            f'{mem_txt} | {_fmt(s["final_loss"], ".3f")} | '
            f'{_fmt(s["iterations"], ".0f")} |')
    lines.append('')
    if skipped:
        lines.append('Not run:')
        lines.append('')
        lines += [f'* `{m}`: {why}' for m, why in skipped.items()]
        lines.append('')
    if failed:
        lines.append('Failed (see the log):')
        lines.append('')
        lines += [f'* `{m}`: {why}' for m, why in failed.items()]
        lines.append('')
    lines += [
        'Pretrain time counts data loading, forward, backward and the '
        'optimizer step; not the kNN evaluations, logging and checkpoints. '
        'Peak memory: CUDA max allocated on a GPU, else the main process\'s '
        'peak RSS (dataloader workers not included). kNN curve: '
        '`report.png`.', '']
    with open(osp.join(work_dir, 'report.md'), 'w') as f:
        f.write('\n'.join(lines))
    return report


def plot_report(work_dir: str, settings: dict, curves: Dict[str, dict],
                out: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    budget = (f'{settings["iters"]} iterations' if settings['iters'] else
              f'{settings["minutes"]} min per method')
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for name, curve in curves.items():
        if not curve or name == RANDOM_INIT:
            continue
        steps = sorted(curve)
        ax.plot(steps, [curve[s] for s in steps], marker='o', lw=1.2,
                label=name)
    random_rows = [r for r in curves.get(RANDOM_INIT, {}).values()]
    if random_rows:
        ax.axhline(random_rows[0], color='gray', ls='--', lw=1,
                   label='random init')
    ax.set_xlabel('pre-training iteration')
    ax.set_ylabel(f'kNN top-1 (%), k={settings["knn_k"]}')
    data_name = osp.basename(settings['eval_data']['path'].rstrip('/'))
    arch = settings['arch']
    if ARCHS[arch][0] == 'vit' and (settings.get('width')
                                    or settings.get('depth')):
        dims = vit_arch(settings)
        arch += f' ({dims["embed_dims"]} x {dims["num_layers"]})'
    ax.set_title(f'kNN top-1 on {data_name}: {arch}, '
                 f'{settings["img_size"]} px, {budget}', fontsize=10)
    ax.grid(alpha=0.3)
    if any(curves.values()):
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


# ------------------------------------------------------------------- driver
def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def _unit_dir(work_dir: str, name: str, seed: int) -> str:
    return osp.join(work_dir, name if seed == 0 else f'{name}-seed{seed}')


def _load_json(path):
    with open(path) as f:
        return json.load(f)


def is_finished(run_dir: str) -> bool:
    return (osp.isfile(osp.join(run_dir, 'backbone.pth'))
            and osp.isfile(osp.join(run_dir, 'metrics.json')))


def compare(pretrain_data: str, eval_data: str, methods: List[str],
            arch: str = 'vit-tiny', img_size: int = 64, patch_size: int = 8,
            iters: Optional[int] = None, minutes: Optional[float] = None,
            seeds: int = 1, batch_size: int = 32, lr: float = 2e-3,
            work_dir: str = 'work_dirs/compare',
            knn_interval: Optional[int] = None, knn_k: int = 20,
            checkpoint_interval: Optional[int] = None,
            width: Optional[int] = None, depth: Optional[int] = None,
            heads: Optional[int] = None, num_workers: int = 2,
            log=print) -> dict:
    """Run (or continue) a comparison; returns the report dict. See the
    module docstring and docs/compare_methods.md."""
    if (iters is None) == (minutes is None):
        raise CompareError('give exactly one budget: --iters N or '
                           '--minutes M')
    if iters is not None and iters < 1 or minutes is not None and \
            minutes <= 0 or seeds < 1 or batch_size < 1 or knn_k < 1:
        raise CompareError('--iters, --minutes, --seeds, --batch-size and '
                           '--knn-k must be positive')
    check_settings_geometry(arch, img_size, patch_size)
    if not osp.isdir(pretrain_data):
        raise CompareError(f'--pretrain-data {pretrain_data!r} is not a '
                           'folder; give a folder of images (any layout, '
                           'searched recursively; labels are not used)')
    counts = check_eval_data(eval_data, knn_k)
    pre = fingerprint(pretrain_data)
    if pre['images'] < batch_size:
        raise CompareError(
            f'--pretrain-data {pretrain_data!r} has {pre["images"]} images, '
            f'fewer than one batch ({batch_size}); add images or lower '
            '--batch-size')
    ev = fingerprint(eval_data)
    ev.update(train_images=sum(counts['train'].values()),
              val_images=sum(counts['val'].values()),
              classes=len(counts['train']))
    if checkpoint_interval is None:
        checkpoint_interval = max(1, iters // 5) if iters else 100
    if knn_interval is None:
        knn_interval = max(1, iters // 5) if iters else 200
    settings = dict(
        arch=arch, width=width, depth=depth, heads=heads,
        img_size=img_size, patch_size=patch_size, iters=iters,
        minutes=minutes, batch_size=batch_size, lr=lr, knn_k=knn_k,
        knn_interval=knn_interval, checkpoint_interval=checkpoint_interval,
        pretrain_data=pre, eval_data=ev, seeds=seeds,
        num_workers=num_workers)
    if ARCHS[arch][0] == 'vit':
        vit_arch(settings)  # width / heads check
    work_dir = osp.abspath(work_dir)
    check_or_store_settings(work_dir, settings)
    from .loading import quiet_logger
    quiet_logger()  # no weight-initialisation messages between the lines

    skipped = {m: skip_reason(m, arch) for m in methods
               if skip_reason(m, arch)}
    runnable = [m for m in methods if m not in skipped]
    units = [(RANDOM_INIT, s) for s in range(seeds)] + \
        [(m, s) for m in runnable for s in range(seeds)]
    env = dict(cpu=cpu_model(), threads=torch.get_num_threads(),
               device=(torch.cuda.get_device_name(0)
                       if torch.cuda.is_available() else 'no GPU'),
               torch=torch.__version__, python=platform.python_version())
    results, failed, curves = {}, {}, {}
    t_start = time.time()
    done_times = {}  # {is random init: [seconds of each unit done]}
    for index, (name, seed) in enumerate(units):
        run_dir = _unit_dir(work_dir, name, seed)
        tag = f'[{index + 1}/{len(units)}] {name}' + (
            f' seed {seed}' if seeds > 1 else '')
        os.makedirs(run_dir, exist_ok=True)
        if is_finished(run_dir):
            log(f'{tag}: finished earlier, skipped ({run_dir})')
            results.setdefault(name, []).append(
                _load_json(osp.join(run_dir, 'metrics.json')))
            if name != RANDOM_INIT:
                curves[name if seed == 0 else f'{name}-seed{seed}'] = \
                    knn_curve(run_dir)
            continue
        pending = [u[0] for u in units[index:]]
        eta = estimate_remaining(done_times, pending)
        if eta is not None:
            eta_txt = _hms(eta)
        elif minutes:
            eta_txt = '~' + _hms(sum(u != RANDOM_INIT for u in pending)
                                 * minutes * 60)
        else:
            eta_txt = 'unknown until the first method finishes'
        log(f'{tag}: start (elapsed {_hms(time.time() - t_start)}, '
            f'estimated remaining {eta_txt})')
        t0 = time.time()
        try:
            if name == RANDOM_INIT:
                cfg = random_backbone_cfg(settings)
                path = osp.join(run_dir, 'backbone.pth')
                save_random_backbone(cfg, seed, path)
                metrics = evaluate_backbone(path, cfg, eval_data, img_size,
                                            knn_k)
                metrics.update(iterations=0)
            else:
                metrics = _run_method(name, seed, settings, run_dir,
                                      eval_data, log, tag)
        except _MethodFailed as exc:
            failed[name if seed == 0 else f'{name}-seed{seed}'] = str(exc)
            log(f'{tag}: FAILED ({exc})')
            continue
        with open(osp.join(run_dir, 'metrics.json.tmp'), 'w') as f:
            json.dump(metrics, f, indent=2)
        os.replace(osp.join(run_dir, 'metrics.json.tmp'),
                   osp.join(run_dir, 'metrics.json'))
        results.setdefault(name, []).append(metrics)
        if name != RANDOM_INIT:
            curve = knn_curve(run_dir)
            # the final backbone's kNN (the hook's last point when it ran)
            curve.setdefault(int(metrics['iterations']), metrics['knn_top1'])
            curves[name if seed == 0 else f'{name}-seed{seed}'] = curve
        done_times.setdefault(name == RANDOM_INIT, []).append(
            time.time() - t0)
        eta = estimate_remaining(done_times, [u[0] for u in units[index + 1:]])
        log(f'{tag}: done in {_hms(time.time() - t0)}: kNN top-1 '
            f'{metrics["knn_top1"]:.1f}, linear {metrics["linear_top1"]:.1f}'
            f' (elapsed {_hms(time.time() - t_start)}, estimated remaining '
            f'{"unknown" if eta is None else _hms(eta)})')
    report = write_report(work_dir, settings, results, skipped, failed, env)
    if RANDOM_INIT in results:
        curves[RANDOM_INIT] = {0: summarise(results[RANDOM_INIT])['knn_top1']}
    plot_report(work_dir, settings, curves, osp.join(work_dir, 'report.png'))
    log(f'report: {osp.join(work_dir, "report.md")} (and report.json, '
        f'report.png); total {_hms(time.time() - t_start)}')
    return report


def estimate_remaining(done_times: Dict[bool, List[float]],
                       pending: List[str]) -> Optional[float]:
    """Seconds left for the ``pending`` units (method names): the mean time
    of the pre-trainings done so far for each pending method, the mean time
    of the random-init evaluations (seconds, not minutes) for each pending
    random init; None while a pending kind has no measured unit yet."""
    eta = 0.
    for is_random in (True, False):
        count = sum((name == RANDOM_INIT) == is_random for name in pending)
        if not count:
            continue
        times = done_times.get(is_random)
        if not times:
            return None
        eta += sum(times) / len(times) * count
    return eta


class _MethodFailed(RuntimeError):
    pass


# the child process of one pre-training (not ``python -m``: that would
# register this module's hooks twice, as __main__ and by custom_imports)
PRETRAIN_ENTRY = ('import sys; from mmconmim.evaluation.compare import '
                  'pretrain; pretrain(sys.argv[1], sys.argv[2])')


def _run_method(name, seed, settings, run_dir, eval_data, log, tag):
    config = osp.join(run_dir, 'config.py')
    result = osp.join(run_dir, 'pretrain.json')
    backbone_file = osp.join(run_dir, 'backbone.pth')
    if not osp.isfile(backbone_file) or not osp.isfile(result):
        write_config(method_config(name, settings, run_dir, seed), config)
        if osp.isfile(osp.join(run_dir, 'last_checkpoint')):
            with open(osp.join(run_dir, 'last_checkpoint')) as f:
                log(f'{tag}: resuming from {f.read().strip()}')
        log_file = osp.join(run_dir, 'pretrain.log')
        env = dict(os.environ)
        pkg_root = osp.dirname(osp.dirname(osp.dirname(
            osp.abspath(__file__))))
        env['PYTHONPATH'] = pkg_root + os.pathsep + env.get('PYTHONPATH', '')
        with open(log_file, 'a') as f:
            proc = subprocess.run(
                [sys.executable, '-c', PRETRAIN_ENTRY, config, result],
                stdout=f,
                stderr=subprocess.STDOUT, env=env)
        if proc.returncode:
            with open(log_file) as f:
                tail = f.read()[-3000:]
            log(tail)
            raise _MethodFailed(f'pre-training exited with {proc.returncode};'
                                f' log: {log_file}')
    pre = _load_json(result)
    metrics = evaluate_backbone(backbone_file, backbone_cfg(config),
                                eval_data, settings['img_size'],
                                settings['knn_k'])
    metrics.update({k: pre[k] for k in (
        'iterations', 'train_seconds', 'images_per_second', 'peak_rss_mb',
        'peak_cuda_mb', 'final_loss', 'stopped_by', 'network')})
    return metrics
