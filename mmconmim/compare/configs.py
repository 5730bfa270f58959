"""The pre-training config of one comparison row.

Each row's recipe is a config file under ``configs/compare/`` (on the
method's published recipe: ``mmpretrain::`` for MAE, SimMIM and MoCo v3,
ours for ConMIM and A2MIM). :func:`method_config` loads it and applies the
comparison's overrides, the same for every row:

* sizes: the backbone's width/depth/heads (or ResNet depth), image and
  patch size, and the sizes of necks and heads that follow the width
  (:data:`SIZE_OVERRIDES`, one small function per method);
* the recipe's own training pipeline with the crop, mask generator and mask
  unit set to the image size and the blur's sigma scaled with it
  (:func:`resize_pipeline`), on the unlabelled
  folder, batch ``--batch-size``;
* lr (``--lr auto``: the recipe's, scaled; :mod:`.settings`), an
  iteration schedule (linear warmup, cosine), fp32 (``OptimWrapper``:
  AMP needs a GPU), the recipe's optimizer, betas, weight decay, no-decay
  keys and gradient clipping kept;
* the comparison's hooks (kNN curve, budget, safe checkpoints) and seed.

The result is dumped, fully resolved, as ``<run_dir>/config.py``.
"""
import copy
import os
import os.path as osp
from typing import Callable, Dict, Tuple

from mmengine.config import Config

from .catalogue import ARCHS, METHOD_CONFIGS, CompareError, kind_of
from .settings import LR_RULE, scaled_lr, vit_arch

# a run under --minutes stops by the budget hook long before this
MINUTES_MAX_ITERS = 10**8


def configs_root() -> str:
    """configs/ of a source checkout, or the copy an install ships."""
    pkg = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for root in (osp.join(osp.dirname(pkg), 'configs'),
                 osp.join(pkg, '.mim', 'configs')):
        if osp.isdir(osp.join(root, 'compare')):
            return root
    raise FileNotFoundError('mmconmim configs/compare/ not found (neither in '
                            'the source checkout nor in mmconmim/.mim)')


def recipe_file(method: str, kind: str) -> str:
    """``configs/compare/<file>`` of a row."""
    try:
        name = METHOD_CONFIGS[(method, kind)]
    except KeyError:
        raise CompareError(f'{method}: no {kind} recipe in configs/compare/'
                           ) from None
    return osp.join(configs_root(), 'compare', name)


def published_lr(recipe: Config) -> Tuple[float, int]:
    """(peak lr, total batch it is given for) of a recipe."""
    lr = recipe.optim_wrapper.optimizer.lr
    batch = recipe.get('auto_scale_lr', {}).get('base_batch_size')
    if batch is None:
        raise CompareError('the recipe has no auto_scale_lr.base_batch_size '
                           '(the batch its lr is published for)')
    return float(lr), int(batch)


def row_lr(recipe: Config, settings: dict) -> float:
    """The peak lr of a row: ``--lr X``, or the recipe's scaled by
    :data:`~mmconmim.compare.settings.LR_RULE` to the batch."""
    if settings['lr'] != 'auto':
        return float(settings['lr'])
    lr, base_batch = published_lr(recipe)
    return scaled_lr(lr, base_batch, settings['batch_size'],
                     settings.get('lr_rule', LR_RULE))


def mask_unit(settings: dict) -> int:
    """Mask unit in pixels: two patches per side when they fit (the demos'
    16-px units for 8-px patches, the papers' 32 px for 16-px patches),
    else one patch; 32 px for ResNets (their last stage's stride)."""
    if kind_of(settings['arch']) == 'cnn':
        return 32
    patch = settings['patch_size']
    return 2 * patch if settings['img_size'] % (2 * patch) == 0 else patch


def _steps(pipeline: list):
    """Every transform dict of a pipeline, views and wrappers included."""
    for step in pipeline:
        if not isinstance(step, dict):  # a view's list of transforms
            yield from _steps(step)
            continue
        yield step
        yield from _steps(step.get('transforms', []))


def recipe_crop_size(pipeline: list) -> int:
    """The image size (px) a recipe trains at: the ``scale`` of its
    ``RandomResizedCrop`` (every view's, when each view crops)."""
    sizes = set()
    for step in _steps(pipeline):
        if step.get('type') == 'RandomResizedCrop':
            scale = step['scale']
            side = set(scale) if isinstance(scale, (tuple, list)) else {scale}
            if len(side) != 1:
                raise CompareError(f'RandomResizedCrop scale={scale!r}: the '
                                   'comparison crops squares; give the '
                                   'recipe a square crop size')
            sizes |= side
    if len(sizes) != 1:
        raise CompareError(f'the recipe crops to {sorted(sizes) or "no"} '
                           'size(s); its pixel-sized transforms (blur) can '
                           'only be rescaled from one RandomResizedCrop size')
    return int(sizes.pop())


def scale_blurs(pipeline: list, factor: float) -> list:
    """A copy of ``pipeline`` whose Gaussian blurs have their sigma (a
    fixed ``radius`` or the ``magnitude_range`` it is drawn from, in
    pixels) multiplied by ``factor``."""
    pipeline = copy.deepcopy(list(pipeline))
    for step in _steps(pipeline):
        if step.get('type') != 'GaussianBlur':
            continue
        if step.get('radius') is not None:
            step['radius'] = step['radius'] * factor
        else:
            step['magnitude_range'] = tuple(
                r * factor for r in step['magnitude_range'])
    return pipeline


def resize_pipeline(pipeline: list, img: int, unit: int, patch: int) -> list:
    """A recipe's pipeline at the comparison's sizes: crops to ``img``, mask
    generators to ``img`` / ``unit`` and the model's patch (a generator
    whose model patch equals its mask unit, A2MIM's and the CNNs', keeps
    them equal), any image loading through ``RobustLoadImageFromFile``.
    A Gaussian blur's sigma is in pixels of the crop, so it is scaled by
    ``img`` / the recipe's crop size: the same blur relative to the image
    (BYOL's 0.1-2.0 px at 224 px are 0.03-0.57 px at 64 px; unscaled, a
    64-px crop would be blurred 3.5 times as hard as the recipe's)."""
    if any(s.get('type') == 'GaussianBlur' for s in _steps(pipeline)):
        pipeline = scale_blurs(pipeline, img / recipe_crop_size(pipeline))
    return _resize_steps(pipeline, img, unit, patch)


def _resize_steps(pipeline: list, img: int, unit: int, patch: int) -> list:
    out = []
    for step in copy.deepcopy(list(pipeline)):
        if not isinstance(step, dict):  # a view's list of transforms
            out.append(_resize_steps(step, img, unit, patch))
            continue
        kind = step.get('type', '')
        if kind == 'LoadImageFromFile':
            step['type'] = 'RobustLoadImageFromFile'
        elif kind == 'RandomResizedCrop':
            step['scale'] = img
        elif kind.endswith('MaskGenerator'):
            same = step.get('model_patch_size') == step.get('mask_patch_size')
            step.update(input_size=img, mask_patch_size=unit,
                        model_patch_size=unit if same else patch)
        if 'transforms' in step:
            step['transforms'] = _resize_steps(step['transforms'], img, unit,
                                               patch)
        out.append(step)
    return out


# ------------------------------------------------------- per-method sizes
def _vit(settings: dict) -> dict:
    return dict(arch=vit_arch(settings), img_size=settings['img_size'],
                patch_size=settings['patch_size'])


def _cnn(settings: dict) -> dict:
    return dict(depth=ARCHS[settings['arch']][1]['depth'], stem_channels=64,
                base_channels=64)


def _dims(settings: dict) -> int:
    if kind_of(settings['arch']) == 'vit':
        return vit_arch(settings)['embed_dims']
    return 512 if ARCHS[settings['arch']][1]['depth'] < 50 else 2048


def _conmim(s: dict) -> dict:
    dims = _dims(s)
    if kind_of(s['arch']) == 'vit':
        return dict(backbone=_vit(s), neck=dict(
            in_channels=dims, hid_channels=4 * dims, out_channels=dims))
    return dict(mask_unit=mask_unit(s), backbone=_cnn(s), neck=dict(
        in_channels=dims, hid_channels=4096 if dims > 512 else 2048,
        out_channels=256))


def _a2mim(s: dict) -> dict:
    if kind_of(s['arch']) == 'vit':
        return dict(backbone=_vit(s), neck=dict(
            in_channels=_dims(s), encoder_stride=s['patch_size']))
    return dict(backbone=_cnn(s), neck=dict(in_channels=_dims(s)))


def _mae(s: dict) -> dict:
    arch, patch = vit_arch(s), s['patch_size']
    return dict(
        backbone=_vit(s),
        neck=dict(num_patches=(s['img_size'] // patch)**2, patch_size=patch,
                  embed_dim=arch['embed_dims'],
                  decoder_embed_dim=arch['embed_dims'],
                  decoder_depth=max(1, arch['num_layers'] // 4),
                  decoder_num_heads=arch['num_heads']),
        head=dict(patch_size=patch))


def _simmim(s: dict) -> dict:
    return dict(backbone=_vit(s),
                neck=dict(in_channels=_dims(s),
                          encoder_stride=s['patch_size']),
                head=dict(patch_size=s['patch_size']))


def _mocov3(s: dict) -> dict:
    dims = _dims(s)
    hid, out = 4 * dims, max(64, dims // 2)
    backbone = _vit(s) if kind_of(s['arch']) == 'vit' else dict(
        depth=ARCHS[s['arch']][1]['depth'])
    return dict(backbone=backbone,
                neck=dict(in_channels=dims, hid_channels=hid,
                          out_channels=out),
                head=dict(predictor=dict(in_channels=out, hid_channels=hid,
                                         out_channels=out)))


SIZE_OVERRIDES: Dict[str, Callable[[dict], dict]] = {
    'conmim': _conmim, 'conmim-abspos': _conmim, 'a2mim': _a2mim,
    'mae': _mae, 'simmim': _simmim, 'mocov3': _mocov3,
}


def _merge_replacing(target: dict, overrides: dict) -> None:
    """Merge ``overrides`` into ``target``; a backbone ``arch`` dict
    replaces the recipe's (which may be a name or another dict)."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict) \
                and key != 'arch':
            _merge_replacing(target[key], value)
        else:
            target[key] = value


# ------------------------------------------------------- shared overrides
def _schedule(settings: dict, max_iters: int) -> list:
    warmup = max(1, min(30, (settings['iters'] or 300) // 10))
    sched = [dict(type='LinearLR', start_factor=1e-4, by_epoch=False,
                  begin=0, end=warmup)]
    if settings['iters']:
        sched.append(dict(type='CosineAnnealingLR', eta_min_ratio=0.01,
                          by_epoch=False, begin=warmup, end=max_iters))
    return sched  # --minutes: constant after warmup (length unknown)


def _hooks(settings: dict) -> list:
    eval_data = settings['eval_data']['path']
    return [
        dict(type='NonFiniteLossHook'),
        dict(type='KNNEvalHook', enable=settings['knn_interval'] > 0,
             interval=max(settings['knn_interval'], 1),
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


def _fp32_optim_wrapper(recipe: dict, lr: float) -> dict:
    """The recipe's optimizer wrapper in fp32 (a mixed-precision wrapper
    becomes ``OptimWrapper``; what it keeps in fp32 differs per recipe) at
    ``lr``: optimizer, constructor, no-decay keys and clipping kept."""
    wrapper = copy.deepcopy(recipe['optim_wrapper'])
    if wrapper.get('type', 'OptimWrapper') != 'OptimWrapper':
        wrapper = {k: v for k, v in wrapper.items() if k in (
            'optimizer', 'paramwise_cfg', 'constructor', 'clip_grad',
            'accumulative_counts')}
        wrapper['type'] = 'OptimWrapper'
    wrapper['optimizer']['lr'] = lr
    return wrapper


def _runtime(settings: dict, run_dir: str, seed: int) -> dict:
    return dict(
        default_scope='mmpretrain',
        custom_imports=dict(imports=['mmconmim'], allow_failed_imports=False),
        runner_type='mmconmim.MMConMIMRunner',
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=max(
                1, min(50, settings['checkpoint_interval']))),
            checkpoint=dict(type='SafeCheckpointHook', by_epoch=False,
                            interval=settings['checkpoint_interval'],
                            max_keep_ckpts=2)),
        custom_hooks=_hooks(settings),
        log_processor=dict(by_epoch=False),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        visualizer=dict(type='UniversalVisualizer',
                        vis_backends=[dict(type='LocalVisBackend')]),
        randomness=dict(seed=seed, diff_rank_seed=True, deterministic=False),
        work_dir=run_dir, resume=True, load_from=None,
        auto_scale_lr=dict(base_batch_size=settings['batch_size']))


def method_config(method: str, settings: dict, run_dir: str,
                  seed: int = 0) -> Config:
    """The resolved pre-training config of ``method`` for a comparison
    (see the module docstring)."""
    kind = kind_of(settings['arch'])
    recipe = Config.fromfile(recipe_file(method, kind))
    cfg = recipe.to_dict()
    max_iters = settings['iters'] or MINUTES_MAX_ITERS
    _merge_replacing(cfg['model'], SIZE_OVERRIDES[method](settings))
    pipeline = resize_pipeline(
        recipe.train_dataloader.dataset.pipeline, settings['img_size'],
        mask_unit(settings), settings['patch_size'])
    runtime = _runtime(settings, run_dir, seed)
    workers = settings.get('num_workers', 0)
    cfg['train_dataloader'] = dict(
        batch_size=settings['batch_size'], num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=False, drop_last=True,
        sampler=dict(type='InfiniteSampler', shuffle=True),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type='CustomDataset',
                     data_root=settings['pretrain_data']['path'],
                     with_label=False, pipeline=pipeline))
    if 'train_pipeline' in cfg:  # the recipe's variable: show what runs
        cfg['train_pipeline'] = copy.deepcopy(pipeline)
    cfg['optim_wrapper'] = _fp32_optim_wrapper(cfg,
                                               row_lr(recipe, settings))
    cfg['param_scheduler'] = _schedule(settings, max_iters)
    cfg['train_cfg'] = dict(type='IterBasedTrainLoop', max_iters=max_iters)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator',
                'test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg.pop(key, None)
    for key, value in runtime.items():
        if key == 'default_hooks':
            cfg.setdefault(key, {}).update(value)
        else:
            cfg[key] = value
    return Config(cfg)


def write_config(cfg: Config, path: str) -> None:
    """Dump a resolved config atomically."""
    cfg.dump(path + '.tmp.py')
    os.replace(path + '.tmp.py', path)


def backbone_cfg(cfg_path: str) -> dict:
    """The backbone dict of a written config (for load_backbone)."""
    return Config.fromfile(cfg_path).model.backbone.to_dict()


def eval_backbone_cfg(backbone: dict, arch: str) -> dict:
    """The backbone as evaluated: a ViT with all its tokens
    (``out_type='raw'``: patch mean and CLS both available), unmasked."""
    backbone = copy.deepcopy(backbone)
    if kind_of(arch) == 'vit':
        backbone['out_type'] = 'raw'
    return backbone
