"""Dense transfer of an exported backbone through mmsegmentation: the
comparison's dense column (issue 24, item 2).

MIM papers measure dense transfer by semantic segmentation with the
pre-trained ViT in an mmseg UperNet (BEiT, Bao et al. ICLR 2022, Sec. 3.2;
ConMIM, Yi et al. ICLR 2023, Sec. 4.2). Without dense labels of one's own,
:func:`prepare_seg_data` makes them from a labelled crop folder: mosaics of
crops of different classes, every pixel labelled with its crop's class
(:mod:`mmconmim.datasets.dense_mosaics`), in mmseg's layout (``img_dir/``,
``ann_dir/``, ``meta.json``). :func:`dense_transfer` trains mmseg's
``EncoderDecoder`` with mmengine's runner in mmseg's scope (as
``tools/benchmarks/mmsegmentation`` and mmseg's own ``tools/train.py`` do),
the backbone loaded with ``init_cfg=dict(type='Pretrained', ...)`` as in
configs/conmim/benchmarks/ (upernet_*_conmim-pre_*), and reports mIoU on the val split:

* ``linear``: frozen backbone (no drop path, its final norm as pre-trained)
  and a linear head, a 1x1 convolution on the last feature map (mmseg
  ``FCNHead`` without convolutions);
* ``finetune``: the backbone fine-tuned (drop path 0.1, no final norm, as the
  downstream configs) with a small FCN head (one 3x3 conv, 64 channels, BN).

Recipe (AdamW (0.9, 0.999), weight decay 0.05 except on 1-D weights, biases,
tokens and position embeddings; linear warm-up over the schedule's first
~1 % (1500 of 160k) from 1e-6 of the lr, then poly decay to 0): mmseg's
BEiT/MAE UperNet values, lr 1e-4 at batch 16 with layer-wise decay 0.65
(layer ``i`` of ``L``: ``lr * 0.65 ** (L + 1 - i)``, mmseg's
``get_layer_id_for_vit`` rule, written as per-parameter ``lr_mult`` so every
backbone class gets it), and the new head at 10x the lr (mmseg's SegFormer
recipe), in both modes; the lr scales to the batch by the linear rule.
Ours: the light heads, the iterations, random crops of ``img_size`` with
flips and photometric distortion but no random rescaling (the tiles have one
scale in train and val), sliding-window inference with ``img_size`` windows
and half-window stride, and :data:`SHORT_SCHEDULE_LR_MULT` = 16 on the lr
(``lr=None`` gives ``1e-4 * 16 * batch_size / 16``): at 150 iterations
instead of 160k, the recipe's lr leaves every backbone's head untrained.
Trials that chose it (photo-regions-13 mosaics, 96 train / 96 val, 13
classes; ViT 128 x 4, 64 px, 8-px patches; batch 8, 150 iterations, seed 0;
mIoU on the val mosaics, linear / finetune; the same multiplier for every
row):

=======================================  ===========  ===========  ===========
backbone                                 x1           x4           x16
=======================================  ===========  ===========  ===========
random init, BEiT-style ViT (ConMIMViT)  15.2 / 11.4  19.3 / 22.7  22.9 / 33.8
random init, plain ViT                   15.2 / 12.4  27.9 / 31.9  -
MAE, 300 iterations (kNN 69.9)           7.1 / 10.8   24.3 / 23.2  29.7 / 40.3
=======================================  ===========  ===========  ===========

``work_dir/<mode>/`` receives ``dense_config.py``, the log, the weights
``iter_<iters>.pth`` and ``dense_result.json`` (a later call with the same
config returns the stored result).
"""
import json
import os
import os.path as osp
import time
from typing import Optional, Sequence

import numpy as np
from mmengine.config import Config

from mmconmim.utils.validation import check_int, check_positive
from .finetune import (IMAGENET_MEAN, IMAGENET_STD, cached_result,
                       check_img_size, check_loads, config_digest,
                       downstream_backbone, file_prefix, inputs_digest,
                       last_val_metric, load_network, network_kind,
                       run_config, runtime, schedule, store_result)

MODES = ('linear', 'finetune')
CONFIG_FILE = 'dense_config.py'
RESULT_FILE = 'dense_result.json'
IGNORE_INDEX = 255
LAYOUT = ('expected DIR/img_dir/{train,val}/*.png|jpg, DIR/ann_dir/{train,'
          'val}/*.png (uint8 class index per pixel, 255 = ignore) and '
          'DIR/meta.json {"classes": [...]} (prepare_seg_data writes it)')
# mmseg's BEiT/MAE UperNet recipe: 1e-4 at batch 16, layer decay 0.65; the
# head at 10x the lr (mmseg's SegFormer recipe: a new head, short schedule)
BASE_LR = 1e-4
HEAD_LR_MULT = 10.
# ours: 150 iterations instead of 160k (trials in the module docstring)
SHORT_SCHEDULE_LR_MULT = 16.
BASE_BATCH = 16
LAYER_DECAY = 0.65
WARMUP = 1500 / 160000
# defaults for the comparison: on the photo-regions-13 mosaics (96 train /
# 96 val) with its ViT (128 x 4, 64 px, 8-px patches) one call with both
# modes took 30-37 CPU seconds (1 thread, AMD EPYC; 100-230 s wall on 2
# cores shared with ~10 other processes)
DEFAULT_ITERS = 150
DEFAULT_BATCH_SIZE = 8
OWNER = 'dense_transfer'


def prepare_seg_data(eval_data: str, out: str, seed: int, *,
                     tile_size: int = 32,
                     grids=((2, 2), (3, 3))) -> str:
    """Segmentation mosaics of the labelled folder ``eval_data``
    (``train/<class>/``, ``val/<class>/``) in mmseg's layout under ``out``;
    returns ``out``. ``out`` must be new, empty or an earlier output (its
    ``img_dir``/``ann_dir``/``meta.json`` are rewritten)."""
    from mmconmim.datasets.dense_mosaics import write_segmentation_mosaics
    check_int('prepare_seg_data', 'seed', seed, min=0)
    if osp.isdir(out):
        foreign = sorted(set(os.listdir(out)) -
                         {'img_dir', 'ann_dir', 'meta.json'})
        if foreign:
            raise FileExistsError(
                f'prepare_seg_data: {out!r} holds other files ({foreign[:3]}'
                '); give a new or empty folder')
    write_segmentation_mosaics(eval_data, out, seed=seed,
                               tile_size=tile_size, grids=grids)
    return out


# ------------------------------------------------------------------- data
def _split_files(seg_data: str, split: str) -> tuple:
    """(image suffix, names) of one split, checked against its masks."""
    img_dir = osp.join(seg_data, 'img_dir', split)
    ann_dir = osp.join(seg_data, 'ann_dir', split)
    for folder in (img_dir, ann_dir):
        if not osp.isdir(folder):
            hint = (' (a labelled crop folder: make mosaics of it with '
                    'prepare_seg_data)') if osp.isdir(
                        osp.join(seg_data, split)) else ''
            raise FileNotFoundError(f'{OWNER}: no folder {folder!r}{hint}; '
                                    + LAYOUT)
    images = sorted(os.listdir(img_dir))
    suffixes = {osp.splitext(f)[1].lower() for f in images}
    if not images or len(suffixes) != 1 or not suffixes <= {
            '.png', '.jpg', '.jpeg'}:
        raise ValueError(f'{OWNER}: {img_dir!r} must hold images of one '
                         f'suffix (.png or .jpg), found {sorted(suffixes)}')
    names = [osp.splitext(f)[0] for f in images]
    masks = {osp.splitext(f)[0] for f in os.listdir(ann_dir)
             if f.endswith('.png')}
    unmatched = sorted(set(names) - masks)
    if unmatched:
        raise FileNotFoundError(
            f'{OWNER}: {len(unmatched)} images of {img_dir!r} have no '
            f'mask in {ann_dir!r} (first: {unmatched[0]}.png); ' + LAYOUT)
    return os.path.splitext(images[0])[1], names


def _check_labels(seg_data: str, split: str, names: list,
                  num_classes: int) -> None:
    from PIL import Image
    for name in names:
        path = osp.join(seg_data, 'ann_dir', split, name + '.png')
        with Image.open(path) as mask:
            labels = np.unique(np.asarray(mask))
        bad = labels[(labels >= num_classes) & (labels != IGNORE_INDEX)]
        if bad.size:
            raise ValueError(
                f'{OWNER}: {path} has labels {bad.tolist()}, but there are '
                f'{num_classes} classes (0..{num_classes - 1}, 255 = '
                'ignore); fix the masks or the class list')


def seg_classes(seg_data: str, classes: Optional[Sequence[str]]) -> list:
    """The class names: ``classes`` or ``seg_data/meta.json``'s."""
    meta_file = osp.join(seg_data, 'meta.json')
    stored = None
    if osp.isfile(meta_file):
        with open(meta_file) as f:
            stored = json.load(f).get('classes')
    if classes is not None and stored is not None and \
            list(classes) != list(stored):
        raise ValueError(f'{OWNER}: classes {list(classes)[:4]}... differ '
                         f'from those of {meta_file}; give one list')
    names = classes if classes is not None else stored
    if names is None:
        raise FileNotFoundError(
            f'{OWNER}: {seg_data!r} has no meta.json with "classes" and no '
            'classes= were given; write {"classes": [...]} there or pass '
            'classes=[...] (index order of the masks)')
    if isinstance(names, str) or len(names) < 2:
        raise ValueError(f'{OWNER}: need a list of at least 2 class names, '
                         f'got {names!r}')
    return [str(n) for n in names]


def _dataset(seg_data: str, split: str, suffix: str, classes: list,
             pipeline: list) -> dict:
    return dict(type='BaseSegDataset', data_root=seg_data,
                data_prefix=dict(img_path=f'img_dir/{split}',
                                 seg_map_path=f'ann_dir/{split}'),
                img_suffix=suffix, seg_map_suffix='.png',
                metainfo=dict(classes=tuple(classes)),
                reduce_zero_label=False, ignore_index=IGNORE_INDEX,
                pipeline=pipeline)


def _pipelines(img_size: int) -> tuple:
    train = [dict(type='LoadImageFromFile'),
             dict(type='LoadAnnotations'),
             dict(type='RandomCrop', crop_size=(img_size, img_size),
                  cat_max_ratio=0.75),
             dict(type='RandomFlip', prob=0.5),
             dict(type='PhotoMetricDistortion'),
             dict(type='PackSegInputs')]
    test = [dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]
    return train, test


# ------------------------------------------------------------------ model
def _head(mode: str, dims: int, num_classes: int) -> dict:
    common = dict(type='FCNHead', in_channels=dims, in_index=-1,
                  concat_input=False, num_classes=num_classes,
                  align_corners=False,
                  loss_decode=dict(type='CrossEntropyLoss',
                                   use_sigmoid=False, loss_weight=1.0,
                                   avg_non_ignore=True))
    if mode == 'linear':  # only the 1x1 classifier conv
        return dict(common, channels=dims, num_convs=0, dropout_ratio=0.)
    return dict(common, channels=64, num_convs=1, kernel_size=3,
                dropout_ratio=0.1, norm_cfg=dict(type='BN',
                                                 requires_grad=True))


def _layer_id(name: str, num_layers: int) -> int:
    """mmseg's ``get_layer_id_for_vit`` on backbone parameter names."""
    if name in ('cls_token', 'mask_token', 'pos_embed') or \
            name.startswith('patch_embed'):
        return 0
    if name.startswith('layers.'):
        return int(name.split('.')[1]) + 1
    return num_layers + 1


def _param_keys(model_cfg: dict, decay: float) -> dict:
    """Per-parameter ``lr_mult``/``decay_mult`` of the segmentor (built
    once to list its parameters): layer-wise lr decay in the backbone,
    :data:`HEAD_LR_MULT` in the head, no weight decay on 1-D weights,
    biases, tokens and position embeddings."""
    from mmengine.registry import DefaultScope

    from mmconmim.registry import MODELS
    model_cfg = dict(model_cfg, backbone=dict(model_cfg['backbone'],
                                              init_cfg=None))
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(model_cfg)
    num_layers = getattr(model.backbone, 'num_layers', 0)
    keys = {}
    for name, param in model.named_parameters():
        flat = param.ndim == 1 or name.endswith('.bias') or name in (
            'backbone.pos_embed', 'backbone.cls_token')
        if name.startswith('backbone.'):
            layer = _layer_id(name[len('backbone.'):], num_layers)
            lr_mult = decay**(num_layers + 1 - layer)
        else:
            lr_mult = HEAD_LR_MULT
        keys[name] = dict(lr_mult=lr_mult, decay_mult=0. if flat else 1.)
    return keys


def _model(network, mode: str, img_size: int, num_classes: int,
           backbone_file: str) -> dict:
    frozen = mode == 'linear'
    kind = network_kind(network)
    last = (network.num_stages if kind == 'resnet'
            else network.num_layers) - 1
    backbone = downstream_backbone(
        network, img_size, out_type='featmap',
        final_norm=frozen and bool(getattr(network, 'final_norm', False)),
        drop_path_rate=0. if frozen else 0.1, frozen=frozen)
    backbone['out_indices'] = (last, )
    prefix = file_prefix(backbone_file)
    backbone['init_cfg'] = dict(type='Pretrained', checkpoint=backbone_file,
                                prefix=prefix or None)
    dims = network.feat_dim if kind == 'resnet' else network.embed_dims
    size = (img_size, img_size)
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=IMAGENET_MEAN,
                               std=IMAGENET_STD, bgr_to_rgb=True, pad_val=0,
                               seg_pad_val=IGNORE_INDEX, size=size),
        backbone=backbone,
        decode_head=_head(mode, dims, num_classes),
        train_cfg=dict(),
        test_cfg=dict(mode='slide', crop_size=size,
                      stride=(max(1, img_size // 2), ) * 2))


def _loader(dataset: dict, batch_size: int, train: bool, seed: int) -> dict:
    sampler = (dict(type='InfiniteSampler', shuffle=True, seed=seed) if train
               else dict(type='DefaultSampler', shuffle=False))
    return dict(batch_size=batch_size if train else 1, num_workers=0,
                persistent_workers=False, sampler=sampler,
                dataset=dataset)


def dense_config(backbone_file: str, backbone_cfg: dict, seg_data: str, *,
                 mode: str, iters: int, seed: int, work_dir: str,
                 img_size: int, classes: Optional[Sequence[str]] = None,
                 batch_size: int = DEFAULT_BATCH_SIZE,
                 lr: Optional[float] = None, network=None) -> dict:
    """The runner config of one ``mode`` of :func:`dense_transfer`."""
    if network is None:
        network = load_network(backbone_file, backbone_cfg, OWNER)
    classes = seg_classes(seg_data, classes)
    files = {split: _split_files(seg_data, split)
             for split in ('train', 'val')}
    train, test = _pipelines(img_size)
    model = _model(network, mode, img_size, len(classes),
                   osp.abspath(backbone_file))
    check_loads(backbone_file, model['backbone'], 'mmseg')
    if lr is None:
        lr = BASE_LR * SHORT_SCHEDULE_LR_MULT * batch_size / BASE_BATCH
    paramwise = dict(custom_keys=_param_keys(model, LAYER_DECAY))
    sched = schedule(iters, WARMUP, start_factor=1e-6,
                     decay=dict(type='PolyLR', eta_min=0., power=1.0))
    return dict(
        default_scope='mmseg',
        meta=dict(mode=mode, classes=classes,
                  inputs=inputs_digest(backbone_file, seg_data)),
        model=model,
        train_dataloader=_loader(_dataset(seg_data, 'train',
                                          files['train'][0], classes,
                                          train), batch_size, True, seed),
        val_dataloader=_loader(_dataset(seg_data, 'val', files['val'][0],
                                        classes, test), 1, False, seed),
        val_evaluator=dict(type='IoUMetric', iou_metrics=['mIoU']),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=iters,
                       val_interval=iters),
        val_cfg=dict(type='ValLoop'),
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(
            type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=0.05),
            paramwise_cfg=paramwise),
        param_scheduler=sched,
        **runtime(iters, osp.abspath(work_dir), seed))


def _check_args(modes, iters, seed, img_size, batch_size, lr) -> tuple:
    if isinstance(modes, str):
        modes = (modes, )
    modes = tuple(modes)
    if not modes or not set(modes) <= set(MODES) or len(set(modes)) != len(
            modes):
        raise ValueError(f'{OWNER}: modes must be a non-empty selection of '
                         f'{MODES} without repeats, got {modes!r}')
    check_int(OWNER, 'iters', iters, min=1)
    check_int(OWNER, 'seed', seed, min=0)
    check_int(OWNER, 'img_size', img_size, min=8)
    check_int(OWNER, 'batch_size', batch_size, min=1)
    if lr is not None:
        check_positive(OWNER, 'lr', lr, finite=True,
                       fix='or None for the recipe\'s lr scaled to the '
                       'batch')
    return modes


def dense_transfer(backbone_file: str, backbone_cfg: dict, seg_data: str,
                   *, iters: int, seed: int, work_dir: str, img_size: int,
                   modes: Sequence[str] = MODES,
                   classes: Optional[Sequence[str]] = None,
                   batch_size: int = DEFAULT_BATCH_SIZE,
                   lr: Optional[float] = None) -> dict:
    """Train each of ``modes`` on ``seg_data`` and report val mIoU.

    Args:
        backbone_file: an export of tools/model_converters/export_backbone.py
            (or a random-init backbone file in that format).
        backbone_cfg: ``model.backbone`` of the pre-training config.
        seg_data: mmseg layout (``img_dir/``, ``ann_dir/``, ``meta.json``),
            e.g. from :func:`prepare_seg_data`, or one's own.
        iters: training iterations of each mode.
        seed: seed of head init, sampling and augmentation (deterministic).
        work_dir: ``<work_dir>/<mode>/`` gets config, log, weights, result.
        img_size: training crop and inference window.
        modes: any of ``('linear', 'finetune')``.
        classes: class names in mask-index order when ``seg_data`` has no
            ``meta.json``.
        batch_size: training batch (lr scaled linearly from batch 16).
        lr: backbone lr of every mode, the head's is 10x (None: 1e-4 x 16
            x batch_size / 16, see the module docstring).

    Returns:
        ``{'linear_miou', 'finetune_miou', 'seconds'}``: mIoU in percent
        (mmseg's ``IoUMetric``, two decimals; None for a mode not run) and
        the wall seconds of the call.
    """
    t0 = time.time()
    modes = _check_args(modes, iters, seed, img_size, batch_size, lr)
    network = load_network(backbone_file, backbone_cfg, OWNER)
    check_img_size(OWNER, network, img_size)
    names = {split: _split_files(seg_data, split)[1]
             for split in ('train', 'val')}
    classes = seg_classes(seg_data, classes)
    for split in ('train', 'val'):
        _check_labels(seg_data, split, names[split], len(classes))
    result = dict(linear_miou=None, finetune_miou=None)
    for mode in modes:
        mode_dir = osp.join(osp.abspath(work_dir), mode)
        cfg = Config(dense_config(
            backbone_file, backbone_cfg, seg_data, mode=mode, iters=iters,
            seed=seed, work_dir=mode_dir, img_size=img_size,
            classes=classes, batch_size=batch_size, lr=lr,
            network=network))
        digest = config_digest(cfg)
        os.makedirs(mode_dir, exist_ok=True)
        miou = cached_result(mode_dir, RESULT_FILE, digest, OWNER)
        if miou is None:
            cfg.dump(osp.join(mode_dir, CONFIG_FILE))
            runner = run_config(cfg, 'mmseg')
            miou = last_val_metric(runner, 'mIoU')
            store_result(mode_dir, RESULT_FILE, digest, miou)
        result[f'{mode}_miou'] = miou
    result['seconds'] = round(time.time() - t0, 2)
    return result
