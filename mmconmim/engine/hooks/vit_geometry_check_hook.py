"""Stop before training when a downstream ViT's geometry does not fit.

A BEiT-style ViT (mmpretrain's ``BEiTViT``, the backbone of the ADE20K/COCO
configs) has three numbers that the pre-trained weights, the model and the
data pipelines must agree on, and none of them fails clearly on its own:

* the patch size: a checkpoint of another patch size leaves the patch
  embedding random (a shape-mismatch line in the log) and the run trains;
* the absolute position embedding: a checkpoint that has one, loaded with
  ``use_abs_pos_emb=False``, loses it as an "unexpected key" (and the other
  way round the backbone's starts random);
* the input size: the relative position tables are built for the token grid
  ``img_size / patch_size``; a pipeline that gives other sizes (an inherited
  1024-px test pipeline under a 64-px backbone) dies inside the attention
  with ``The size of tensor a (16385) must match ... (65)`` -- for the val
  pipeline only after the whole training.

:class:`ViTGeometryCheckHook` checks the three before the first iteration
(``before_train``: train and val data, the checkpoint of the backbone's
``init_cfg``, ViTDet's pyramid strides) and before testing (``before_test``:
test data), and raises :class:`ViTGeometryError` naming both values and the
fix. Backbones without a patch embedding are left alone.
"""
import copy
import random
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader

from mmconmim.registry import HOOKS

__all__ = ['ViTGeometryCheckHook', 'ViTGeometryError', 'vit_geometry',
           'check_checkpoint_geometry', 'check_pyramid_strides',
           'check_input_size']


class ViTGeometryError(ValueError):
    """A ViT's patch size, position embedding or input size does not fit."""


def vit_geometry(backbone) -> Optional[dict]:
    """Patch size, token grid, whether the grid is fixed (relative position
    tables) and whether there is an absolute position embedding; None for a
    backbone without a patch embedding."""
    projection = getattr(getattr(backbone, 'patch_embed', None),
                         'projection', None)
    grid = getattr(backbone, 'patch_resolution', None)
    if projection is None or grid is None:
        return None
    patch = tuple(projection.kernel_size)
    return dict(
        patch=patch,
        grid=tuple(grid),
        img_size=(grid[0] * patch[0], grid[1] * patch[1]),
        fixed_grid=any(
            hasattr(m, 'relative_position_bias_table')
            for m in backbone.modules()),
        abs_pos_emb=getattr(backbone, 'pos_embed', None) is not None)


def _size(pair) -> str:
    return f'{pair[0]}x{pair[1]}'


def check_checkpoint_geometry(state: Dict[str, torch.Tensor], geometry: dict,
                              source: str) -> None:
    """Refuse a backbone state dict (keys without prefix) whose patch size or
    absolute position embedding differs from the backbone's."""
    proj = state.get('patch_embed.projection.weight')
    if proj is not None and tuple(proj.shape[-2:]) != geometry['patch']:
        ckpt_patch = tuple(proj.shape[-2:])
        raise ViTGeometryError(
            f'{source}: the checkpoint has {ckpt_patch[0]}-px patches '
            f'(patch_embed.projection.weight {tuple(proj.shape)}) but '
            f'model.backbone.patch_size is {geometry["patch"][0]}; its patch '
            'embedding would start random. Set model.backbone.patch_size='
            f'{ckpt_patch[0]} (and img_size, the pipelines and the neck to '
            'match), or use a checkpoint with '
            f'{geometry["patch"][0]}-px patches.')
    pos = state.get('pos_embed')
    if pos is not None and not geometry['abs_pos_emb']:
        raise ViTGeometryError(
            f'{source}: the checkpoint has an absolute position embedding '
            f'(pos_embed {tuple(pos.shape)}) but model.backbone.'
            'use_abs_pos_emb=False drops it, so the backbone would lose the '
            'positions it was trained with. Set model.backbone.'
            'use_abs_pos_emb=True.')
    if pos is None and geometry['abs_pos_emb'] and proj is not None:
        raise ViTGeometryError(
            f'{source}: the checkpoint has no absolute position embedding '
            '(no pos_embed) but model.backbone.use_abs_pos_emb=True, so the '
            "backbone's would start random. Set model.backbone."
            'use_abs_pos_emb=False (the paper setting: relative position '
            'bias only).')


def check_pyramid_strides(model, geometry: dict) -> None:
    """ViTDet's pyramid (:class:`SimpleFeaturePyramid`) must know the
    backbone's patch, and its strides must be the detector's."""
    neck = getattr(model, 'neck', None)
    strides = getattr(neck, 'out_strides', None)
    if strides is None:
        return
    patch = geometry['patch'][0]
    if neck.patch_size != patch:
        raise ViTGeometryError(
            f'model.neck.patch_size is {neck.patch_size} but the backbone\'s '
            f'patch_size is {patch}: the pyramid strides would be wrong. Set '
            f'model.neck.patch_size={patch} and scale_factors to 16/{patch} '
            "times ViTDet's (4, 2, 1, 0.5).")
    expected = {}
    prior = getattr(getattr(model, 'rpn_head', None), 'prior_generator',
                    None)
    if prior is not None:
        expected['RPN anchor strides (model.rpn_head.anchor_generator.'
                 'strides)'] = tuple(s[0] for s in prior.strides)
    extractor = getattr(getattr(model, 'roi_head', None),
                        'bbox_roi_extractor', None)
    if extractor is not None:
        expected['RoI featmap_strides (model.roi_head.bbox_roi_extractor)'] = \
            tuple(extractor.featmap_strides)
    for what, want in expected.items():
        if tuple(strides[:len(want)]) != want:
            factors = tuple(patch / s for s in want[:4])
            raise ViTGeometryError(
                f'model.neck (SimpleFeaturePyramid) gives strides {strides} '
                f'for {patch}-px patches, but the {what} are {want}. Set '
                f'model.neck.scale_factors={factors} or change the {what}.')


def check_input_size(size: Tuple[int, int], geometry: dict,
                     where: str) -> None:
    """A backbone with a fixed token grid takes exactly its img_size."""
    if not geometry['fixed_grid'] or tuple(size) == geometry['img_size']:
        return
    img = _size(geometry['img_size'])
    raise ViTGeometryError(
        f'{where} gives the backbone {_size(size)} inputs, but it is built '
        f'for {img} (model.backbone.img_size {img}, patch_size '
        f'{geometry["patch"][0]}: relative position tables for a fixed '
        f'{_size(geometry["grid"])} token grid); the attention would fail '
        f'with a shape error. Make that pipeline (its Resize/RandomCrop/Pad,'
        f' data_preprocessor size, test_cfg crop_size) give {img} inputs, or '
        f'set model.backbone.img_size={tuple(size)}.')


def _backbone_input_size(model, loader, training: bool) -> Tuple[int, int]:
    """Size of what the backbone gets from the loader's first sample: after
    the pipeline, the data preprocessor (padding) and, in slide inference,
    the crop window. Leaves the global random states as they were."""
    states = (random.getstate(), np.random.get_state(),
              torch.get_rng_state())
    try:
        batch = loader.collate_fn([loader.dataset[0]])
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
    with torch.no_grad():
        inputs = model.data_preprocessor(copy.copy(batch), training)['inputs']
    height, width = inputs.shape[-2:]
    test_cfg = getattr(model, 'test_cfg', None) or {}
    if not training and test_cfg.get('mode') == 'slide':
        crop = test_cfg['crop_size']
        height, width = min(crop[0], height), min(crop[1], width)
    return int(height), int(width)


def _pretrained_checkpoints(init_cfg) -> Sequence[dict]:
    cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
    return [c for c in cfgs if isinstance(c, dict) and
            c.get('type') == 'Pretrained' and c.get('checkpoint')]


@HOOKS.register_module()
class ViTGeometryCheckHook(Hook):
    """Raise :class:`ViTGeometryError` before training (or testing) when the
    patch size, absolute position embedding or input size of a ViT backbone
    disagrees with its checkpoint, its neck or a data pipeline (see the
    module docstring). Listed in ``custom_hooks`` of the ADE20K/COCO ViT
    configs (``configs/conmim/benchmarks/``)."""

    priority = 'VERY_HIGH'

    def _model(self, runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def _check_loader(self, runner, name: str, loader, training: bool):
        model = self._model(runner)
        geometry = vit_geometry(getattr(model, 'backbone', None))
        if geometry is None or loader is None:
            return
        size = _backbone_input_size(model, loader, training)
        check_input_size(size, geometry, f'the {name} pipeline')

    def before_train(self, runner) -> None:
        model = self._model(runner)
        backbone = getattr(model, 'backbone', None)
        geometry = vit_geometry(backbone)
        if geometry is None:
            return
        for cfg in _pretrained_checkpoints(backbone.init_cfg):
            ckpt = CheckpointLoader.load_checkpoint(
                cfg['checkpoint'], map_location='cpu', logger='silent')
            state = ckpt.get('state_dict', ckpt)
            prefix = cfg.get('prefix') or ''
            state = {k[len(prefix):]: v for k, v in state.items()
                     if k.startswith(prefix)}
            check_checkpoint_geometry(
                state, geometry, f"checkpoint {cfg['checkpoint']!r}")
        check_pyramid_strides(model, geometry)
        self._check_loader(runner, 'train', runner.train_dataloader, True)
        if runner.val_loop is not None:
            self._check_loader(runner, 'val', runner.val_dataloader, False)

    def before_test(self, runner) -> None:
        self._check_loader(runner, 'test', runner.test_dataloader, False)
