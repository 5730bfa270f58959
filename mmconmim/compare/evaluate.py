"""Scores of one exported backbone, and the random-initialisation rows.

Frozen features (every row): weighted kNN (DINO: cosine, k, T = 0.07) on
two poolings of the last layer -- the mean of the patch tokens, and the CLS
token where the backbone has one -- and a linear probe (L-BFGS logistic
regression, wd 1e-2) on the patch mean (:mod:`mmconmim.evaluation`). With
the optional columns: end-to-end fine-tuning top-1
(:mod:`mmconmim.compare.finetune`) and dense transfer mIoU
(:mod:`mmconmim.compare.dense`).

Random-init rows: ``random_init`` is the plain mmpretrain
``VisionTransformer`` (or ResNet) of the compared size; ``random_init-<m>``
is method m's own pre-training model built from its comparison config and
initialised with the seed (``set_random_seed``, build, ``init_weights``),
then exported like a trained one: the backbone variant and the
initialisation scheme that row m starts from. It is an independent draw,
not the very weights m's run started from (its runner draws other random
numbers between seeding and initialising); the iteration-0 point of m's
kNN curve is those.
"""
import os.path as osp
from typing import Optional

from torch import nn

from mmconmim.checkpoint import save_file
from .catalogue import ARCHS, kind_of
from .configs import eval_backbone_cfg, method_config, write_config
from .pretrain import export_model_backbone
from .settings import LR_RULE, vit_arch

ImageNet_NORM = dict(mean=[123.675, 116.28, 103.53],
                     std=[58.395, 57.12, 57.375], to_rgb=True)


class FrozenNetwork(nn.Module):
    """A backbone with the data preprocessor its pre-training normalised
    with, the interface :func:`extract_features` reads."""

    def __init__(self, backbone: nn.Module, data_preprocessor: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.data_preprocessor = data_preprocessor


def _build(cfg: dict) -> nn.Module:
    from mmengine.registry import DefaultScope

    from mmconmim.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg)


def has_cls_token(backbone: nn.Module) -> bool:
    return getattr(backbone, 'cls_token', None) is not None


def evaluate_backbone(backbone_file: str, backbone: dict, eval_data: str,
                      img_size: int, knn_k: int = 20,
                      batch_size: int = 64, num_workers: int = 0) -> dict:
    """kNN top-1/top-5 on the patch mean and on the CLS token (None
    without one), linear-probe top-1 on the patch mean, of an exported
    backbone (loaded with :func:`mmconmim.apis.load_backbone`)."""
    from mmconmim.apis import load_backbone
    from mmconmim.evaluation.features import extract_splits
    from mmconmim.evaluation.knn import knn_classify
    from mmconmim.evaluation.linear_probe import linear_probe
    net = FrozenNetwork(
        load_backbone(backbone_file, dict(backbone=backbone),
                      source='auto'),
        _build(dict(type='SelfSupDataPreprocessor', **ImageNet_NORM)))
    out = {}
    pools = ('avg', 'cls') if has_cls_token(net.backbone) else ('avg', )
    for pool in pools:
        feats = extract_splits(net, osp.join(eval_data, 'train'),
                               osp.join(eval_data, 'val'), 'student', pool,
                               img_size, batch_size, num_workers)
        args = (feats['train_feats'], feats['train_labels'],
                feats['val_feats'], feats['val_labels'],
                feats['num_classes'])
        knn = knn_classify(*args, k=knn_k, temperature=0.07)
        key = 'knn' if pool == 'avg' else 'knn_cls'
        out.update({f'{key}_top1': knn['top1'], f'{key}_top5': knn['top5']})
        if pool == 'avg':
            out.update(linear_top1=linear_probe(*args,
                                                weight_decay=1e-2)['top1'],
                       feature_dims=int(feats['train_feats'].shape[1]),
                       num_train=len(args[1]), num_val=len(args[3]))
    out.setdefault('knn_cls_top1', None)
    out.setdefault('knn_cls_top5', None)
    return out


# ------------------------------------------------------- random-init rows
def plain_backbone_cfg(settings: dict) -> dict:
    """``random_init``: the plain mmpretrain ViT of the compared size (all
    tokens out) or the ResNet."""
    if kind_of(settings['arch']) == 'vit':
        return dict(type='VisionTransformer', arch=vit_arch(settings),
                    img_size=settings['img_size'],
                    patch_size=settings['patch_size'], out_type='raw')
    return dict(type='ResNet', depth=ARCHS[settings['arch']][1]['depth'])


def save_plain_random(cfg: dict, seed: int, out: str) -> None:
    from mmengine.runner import set_random_seed
    set_random_seed(seed)
    backbone = _build(cfg)
    backbone.init_weights()
    weights = {'backbone.' + k: v for k, v in backbone.state_dict().items()}
    save_file(dict(state_dict=weights, meta=dict(
        source='student', prefix='backbone.', iteration=0,
        random_init_seed=seed)), out)


def save_method_init(method: str, settings: dict, seed: int,
                     run_dir: str) -> dict:
    """``random_init-<method>``: the method's pre-training model at
    iteration 0, exported to ``run_dir/backbone.pth`` (its config next to
    it); returns the backbone config it is evaluated with."""
    from mmengine.runner import set_random_seed
    cfg = method_config(method, settings, run_dir, seed)
    config = osp.join(run_dir, 'config.py')
    write_config(cfg, config)
    model_cfg = cfg.model.to_dict()
    if 'data_preprocessor' in cfg:
        model_cfg.setdefault('data_preprocessor',
                             cfg.data_preprocessor.to_dict())
    set_random_seed(seed)
    model = _build(model_cfg)
    model.init_weights()
    export_model_backbone(model, osp.join(run_dir, 'backbone.pth'),
                          dict(iteration=0, config=config,
                               random_init_seed=seed))
    return eval_backbone_cfg(model_cfg['backbone'], settings['arch'])


# ------------------------------------------- fine-tune and dense columns
def finetune_column(backbone_file: str, backbone: dict, settings: dict,
                    family: str, seed: int, work_dir: str) -> dict:
    """``finetune_top1`` (and top-5, seconds) of one backbone: the
    family's published fine-tune lr scaled to the batch by the comparison's
    rule (:data:`~mmconmim.compare.settings.LR_RULE`)."""
    from .finetune import finetune_backbone
    out = finetune_backbone(
        backbone_file, backbone, settings['eval_data']['path'],
        iters=settings['finetune_iters'], batch_size=settings['batch_size'],
        lr=None, family=family, seed=seed, work_dir=work_dir,
        img_size=settings['img_size'], lr_rule=LR_RULE)
    return dict(finetune_top1=out['top1'], finetune_top5=out['top5'],
                finetune_seconds=out['seconds'])


def dense_column(backbone_file: str, backbone: dict, settings: dict,
                 seg_data: str, seed: int, work_dir: str,
                 iters: Optional[int] = None) -> dict:
    """``dense_linear_miou`` and ``dense_finetune_miou`` of one backbone."""
    from .dense import dense_transfer
    out = dense_transfer(
        backbone_file, backbone, seg_data,
        iters=iters or settings['dense_iters'], seed=seed,
        work_dir=work_dir, img_size=settings['img_size'])
    return dict(dense_linear_miou=out['linear_miou'],
                dense_finetune_miou=out['finetune_miou'],
                dense_seconds=out['seconds'])
