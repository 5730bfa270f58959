"""Pre-trained weights reach the downstream model completely, and alike,
through every loading route (issue 12, section 1); a checkpoint of another
model fails loudly. (Section 4, converters never overwrite their input or
an existing file without --force: tests/test_tools/test_converters_keep_files.py.)

The pre-training checkpoint is a tiny ConMIM model in the paper's setting
(no absolute position embedding, one relative position table shared by all
layers) whose tensors are all random, teacher and student independent, so
that a downstream tensor equal to a checkpoint tensor can only have been
loaded from it. The reference for every downstream tensor is the teacher
tensor of the same name in that checkpoint; every layer's relative position
table must equal the teacher's shared table (resized by mmpretrain's function
where the downstream token grid differs). The keys that stay at their initial
values must be exactly the documented task-specific ones (docs/transfer.md,
section 3): all of them differ from every checkpoint tensor, all other
floating tensors equal their reference.
"""
import os.path as osp
import re
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS, init_default_scope

import mmconmim  # noqa: F401
from tests.fixtures.a2mim_tiny import tiny_a2mim, tiny_vit
from tests.fixtures.conmim_tiny import TEACHER_BACKBONE as TEACHER
from tests.fixtures.conmim_tiny import random_tiny_checkpoint
from tests.fixtures.helpers import (REPO_ROOT, run_tool, run_tool_main,
                                    tool_env)
from mmconmim.engine.runner import CheckpointMismatchError, LoadWatcher
from mmconmim.checkpoint.layout import SHARED_REL_POS_TABLE
from mmconmim.checkpoint.official import mmpretrain_to_official
from tests.fixtures.transfer_data import (make_ade20k, make_class_folders,
                                          make_coco)

FINETUNE = osp.join(REPO_ROOT, 'configs/conmim/benchmarks/'
                    'vit-base-p16_conmim-pre_8xb128-coslr-100e_in1k.py')
SEG = osp.join(REPO_ROOT, 'configs/conmim/benchmarks/'
               'upernet_vit-base-p16_conmim-pre_8xb2-160k_ade20k-512x512.py')
DET = osp.join(REPO_ROOT, 'configs/conmim/benchmarks/'
               'mask-rcnn_vit-base-p16_conmim-pre_fpn_8xb2-1x_coco.py')
SEG_R50 = osp.join(REPO_ROOT, 'configs/a2mim/benchmarks/'
                   'upernet_r50_a2mim-pre_4xb4-160k_ade20k-512x512.py')
DET_R50 = osp.join(REPO_ROOT, 'configs/cim/benchmarks/'
                   'mask-rcnn_r50_cim-pre_fpn_1x_coco.py')
CONMIM_DEMO = osp.join(REPO_ROOT, 'configs/demo/conmim_demo.py')
NUM_LAYERS = 2
GRID = 4  # pre-training: 32-px images, 8-px patches


def tiny_arch():  # a fresh dict: merging consumes '_delete_'
    return dict(_delete_=True, embed_dims=64, num_layers=NUM_LAYERS,
                num_heads=4, feedforward_channels=128)


LAYER_TABLE = re.compile(r'backbone\.layers\.\d+\.attn\.'
                         r'relative_position_bias_table')

# docs/transfer.md, section 3: new downstream tensors (floating ones; the
# per-layer relative_position_index buffers are integers derived from the
# token grid).
NEW_IN_CLASSIFIER = {'backbone.ln2.weight', 'backbone.ln2.bias',
                     'head.fc.weight', 'head.fc.bias'}
NEW_MODULES_IN_SEGMENTOR = ('neck.', 'decode_head.', 'auxiliary_head.')
NEW_MODULES_IN_DETECTOR = ('neck.', 'rpn_head.', 'roi_head.')


# ---------------------------------------------------------------- sources
@pytest.fixture(scope='module')
def sources(tmp_path_factory):
    """A random tiny ConMIM runner-style checkpoint, its export (with and
    without prefix) and its teacher in the official layout, converted."""
    root = tmp_path_factory.mktemp('routes')
    pretrain = str(root / 'iter_7.pth')
    state, teacher = random_tiny_checkpoint(pretrain)
    gen = torch.Generator().manual_seed(13)
    assert SHARED_REL_POS_TABLE in teacher and 'pos_embed' not in teacher

    export, bare = str(root / 'export.pth'), str(root / 'export_bare.pth')
    tool = 'tools/model_converters/export_backbone.py'
    run_tool([tool, pretrain, export])
    run_tool([tool, pretrain, bare, '--no-prefix'])

    official = mmpretrain_to_official(
        {'backbone.' + k: v for k, v in teacher.items()})
    official['lm_head.weight'] = torch.randn(16, 64, generator=gen)
    official_path = str(root / 'checkpoint_copy-799.pth')
    torch.save(dict(model=official, epoch=799), official_path)
    converted = str(root / 'converted.pth')
    run_tool(['tools/model_converters/conmim_official_to_mmconmim.py',
              official_path, converted])

    floats = [v for v in state.values() if v.is_floating_point()]
    return dict(root=root, pretrain=pretrain, state=state, teacher=teacher,
                floats=floats, export=export, bare=bare,
                converted=converted)


@pytest.fixture(scope='module')
def class_data(sources):
    return make_class_folders(str(sources['root'] / 'classes'), per_class=2,
                              size=40)


def test_export_and_converter_write_per_layer_tables(sources):
    shared = sources['teacher'][SHARED_REL_POS_TABLE]
    for path in (sources['export'], sources['converted']):
        saved = torch.load(path, weights_only=True)
        weights = saved['state_dict']
        assert saved['meta']['per_layer_rel_pos_tables'] == NUM_LAYERS
        # kept for pre-training backbones ...
        assert torch.equal(weights['backbone.' + SHARED_REL_POS_TABLE],
                           shared)
        # ... and copied into every layer for fine-tuning ones
        for i in range(NUM_LAYERS):
            assert torch.equal(weights[f'backbone.layers.{i}.attn.'
                                       'relative_position_bias_table'],
                               shared)
    bare = torch.load(sources['bare'], weights_only=True)['state_dict']
    assert torch.equal(bare['layers.1.attn.relative_position_bias_table'],
                       shared)


# ---------------------------------------------------------------- models
def tiny_cfg(kind, data=None):
    """The shipped downstream config, shrunk to the tiny backbone; the
    backbone keeps the shipped init_cfg (Pretrained, prefix 'backbone.',
    checkpoint to be filled)."""
    if kind == 'cls':
        cfg = Config.fromfile(FINETUNE)
        cfg.merge_from_dict(dict(
            model=dict(backbone=dict(arch=tiny_arch(), img_size=32,
                                     patch_size=8),
                       head=dict(num_classes=3, in_channels=64)),
            data_preprocessor=dict(num_classes=3)))
        if data is not None:
            pipeline = [dict(type='LoadImageFromFile'),
                        dict(type='Resize', scale=(32, 32)),
                        dict(type='PackInputs')]
            loader = dict(batch_size=2, num_workers=0,
                          persistent_workers=False,
                          sampler=dict(type='DefaultSampler', shuffle=False),
                          dataset=dict(type='CustomDataset', data_root=data,
                                       pipeline=pipeline))
            cfg.train_dataloader = loader
            cfg.val_dataloader = loader
            cfg.test_dataloader = loader
            cfg.merge_from_dict(dict(
                train_cfg=dict(_delete_=True, type='IterBasedTrainLoop',
                               max_iters=1, val_interval=100),
                param_scheduler=[dict(type='LinearLR', start_factor=0.5,
                                      by_epoch=False, begin=0, end=1)],
                default_hooks=dict(
                    checkpoint=dict(by_epoch=False, interval=1,
                                    save_best=None),
                    logger=dict(interval=1)),
                val_evaluator=dict(type='Accuracy', topk=(1, )),
                test_evaluator=dict(type='Accuracy', topk=(1, )),
                log_processor=dict(by_epoch=False),
                env_cfg=dict(dist_cfg=dict(backend='gloo'))))
        return cfg
    if kind == 'seg':
        cfg = Config.fromfile(SEG)
        norm = dict(type='BN', requires_grad=True)
        cfg.merge_from_dict(dict(model=dict(
            backbone=dict(arch=tiny_arch(), img_size=(32, 32), patch_size=8,
                          out_indices=(0, 1)),
            neck=dict(embed_dim=64),
            decode_head=dict(in_channels=[64] * 4, channels=16,
                             norm_cfg=norm),
            auxiliary_head=dict(in_channels=64, channels=8,
                                norm_cfg=norm))))
        return cfg
    cfg = Config.fromfile(DET)
    # 64-px inputs: an 8x8 token grid, so the 4x4 tables are resized
    cfg.merge_from_dict(dict(model=dict(
        backbone=dict(arch=tiny_arch(), img_size=(64, 64), patch_size=8,
                      out_indices=(1, )),
        neck=dict(in_channels=64),
        roi_head=dict(bbox_head=dict(num_classes=2),
                      mask_head=dict(num_classes=2)))))
    return cfg


SCOPES = dict(cls='mmpretrain', seg='mmseg', det='mmdet')


def build(cfg, kind):
    scope = SCOPES[kind]
    init_default_scope(scope)
    if scope == 'mmpretrain':
        from mmpretrain.registry import MODELS
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    elif scope == 'mmseg':
        import mmseg.models  # noqa: F401
        from mmseg.registry import MODELS
    else:
        import mmdet.models  # noqa: F401
        from mmdet.registry import MODELS
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def floating_state(model):
    if is_model_wrapper(model):
        model = model.module
    return {k: v.detach().clone() for k, v in model.state_dict().items()
            if v.is_floating_point()}


def reference_for(key, teacher, grid):
    """The teacher tensor a downstream key must hold, or None for a new
    (task-specific) tensor."""
    if not key.startswith('backbone.'):
        return None
    if LAYER_TABLE.fullmatch(key):
        table = teacher[SHARED_REL_POS_TABLE]
        if grid == GRID:
            return table
        # what BEiTViT does for another token grid: resize the distance
        # part, keep the three cls-token entries
        from mmpretrain.models.backbones import beit
        resized = beit.resize_relative_position_bias_table(
            GRID * 2 - 1, grid * 2 - 1, table[:-3], table.shape[1])
        return torch.cat([resized, table[-3:]])
    return teacher.get(key[len('backbone.'):])


def assert_complete_load(state, sources, new_keys, grid=GRID):
    """Both directions: every tensor with a counterpart equals it, and
    exactly the documented new tensors were left as initialised."""
    teacher = sources['teacher']
    without_reference = set()
    for key, value in state.items():
        expected = reference_for(key, teacher, grid)
        if expected is None:
            without_reference.add(key)
            continue
        assert value.shape == expected.shape, key
        torch.testing.assert_close(value, expected, rtol=0, atol=0,
                                   msg=f'{key} differs from the checkpoint')
    assert without_reference == set(new_keys), (
        f'undocumented new keys: {sorted(without_reference - set(new_keys))}'
        f'; documented but loaded: {sorted(set(new_keys) - without_reference)}'
    )
    for key in new_keys:  # nothing documented was loaded from the file
        for source in sources['floats']:
            assert not (source.shape == state[key].shape
                        and torch.equal(source, state[key])), key


# ------------------------------------------------- routes without a runner
def route_init_cfg_prefix(cfg, kind, path, sources):
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=path,
                                       prefix='backbone.')
    model = build(cfg, kind)
    model.init_weights()
    return model


def route_init_cfg_without_prefix(cfg, kind, path, sources):
    # the bare-key export (--no-prefix) goes straight into the backbone
    cfg.model.backbone.init_cfg = dict(type='Pretrained',
                                       checkpoint=sources['bare'])
    model = build(cfg, kind)
    model.init_weights()
    return model


def route_model_init_cfg(cfg, kind, path, sources):
    # whole-model Pretrained init: keys keep their 'backbone.' prefix
    cfg.model.backbone.init_cfg = None
    cfg.model.init_cfg = dict(type='Pretrained', checkpoint=path)
    model = build(cfg, kind)
    model.init_weights()
    return model


def route_get_model(cfg, kind, path, sources):
    from mmpretrain.apis import get_model
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    return get_model(cfg, pretrained=path)


def route_feature_extractor(cfg, kind, path, sources):
    from mmpretrain.apis import FeatureExtractor
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    return FeatureExtractor(cfg, pretrained=path).model


CLASSIFIER_ROUTES = [route_init_cfg_prefix, route_init_cfg_without_prefix,
                     route_model_init_cfg, route_get_model,
                     route_feature_extractor]


# the converter writes prefixed keys only: no bare-key route for it
ROUTE_SOURCES = [(route, source) for route in CLASSIFIER_ROUTES
                 for source in ('export', 'converted')
                 if (route, source) != (route_init_cfg_without_prefix,
                                        'converted')]


@pytest.mark.parametrize(
    'route,source', ROUTE_SOURCES,
    ids=[f'{r.__name__[len("route_"):]}-{s}' for r, s in ROUTE_SOURCES])
def test_classifier_routes_load_everything(sources, route, source):
    model = route(tiny_cfg('cls'), 'cls', sources[source], sources)
    assert_complete_load(floating_state(model), sources, NEW_IN_CLASSIFIER)


@pytest.mark.parametrize('kind', ['seg', 'det'])
@pytest.mark.parametrize('route', [route_init_cfg_prefix,
                                   route_model_init_cfg],
                         ids=lambda r: r.__name__[len('route_'):])
def test_mmseg_and_mmdet_init_cfg_load_everything(sources, kind, route):
    model = route(tiny_cfg(kind), kind, sources['export'], sources)
    state = floating_state(model)
    prefixes = NEW_MODULES_IN_SEGMENTOR if kind == 'seg' else \
        NEW_MODULES_IN_DETECTOR
    new_keys = {k for k in state if k.startswith(prefixes)}
    assert new_keys  # the heads exist
    assert_complete_load(state, sources, new_keys,
                         grid=GRID if kind == 'seg' else 8)


# ------------------------------------------------------- runner routes
class LoadedWeights(Exception):
    """Carries the model's weights out of a run, right after loading."""

    def __init__(self, state):
        super().__init__('weights captured')
        self.state = state


@HOOKS.register_module(force=True)
class CaptureLoadedWeightsHook(Hook):
    """Stops a run at its first train/test step, after all loading."""

    def before_train(self, runner):
        raise LoadedWeights(floating_state(runner.model))

    before_test = before_train


@pytest.mark.parametrize('source', ['export', 'converted'])
def test_load_from_loads_everything(sources, class_data, tmp_path, source):
    cfg = tiny_cfg('cls', class_data)
    cfg.model.backbone.init_cfg = None
    cfg.load_from = sources[source]
    cfg.custom_hooks = list(cfg.custom_hooks) + [
        dict(type='CaptureLoadedWeightsHook')]
    path = str(tmp_path / f'load_from_{source}.py')
    cfg.dump(path)
    with pytest.raises(LoadedWeights) as captured:
        run_tool_main('tools/train.py', path, '--work-dir',
                      tmp_path / 'work')
    assert_complete_load(captured.value.state, sources, NEW_IN_CLASSIFIER)


def test_tools_test_py_loads_everything(sources, class_data, tmp_path):
    cfg = tiny_cfg('cls', class_data)
    cfg.custom_hooks = list(cfg.custom_hooks) + [
        dict(type='CaptureLoadedWeightsHook')]
    path = str(tmp_path / 'test_py.py')
    cfg.dump(path)
    with pytest.raises(LoadedWeights) as captured:
        run_tool_main('tools/test.py', path, sources['export'],
                      '--work-dir', tmp_path / 'work')
    assert_complete_load(captured.value.state, sources, NEW_IN_CLASSIFIER)


def test_load_from_a_runner_checkpoint_expands_the_shared_table(
        sources, class_data, tmp_path):
    """A ConMIM runner checkpoint (student under backbone.*, shared table
    only) loaded with load_from: the runner gives every layer the table."""
    cfg = tiny_cfg('cls', class_data)
    cfg.model.backbone.init_cfg = None
    cfg.load_from = sources['pretrain']
    cfg.custom_hooks = list(cfg.custom_hooks) + [
        dict(type='CaptureLoadedWeightsHook')]
    path = str(tmp_path / 'load_from_runner.py')
    cfg.dump(path)
    with pytest.raises(LoadedWeights) as captured:
        run_tool_main('tools/train.py', path, '--work-dir',
                      tmp_path / 'work')
    state = captured.value.state
    shared = sources['state']['backbone.' + SHARED_REL_POS_TABLE]
    for i in range(NUM_LAYERS):
        assert torch.equal(
            state[f'backbone.layers.{i}.attn.relative_position_bias_table'],
            shared)
    assert torch.equal(state['backbone.layers.1.attn.qkv.weight'],
                       sources['state']['backbone.layers.1.attn.qkv.weight'])


def test_resume_restores_every_tensor(sources, class_data, tmp_path):
    work = tmp_path / 'work'
    cfg = tiny_cfg('cls', class_data)
    cfg.model.backbone.init_cfg.checkpoint = sources['export']
    path = str(tmp_path / 'resume.py')
    cfg.dump(path)
    run_tool_main('tools/train.py', path, '--work-dir', work)
    saved = torch.load(str(work / 'iter_1.pth'), map_location='cpu',
                       weights_only=False)['state_dict']

    cfg.custom_hooks = list(cfg.custom_hooks) + [
        dict(type='CaptureLoadedWeightsHook')]
    cfg.train_cfg.max_iters = 2
    cfg.dump(path)
    with pytest.raises(LoadedWeights) as captured:
        run_tool_main('tools/train.py', path, '--work-dir', work,
                      '--resume')
    state = captured.value.state
    assert set(state) == {k for k, v in saved.items()
                          if v.is_floating_point()}
    for key, value in state.items():
        assert torch.equal(value, saved[key]), key


# ------------------------------------------------ checkpoints that do not fit
def test_a2mim_checkpoint_into_conmim_via_load_from_fails(tmp_path):
    """An A2MIM ViT of the same size fits ConMIM's student backbone, but not
    the projector or the teacher: under half of the model loads."""
    a2mim = tiny_a2mim(tiny_vit(img_size=32, patch_size=8, embed_dims=64),
                       in_channels=64, encoder_stride=8)
    ckpt = str(tmp_path / 'a2mim_iter_10.pth')
    torch.save(dict(state_dict=a2mim.state_dict(), meta=dict(iter=10)),
               ckpt)
    cfg = Config.fromfile(CONMIM_DEMO)
    cfg.merge_from_dict(dict(
        model=dict(backbone=dict(arch=tiny_arch(), img_size=32, patch_size=8),
                   neck=dict(in_channels=64)),
        train_dataloader=dict(
            num_workers=0, persistent_workers=False, batch_size=2,
            dataset=dict(data_root=osp.join(REPO_ROOT, 'data/demo/images'))),
        train_cfg=dict(max_iters=1), load_from=ckpt))
    path = str(tmp_path / 'conmim_from_a2mim.py')
    cfg.dump(path)
    with pytest.raises(CheckpointMismatchError) as error:
        run_tool_main('tools/train.py', path, '--work-dir',
                      tmp_path / 'work')
    message = str(error.value)
    assert 'a2mim_iter_10.pth' in message
    match = re.search(r'loaded (\d+) of (\d+) parameter tensors of ConMIM '
                      r'\(([\d.]+)% of its parameter values\)', message)
    assert match, message
    assert 0 < float(match.group(3)) < 50
    missing = re.search(r'missing \(\d+\): (.*)', message).group(1)
    unexpected = re.search(r'unexpected \(\d+\): (.*)', message).group(1)
    assert 'teacher.* ' in missing and 'neck.* ' in missing
    assert 'neck.* ' in unexpected  # A2MIM's decoder
    assert not osp.exists(tmp_path / 'work' / 'iter_1.pth')


def test_conmim_export_into_a_resnet_config_fails_with_exit_code(
        sources, class_data, tmp_path):
    cfg_text = f'''
_base_ = {osp.join(REPO_ROOT, 'configs/_base_/default_runtime.py')!r}
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18,
                  init_cfg=dict(type='Pretrained', prefix='backbone.',
                                checkpoint={sources['export']!r})),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=3, in_channels=512,
              loss=dict(type='CrossEntropyLoss')))
data_preprocessor = dict(num_classes=3, mean=[128.] * 3, std=[64.] * 3)
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CustomDataset', data_root={class_data!r},
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='Resize', scale=(32, 32)),
                           dict(type='PackInputs')]))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
'''
    path = tmp_path / 'resnet_from_vit.py'
    path.write_text(cfg_text)
    import subprocess
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', str(path), '--work-dir',
         str(tmp_path / 'work')], cwd=REPO_ROOT, env=tool_env(),
        capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert 'CheckpointMismatchError' in proc.stderr, proc.stderr[-3000:]
    assert re.search(r'loaded 0 of \d+ parameter tensors of ResNet',
                     proc.stderr), proc.stderr[-3000:]
    assert 'export.pth' in proc.stderr
    assert not osp.exists(tmp_path / 'work' / 'iter_1.pth')


@pytest.mark.parametrize('config', [SEG_R50, DET_R50],
                         ids=['mmseg-upernet', 'mmdet-mask-rcnn'])
def test_mmseg_mmdet_runs_of_our_resnet_configs_fail_on_a_vit_export(
        sources, tmp_path, config):
    """What mmseg's and mmdet's tools/train.py do with the config's
    runner_type: RUNNERS.build(cfg), then train()."""
    from mmengine.registry import RUNNERS
    cfg = Config.fromfile(config)
    assert cfg.runner_type == 'mmconmim.MMConMIMRunner'
    cfg.model.backbone.init_cfg.checkpoint = sources['export']
    bn = dict(type='BN', requires_grad=True)
    if config == SEG_R50:
        data = make_ade20k(str(tmp_path / 'ade'), num=2, size=32)
        cfg.model.backbone.norm_cfg = bn
        cfg.model.decode_head.norm_cfg = bn
        cfg.model.auxiliary_head.norm_cfg = bn
    else:
        data = make_coco(str(tmp_path / 'coco'), num=2, size=32)
        cfg.train_dataloader.dataset.update(
            ann_file='instances.json', data_prefix=dict(img='images/'),
            metainfo=dict(classes=('person', 'car')))
    cfg.train_dataloader.dataset.data_root = data
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    for name in ('val', 'test'):
        cfg[f'{name}_cfg'] = cfg[f'{name}_dataloader'] = None
        cfg[f'{name}_evaluator'] = None
    cfg.env_cfg = dict(dist_cfg=dict(backend='gloo'))
    cfg.work_dir = str(tmp_path / 'work')
    runner = RUNNERS.build(cfg)
    try:
        with pytest.raises(CheckpointMismatchError,
                           match=r'loaded 0 of \d+ parameter tensors of '
                           r'ResNet'):
            runner.train()
    finally:
        init_default_scope('mmpretrain')
    assert not osp.exists(tmp_path / 'work' / 'iter_1.pth')


@pytest.mark.parametrize('case', ['bare_at_model_level',
                                  'prefixed_without_prefix'])
def test_prefix_mistakes_name_the_fix(sources, case):
    """The message says what is wrong with the keys."""
    cfg = tiny_cfg('cls')
    cfg.model.backbone.init_cfg = None
    model = build(cfg, 'cls')
    from mmengine.runner.checkpoint import load_checkpoint
    if case == 'bare_at_model_level':
        root, path = model, sources['bare']
        expected = "bare keys of the model's 'backbone'"
    else:
        root, path = model.backbone, sources['export']
        expected = "carry a 'backbone.' prefix"
    with LoadWatcher({root: path}), pytest.raises(
            CheckpointMismatchError) as error:
        load_checkpoint(root, path, map_location='cpu')
    assert expected in str(error.value)
    assert 'loaded 0 of' in str(error.value)


def test_threshold_can_be_lowered_to_report_only(sources):
    cfg = tiny_cfg('cls')
    cfg.model.backbone.init_cfg = None
    model = build(cfg, 'cls')
    from mmengine.runner.checkpoint import load_checkpoint
    with LoadWatcher({model.backbone: 'x'}, min_coverage=0) as watcher:
        load_checkpoint(model.backbone, sources['export'],
                        map_location='cpu')
    (load, ) = watcher.loads
    assert load.loaded == set()
