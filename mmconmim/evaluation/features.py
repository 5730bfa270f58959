"""Frozen features of a pre-training model, for kNN / linear-probe
monitoring.

Which network
    ``source`` follows the one teacher/student rule of
    :mod:`mmconmim.checkpoint.networks`: ``'teacher'`` is ConMIM's momentum
    encoder (what the official recipe fine-tunes from), ``'student'`` is
    ``model.backbone`` (the network being pre-trained in every algorithm),
    ``'auto'`` takes the teacher when the model has one holding weights.

Which feature (``pool``)
    * ``'avg'`` (default): the mean of the last layer's **patch** tokens of a
      ViT (extra tokens such as CLS dropped; ConMIM trains no CLS objective),
      or global average pooling of the last feature map of a CNN;
    * ``'cls'``: the CLS token of the last layer (ViTs only; an mmpretrain
      ViT built with a pooled ``out_type`` is read with ``'raw'``, see
      :func:`backbone_forward`).

    Backbone outputs are read generically: the last element of the output
    tuple is a (B, L, C) token sequence (``num_extra_tokens`` leading extra
    tokens), a (B, C, H, W) map, or an already pooled (B, C) vector.

Masked-image-modeling backbones are called with ``mask=None`` (no masking).
"""
import inspect
import os
import os.path as osp
from typing import Callable, Dict, Optional, Union

import torch
from mmengine.dist import all_gather_object, get_world_size
from torch import nn

from mmconmim.checkpoint.networks import (NETWORKS, check_network, choose,
                                          has_teacher, model_network,
                                          select_backbone, unwrap)
from mmconmim.utils.validation import check_choice

SOURCES = NETWORKS
POOLS = ('avg', 'cls')
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif')


def resolve_source(model: nn.Module, source: str = 'auto') -> str:
    """Validate ``source`` for ``model`` (``'teacher'`` needs a model with
    a momentum teacher) and return it, ``'auto'`` kept as such."""
    check_network(source)
    choose(source, has_teacher(model), owner=type(unwrap(model)).__name__)
    return source


# mmpretrain ViT outputs that are already one vector per image: read as
# they are, 'avg' would silently be the CLS token (MoCo v3's 'cls_token').
POOLED_VIT_OUTPUTS = ('cls_token', 'avg_featmap')


def backbone_forward(backbone: nn.Module, inputs: torch.Tensor):
    """Call a backbone without masking (``mask=None`` for MIM backbones).

    An mmpretrain ViT configured to return one pooled vector
    (``out_type='cls_token'`` or ``'avg_featmap'``) is called with
    ``out_type='raw'`` (restored afterwards), so that ``pool`` chooses the
    feature: 'avg' is always the patch-token mean and 'cls' the CLS token.
    """
    params = inspect.signature(backbone.forward).parameters
    call = ((lambda: backbone(inputs, mask=None)) if 'mask' in params
            else (lambda: backbone(inputs)))
    out_type = getattr(backbone, 'out_type', None)
    if out_type not in POOLED_VIT_OUTPUTS or \
            'raw' not in getattr(backbone, 'OUT_TYPES', ()):
        return call()
    backbone.out_type = 'raw'
    try:
        return call()
    finally:
        backbone.out_type = out_type


def pool_features(outs, backbone: nn.Module, pool: str = 'avg'
                  ) -> torch.Tensor:
    """Reduce a backbone output to one (B, C) vector per image (see the
    module docstring)."""
    check_choice(None, 'pool', pool, POOLS)
    while isinstance(outs, (tuple, list)):
        if not outs:
            raise ValueError('the backbone returned no output')
        outs = outs[-1]
    if outs.dim() == 4:
        if pool == 'cls':
            raise ValueError(
                'pool=cls needs a token sequence with a CLS token, but the '
                'backbone returns a (B, C, H, W) feature map; use pool=avg')
        return outs.mean(dim=(2, 3))
    if outs.dim() == 3:
        extra = getattr(backbone, 'num_extra_tokens', None)
        if extra is None:
            extra = 1 if getattr(backbone, 'cls_token', None) is not None \
                else 0
        if pool == 'cls':
            if extra < 1:
                raise ValueError('pool=cls, but the backbone has no CLS '
                                 'token')
            return outs[:, 0]
        return outs[:, extra:].mean(dim=1)
    if outs.dim() == 2:
        if pool == 'cls':
            raise ValueError('pool=cls, but the backbone returns pooled '
                             '(B, C) vectors; set its out_type to raw')
        return outs
    raise ValueError(f'cannot pool a backbone output of shape '
                     f'{tuple(outs.shape)}')


def default_img_size(model: nn.Module, source: str = 'auto') -> int:
    """The input size a ViT backbone was built for; 224 otherwise."""
    backbone, _ = select_backbone(model, source)
    patch_embed = getattr(backbone, 'patch_embed', None)
    size = getattr(patch_embed, 'init_input_size', None)
    if size is not None:
        return int(size[0])
    return 224


def eval_pipeline(img_size: int, crop_ratio: float = 0.875) -> list:
    """Resize the short edge to ``img_size / crop_ratio``, centre-crop
    ``img_size`` (the DINO/ImageNet evaluation transform)."""
    return [
        dict(type='RobustLoadImageFromFile'),
        dict(type='ResizeEdge', scale=int(round(img_size / crop_ratio)),
             edge='short', backend='pillow', interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=img_size),
        dict(type='PackInputs'),
    ]


# default scopes whose registries hold mmpretrain's datasets and transforms
CLASSIFICATION_SCOPES = ('mmpretrain', 'mmconmim')


def mmpretrain_scope():
    """Context: the current default scope inside an mmpretrain / mmconmim
    runner, else ``mmpretrain`` -- outside a runner (no scope), or where
    another library's scope is current (e.g. ``mmseg`` after an mmseg model
    was built in this process), whose registries lack ``CustomDataset``."""
    from mmengine.registry import DefaultScope
    current = DefaultScope.get_current_instance()
    keep = current is not None and \
        current.scope_name in CLASSIFICATION_SCOPES
    return DefaultScope.overwrite_default_scope(None if keep else 'mmpretrain')


def count_class_images(root: str) -> Dict[str, int]:
    """Images per class sub-folder of ``root`` (recursive)."""
    counts = {}
    for entry in sorted(os.listdir(root)):
        path = osp.join(root, entry)
        if not osp.isdir(path):
            continue
        n = 0
        for _, _, files in os.walk(path):
            n += sum(f.lower().endswith(IMG_EXTENSIONS) for f in files)
        counts[entry] = n
    return counts


def labeled_dataset_cfg(data: Union[str, dict], img_size: int,
                        name: str = 'data') -> dict:
    """A dataset config for kNN evaluation.

    ``data`` is a folder with one sub-folder of images per class (an
    mmpretrain ``CustomDataset``), or any mmpretrain classification dataset
    config (``ImageNet``, ``CustomDataset`` with an annotation file, ...);
    without a ``pipeline`` it gets :func:`eval_pipeline`.
    """
    if isinstance(data, str):
        if not osp.isdir(data):
            raise FileNotFoundError(
                f'kNN {name}: {data!r} is not a folder; give a folder with '
                'one sub-folder of images per class, or a dataset config')
        counts = count_class_images(data)
        if not any(counts.values()):
            raise RuntimeError(
                f'kNN {name}: no labelled images found in {data!r}: expected '
                f'one sub-folder per class holding {"/".join(IMG_EXTENSIONS)}'
                f' files (found {len(counts)} sub-folders)')
        data = dict(type='CustomDataset', data_root=data, with_label=True)
    else:
        data = dict(data)
        if 'type' not in data:
            raise ValueError(f'kNN {name}: a dataset config needs a type')
    data.setdefault('pipeline', eval_pipeline(img_size))
    return data


def build_eval_dataloader(data: Union[str, dict], img_size: int,
                          batch_size: int = 64, num_workers: int = 2,
                          name: str = 'data'):
    """A sequential (``DefaultSampler(shuffle=False)``) dataloader over a
    labelled dataset; under DDP each rank gets its shard."""
    from mmengine.runner import Runner
    cfg = dict(
        batch_size=batch_size,
        num_workers=num_workers,
        persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=labeled_dataset_cfg(data, img_size, name))
    with mmpretrain_scope():
        loader = Runner.build_dataloader(cfg)
    if len(loader.dataset) == 0:
        raise RuntimeError(f'kNN {name}: the dataset is empty')
    return loader


def build_knn_loaders(train_data: Union[str, dict], val_data: Union[str, dict],
                      img_size: int, batch_size: int = 64,
                      num_workers: int = 2):
    """Dataloaders of the labelled train (reference) and val sets; checks
    that both use the same class list (labels are indices into it)."""
    loaders = tuple(
        build_eval_dataloader(data, img_size, batch_size, num_workers, name)
        for data, name in ((train_data, 'train_data'),
                           (val_data, 'val_data')))
    classes = [tuple(loader.dataset.metainfo.get('classes', ()) or ())
               for loader in loaders]
    if classes[0] and classes[1] and classes[0] != classes[1]:
        raise ValueError(
            'kNN: the train and val sets have different classes '
            f'(train: {list(classes[0])[:10]}, val: {list(classes[1])[:10]}'
            '); labels would not correspond')
    return loaders


def num_classes_of(loader) -> Optional[int]:
    classes = loader.dataset.metainfo.get('classes', None)
    return len(classes) if classes else None


@torch.no_grad()
def preprocess_single_view(model: nn.Module, batch: dict) -> torch.Tensor:
    """Normalise a batch of single-view images as the model's data
    preprocessor normalises its first (or only) view, through its public
    ``forward``.

    The two-view preprocessor (``TwoNormDataPreprocessor`` of CIM/BEiT)
    expects a list ``[view_A, view_B]`` and would read a batch tensor as a
    list of views, so it is given the batch as both views and the first is
    kept.
    """
    from mmpretrain.models.utils import TwoNormDataPreprocessor
    dp = model.data_preprocessor
    inputs = batch['inputs']
    if isinstance(inputs, (list, tuple)):
        inputs = torch.stack(list(inputs))
    if isinstance(dp, TwoNormDataPreprocessor):
        inputs = dp(dict(inputs=[inputs, inputs], data_samples=None))[
            'inputs'][0]
    else:
        inputs = dp(dict(inputs=inputs, data_samples=None))['inputs']
    return inputs.float()  # a non-normalising preprocessor keeps uint8


def extract_features(model: nn.Module,
                     dataloader,
                     source: str = 'auto',
                     pool: str = 'avg',
                     progress: Optional[Callable[[int, int], None]] = None
                     ) -> Dict[str, torch.Tensor]:
    """Features, labels and dataset indices of this rank's share of
    ``dataloader``.

    The backbone runs in eval mode (its previous mode is restored) under
    ``torch.no_grad``; inputs are normalised like the model's first view
    (:func:`preprocess_single_view`).

    Returns:
        ``dict(feats=(n, C) float32 CPU, labels=(n, ), indices=(n, ),
        source=the network used, see :func:`select_backbone`)``.
    """
    model = unwrap(model)
    backbone, source = select_backbone(model, source)
    was_training = backbone.training
    backbone.eval()
    feats, labels, indices = [], [], []
    try:
        total = len(dataloader)
        for i, batch in enumerate(dataloader):
            inputs = preprocess_single_view(model, batch)
            data = batch
            outs = backbone_forward(backbone, inputs)
            feats.append(
                pool_features(outs, backbone, pool).detach().float().cpu())
            samples = data['data_samples']
            for sample in samples:
                if 'gt_label' not in sample:
                    raise ValueError(
                        'kNN: a sample has no gt_label; the dataset must be '
                        'labelled (e.g. one sub-folder per class)')
            labels.append(torch.cat(
                [s.gt_label.reshape(-1)[:1].cpu() for s in samples]))
            indices.append(torch.tensor(
                [int(s.metainfo.get('sample_idx', -1)) for s in samples]))
            if progress is not None:
                progress(i + 1, total)
    finally:
        backbone.train(was_training)
    source = str(source)  # plain: feature files are read weights-only
    if not feats:
        return dict(feats=torch.zeros(0, 0), labels=torch.zeros(0).long(),
                    indices=torch.zeros(0).long(), source=source)
    return dict(feats=torch.cat(feats), labels=torch.cat(labels).long(),
                indices=torch.cat(indices).long(), source=source)


def gather_features(part: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Gather every rank's :func:`extract_features` output on every rank,
    drop the duplicates the distributed sampler pads with, and sort by
    dataset index. A no-op copy in a single process."""
    if get_world_size() > 1:
        parts = all_gather_object(part)
    else:
        parts = [part]
    parts = [p for p in parts if p['feats'].numel()]
    feats = torch.cat([p['feats'] for p in parts])
    labels = torch.cat([p['labels'] for p in parts])
    indices = torch.cat([p['indices'] for p in parts])
    if bool((indices < 0).any()):
        if len(parts) > 1:
            raise ValueError('kNN: samples lack sample_idx metadata, so the '
                             'ranks\' features cannot be merged; keep '
                             'sample_idx in PackInputs meta_keys')
        return dict(feats=feats, labels=labels, indices=indices,
                    source=part.get('source'))
    order = torch.argsort(indices, stable=True)
    indices = indices[order]
    keep = torch.ones_like(indices, dtype=torch.bool)
    keep[1:] = indices[1:] != indices[:-1]
    order = order[keep]
    return dict(feats=feats[order], labels=labels[order],
                indices=indices[keep], source=part.get('source'))


def extract_splits(model: nn.Module, train_data: Union[str, dict],
                   val_data: Union[str, dict], source: str = 'auto',
                   pool: str = 'avg', img_size: Optional[int] = None,
                   batch_size: int = 64, num_workers: int = 2,
                   progress_factory: Optional[Callable] = None) -> dict:
    """Features of a labelled train and val set in one process.

    Args:
        progress_factory: ``factory(name, total)`` returning a context
            manager with an ``update(n)`` method (e.g. ``tqdm``), or None.

    Returns:
        ``dict(train_feats, train_labels, val_feats, val_labels, classes,
        num_classes, source, pool, img_size)``, as
        ``tools/analysis_tools/linear_probe.py --features`` reads it.
    """
    # one resolution for both splits (a resolved Network passes unchanged)
    source = model_network(model, source)
    img_size = img_size or default_img_size(model, source)
    loaders = build_knn_loaders(train_data, val_data, img_size, batch_size,
                                num_workers)
    out = dict(classes=list(loaders[0].dataset.metainfo.get('classes', [])),
               num_classes=num_classes_of(loaders[0]), pool=pool,
               img_size=img_size)
    for name, loader in zip(('train', 'val'), loaders):
        bar = progress_factory(name, len(loader)) if progress_factory \
            else None
        try:
            part = extract_features(
                model, loader, source, pool,
                (lambda done, total: bar.update(1)) if bar else None)
        finally:
            if bar is not None:
                bar.close()
        out[f'{name}_feats'] = part['feats']
        out[f'{name}_labels'] = part['labels']
        out['source'] = part['source']
    return out
