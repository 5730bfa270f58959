"""The transfer demo configs (configs/demo/{upernet,mask-rcnn}_conmim-demo_*):
the real benchmark configs with the pre-training demo's backbone and the
photo mosaics; and ViTGeometryCheckHook stopping a misfit before the first
iteration. (Two-iteration runs through mmseg's/mmdet's own train scripts:
tests/test_tools/test_transfer.py.)"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import RUNNERS, init_default_scope

import mmconmim  # noqa: F401
from mmconmim.engine.hooks import ViTGeometryError
from tests.fixtures.helpers import REPO_ROOT
from tests.fixtures.transfer_data import make_photo_mosaics

DEMO = {
    'seg': 'configs/demo/upernet_conmim-demo_1xb8-200iters_'
    'photo-mosaics-64x64.py',
    'det': 'configs/demo/mask-rcnn_conmim-demo_fpn_1xb8-200iters_'
    'photo-mosaics-64x64.py',
}
BENCHMARK = {
    'seg': 'configs/conmim/benchmarks/upernet_vit-base-p16_conmim-pre_'
    '8xb2-160k_ade20k-512x512.py',
    'det': 'configs/conmim/benchmarks/mask-rcnn_vit-base-p16_conmim-pre_'
    'fpn_8xb2-1x_coco.py',
}
PRETRAIN = 'configs/demo/conmim_demo.py'
PHOTOS = sorted(
    osp.splitext(osp.basename(p))[0]
    for p in glob.glob(osp.join(REPO_ROOT, 'data/demo/images/*.jpg')))


def load(path):
    return Config.fromfile(osp.join(REPO_ROOT, path))


def test_the_demo_configs_are_all_the_transfer_demo_configs():
    found = sorted(osp.relpath(p, REPO_ROOT) for p in glob.glob(
        osp.join(REPO_ROOT, 'configs/demo/*_conmim-demo_*.py')))
    assert found == sorted(DEMO.values())


@pytest.mark.parametrize('task', sorted(DEMO))
def test_demo_config_is_the_benchmark_with_the_demo_backbone(task):
    cfg, bench = load(DEMO[task]), load(BENCHMARK[task])
    pre = load(PRETRAIN).model.backbone
    backbone = cfg.model.backbone
    # the pre-training demo's geometry
    assert backbone.arch == {k: v for k, v in pre.arch.items()
                             if k != '_delete_'}
    assert backbone.patch_size == pre.patch_size == 8
    assert backbone.img_size == (pre.img_size, pre.img_size) == (64, 64)
    assert backbone.use_abs_pos_emb is pre.use_abs_pos_emb is True
    # everything else of the backbone, the runner, optimizer and hooks is
    # the benchmark's
    for key in ('type', 'use_rel_pos_bias', 'use_shared_rel_pos_bias',
                'layer_scale_init_value', 'final_norm', 'out_type',
                'init_cfg'):
        assert backbone[key] == bench.model.backbone[key], key
    assert cfg.runner_type == bench.runner_type == 'mmconmim.MMConMIMRunner'
    assert cfg.optim_wrapper.get('constructor') == \
        bench.optim_wrapper.get('constructor')
    assert cfg.custom_hooks == bench.custom_hooks
    assert {'type': 'mmconmim.ViTGeometryCheckHook'} in cfg.custom_hooks
    # 13 classes: the bundled photos, numbered as the mosaic builder does
    assert list(cfg.mosaic_classes) == PHOTOS and len(PHOTOS) == 13
    heads = ([cfg.model.decode_head, cfg.model.auxiliary_head]
             if task == 'seg' else
             [cfg.model.roi_head.bbox_head, cfg.model.roi_head.mask_head])
    assert [h.num_classes for h in heads] == [13, 13]
    assert cfg.test_dataloader == cfg.val_dataloader
    assert cfg.train_cfg.max_iters == cfg.train_cfg.val_interval == 200


def test_detection_pyramid_keeps_the_rpn_strides_for_8px_patches():
    cfg = load(DEMO['det'])
    strides = [s / f for s, f in zip([8] * 4, cfg.model.neck.scale_factors)]
    assert strides == cfg.model.roi_head.bbox_roi_extractor.featmap_strides
    assert strides == cfg.model.rpn_head.anchor_generator.strides[:4]
    assert cfg.model.neck.patch_size == cfg.model.backbone.patch_size


@pytest.fixture(scope='module')
def mosaics(tmp_path_factory):
    return make_photo_mosaics(str(tmp_path_factory.mktemp('mosaics')))


def runner_for(task, mosaics, work_dir, **changes):
    """What mmseg's/mmdet's tools/train.py do: RUNNERS.build(cfg)."""
    cfg = load(DEMO[task])
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = mosaics
    if task == 'det':
        cfg.val_evaluator.ann_file = osp.join(
            mosaics, 'annotations/instances_val.json')
    cfg.model.backbone.init_cfg = changes.pop('init_cfg', None)
    cfg.work_dir = work_dir
    cfg.merge_from_dict(changes)
    return RUNNERS.build(cfg)


def test_inherited_1024px_test_pipeline_fails_before_training(
        mosaics, tmp_path):
    """The trap of issue 28: the detection recipe's 1024-px test pipeline
    left under the 64-px backbone."""
    bench = load(BENCHMARK['det'])
    runner = runner_for('det', mosaics, str(tmp_path),
                        **{'val_dataloader.dataset.pipeline':
                           bench.test_pipeline})
    try:
        with pytest.raises(ViTGeometryError) as info:
            runner.train()
    finally:
        init_default_scope('mmpretrain')
    message = str(info.value)
    assert 'the val pipeline gives the backbone 1024x1024 inputs' in message
    assert 'built for 64x64' in message
    assert runner.iter == 0 and not osp.exists(tmp_path / 'iter_1.pth')


def test_checkpoint_with_other_patches_fails_before_training(
        mosaics, tmp_path):
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = load(DEMO['seg']).model.backbone
    other = MODELS.build(dict(cfg, type='BEiTViT', patch_size=16,
                              init_cfg=None))
    path = str(tmp_path / 'patch16.pth')
    torch.save({'state_dict': {'backbone.' + k: v
                               for k, v in other.state_dict().items()}},
               path)
    runner = runner_for('seg', mosaics, str(tmp_path / 'work'),
                        init_cfg=dict(type='Pretrained', checkpoint=path,
                                      prefix='backbone.'))
    try:
        with pytest.raises(ViTGeometryError,
                           match=r'16-px patches .*patch_size is 8.*'
                           r'Set model.backbone.patch_size=16'):
            runner.train()
    finally:
        init_default_scope('mmpretrain')
    assert runner.iter == 0
