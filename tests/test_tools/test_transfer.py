"""A ConMIM demo checkpoint travels through export into mmpretrain
fine-tuning, mmseg UperNet and mmdet Mask R-CNN built from the shipped
configs (the transfer demo's configs/demo/*_conmim-demo_* for the dense
tasks), and trains there for 2 iterations on the demo's photo mosaics."""
import glob
import importlib
import importlib.util
import os.path as osp
import re
import textwrap

import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope

import mmconmim  # noqa: F401
from tests.fixtures.checkpoints import load_prefixed_state
from tests.fixtures.helpers import REPO_ROOT, free_port, run_tool
from mmconmim.checkpoint.official import (mmpretrain_to_official,
                                          official_to_mmpretrain)
from tests.fixtures.transfer_data import (make_class_folders,
                                          make_photo_mosaics)

FINETUNE = osp.join(REPO_ROOT, 'configs/conmim/benchmarks/'
                    'vit-base-p16_conmim-pre_8xb128-coslr-100e_in1k.py')
LINEAR = osp.join(REPO_ROOT, 'configs/conmim/benchmarks/'
                  'vit-base-p16_conmim-pre_8xb2048-linear-coslr-90e_in1k.py')
SEG = osp.join(REPO_ROOT, 'configs/conmim/benchmarks/'
               'upernet_vit-base-p16_conmim-pre_8xb2-160k_ade20k-512x512.py')
DET = osp.join(REPO_ROOT, 'configs/conmim/benchmarks/'
               'mask-rcnn_vit-base-p16_conmim-pre_fpn_8xb2-1x_coco.py')
NUM_LAYERS = 4  # the demo backbone (configs/demo/conmim_demo.py)
DEMO_BACKBONE = '''
        arch=dict(_delete_=True, embed_dims=128, num_layers=4, num_heads=4,
                  feedforward_channels=512),
        patch_size=8, use_abs_pos_emb=True,
        init_cfg=dict(checkpoint='{ckpt}'),'''

CLS_CFG = '''
_base_ = '{base}'
model = dict(
    backbone=dict(img_size=64, %s),
    head=dict(num_classes=3, in_channels=128))
data_preprocessor = dict(num_classes=3)
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root='{data}',
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='RandomResizedCrop', scale=64),
                           dict(type='RandomFlip', prob=0.5),
                           dict(type='PackInputs')]))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root='{data}',
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='ResizeEdge', scale=72, edge='short'),
                           dict(type='CenterCrop', crop_size=64),
                           dict(type='PackInputs')]))
test_dataloader = val_dataloader
val_cfg = dict()
test_cfg = dict()
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=2,
                 val_interval=2)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False,
                        begin=0, end=2)]
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=2, save_best=None),
    logger=dict(interval=1))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
''' % DEMO_BACKBONE

# The transfer demo configs (configs/demo/*_conmim-demo_*: the benchmark
# configs with the demo backbone), pointed at small photo mosaics, for 2
# iterations.
DEMO_SEG = osp.join(REPO_ROOT, 'configs/demo/upernet_conmim-demo_1xb8-'
                    '200iters_photo-mosaics-64x64.py')
DEMO_DET = osp.join(REPO_ROOT, 'configs/demo/mask-rcnn_conmim-demo_fpn_'
                    '1xb8-200iters_photo-mosaics-64x64.py')
SEG_CFG = '''
_base_ = '{base}'
model = dict(backbone=dict(init_cfg=dict(checkpoint='{ckpt}')))
train_dataloader = dict(batch_size=2, dataset=dict(data_root='{data}'))
val_dataloader = dict(dataset=dict(data_root='{data}'))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False,
                        begin=0, end=2)]
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
'''
DET_CFG = SEG_CFG + '''
val_evaluator = dict(ann_file='{data}/annotations/instances_val.json')
test_evaluator = val_evaluator
'''


# mmengine's PretrainedInit log line: the export went into the backbone.
PRETRAINED_LOADED = re.compile(r'load backbone\. in model from: \S*backbone\.pth')


def upstream_train_script(package):
    """The wheel's own tools/train.py (mmseg/.mim/tools/train.py...)."""
    root = importlib.util.find_spec(package).submodule_search_locations[0]
    return osp.join(root, '.mim', 'tools', 'train.py')


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    root = tmp_path_factory.mktemp('transfer')
    work = str(root / 'pretrain')
    run_tool([
        'tools/train.py', 'configs/demo/conmim_demo.py', '--work-dir', work,
        '--cfg-options', 'train_cfg.max_iters=2',
        'default_hooks.checkpoint.interval=2',
        'train_dataloader.num_workers=0', 'train_dataloader.batch_size=4'
    ])
    ckpt = osp.join(work, 'iter_2.pth')
    out = str(root / 'backbone.pth')
    run_tool(['tools/model_converters/export_backbone.py', ckpt, out])
    return dict(root=root, ckpt=ckpt, out=out)


@pytest.fixture(scope='module')
def mosaics(tmp_path_factory):
    return make_photo_mosaics(str(tmp_path_factory.mktemp('mosaics')))


def write_config(pretrained, name, template, base, data):
    path = pretrained['root'] / name
    path.write_text(template.format(base=base, ckpt=pretrained['out'],
                                    data=data))
    return str(path)


def test_export_takes_the_teacher_and_drops_pretraining_parts(
        pretrained, tmp_path):
    exported = torch.load(pretrained['out'], weights_only=True)
    state = torch.load(pretrained['ckpt'], weights_only=False)['state_dict']
    teacher = {k[len('teacher.module.0.'):]: v for k, v in state.items()
               if k.startswith('teacher.module.0.')}
    # every teacher tensor but the mask token, plus the shared relative
    # position table copied into each layer (loads on every route)
    per_layer = {f'backbone.layers.{i}.attn.relative_position_bias_table'
                 for i in range(NUM_LAYERS)}
    shared = teacher['rel_pos_bias.relative_position_bias_table']
    assert set(exported['state_dict']) == {
        'backbone.' + k for k in teacher if k != 'mask_token'} | per_layer
    for key, value in exported['state_dict'].items():
        expected = shared if key in per_layer else \
            teacher[key[len('backbone.'):]]
        assert torch.equal(value, expected), key
    assert not any(k.startswith(('backbone.neck', 'neck.', 'head.'))
                   for k in exported['state_dict'])
    meta = exported['meta']
    assert meta['source'] == 'teacher' and meta['iteration'] == 2
    assert meta['dropped_keys'] == ['mask_token']
    assert "type='ConMIM'" in meta['config']

    student_out = str(tmp_path / 'student.pth')
    run_tool(['tools/model_converters/export_backbone.py',
              pretrained['ckpt'], student_out, '--student'])
    student = torch.load(student_out, weights_only=True)['state_dict']
    for key, value in student.items():
        source = 'backbone.rel_pos_bias.relative_position_bias_table' \
            if key in per_layer else key
        assert torch.equal(value, state[source]), key
    # teacher and student differ after two EMA updates
    key = 'backbone.layers.0.attn.qkv.weight'
    assert not torch.equal(student[key], exported['state_dict'][key])


def check_backbone_loads_export(backbone_factory, exported_path):
    """Load the export into a fresh backbone, report missing/unexpected keys
    and check every loaded tensor equals the exported one."""
    weights = load_prefixed_state('backbone.', exported_path)
    backbone = backbone_factory()
    incompatible = backbone.load_state_dict(dict(weights), strict=False)
    state = backbone.state_dict()
    shared = weights['rel_pos_bias.relative_position_bias_table']
    for key, value in weights.items():
        if key.startswith('rel_pos_bias.'):
            continue
        if key in state:
            assert torch.equal(state[key], value), key
    for i in range(NUM_LAYERS):  # shared table copied into every layer
        assert torch.equal(
            state[f'layers.{i}.attn.relative_position_bias_table'], shared)
    # The same through init_cfg=Pretrained (what the runners do).
    built = backbone_factory(init=True)
    built.init_weights()
    for key, value in backbone.state_dict().items():
        assert torch.equal(built.state_dict()[key], value), key
    return sorted(incompatible.missing_keys), sorted(
        incompatible.unexpected_keys)


# Downstream BEiTViTs create per-layer relative position indices (fixed by
# the geometry) and drop the pre-training final norm (final_norm=False); the
# classifier adds a new fc_norm (ln2) for mean pooling.
NEW_INDEX_KEYS = [f'layers.{i}.attn.relative_position_index'
                  for i in range(NUM_LAYERS)]
FINAL_NORM = ['ln1.bias', 'ln1.weight']


def _factory(registry, cfg_model_backbone, scope):
    def build(init=False):
        init_default_scope(scope)
        cfg = dict(cfg_model_backbone)
        if not init:
            cfg['init_cfg'] = None
        return registry.build(cfg)
    return build


def test_classifier_backbone_loads_the_export(pretrained, tmp_path):
    from mmpretrain.registry import MODELS
    path = write_config(pretrained, 'cls.py', CLS_CFG, FINETUNE,
                        str(tmp_path))
    cfg = Config.fromfile(path)
    missing, unexpected = check_backbone_loads_export(
        _factory(MODELS, cfg.model.backbone, 'mmpretrain'),
        pretrained['out'])
    assert missing == sorted(['ln2.bias', 'ln2.weight'] + NEW_INDEX_KEYS)
    assert unexpected == FINAL_NORM


def test_segmentor_backbone_loads_the_export(pretrained, tmp_path):
    from mmseg.registry import MODELS
    path = write_config(pretrained, 'seg.py', SEG_CFG, DEMO_SEG,
                        str(tmp_path))
    cfg = Config.fromfile(path)
    missing, unexpected = check_backbone_loads_export(
        _factory(MODELS, cfg.model.backbone, 'mmseg'), pretrained['out'])
    assert missing == sorted(NEW_INDEX_KEYS)
    assert unexpected == FINAL_NORM


def test_detector_backbone_loads_the_export(pretrained, tmp_path):
    from mmdet.registry import MODELS
    path = write_config(pretrained, 'det.py', DET_CFG, DEMO_DET,
                        str(tmp_path))
    cfg = Config.fromfile(path)
    missing, unexpected = check_backbone_loads_export(
        _factory(MODELS, cfg.model.backbone, 'mmdet'), pretrained['out'])
    assert missing == sorted(NEW_INDEX_KEYS)
    assert unexpected == FINAL_NORM


def test_finetune_runner_trains_and_evaluates(pretrained):
    data = make_class_folders(str(pretrained['root'] / 'cls_data'))
    path = write_config(pretrained, 'cls_run.py', CLS_CFG, FINETUNE, data)
    work = str(pretrained['root'] / 'cls_work')
    proc = run_tool(['tools/train.py', path, '--work-dir', work])
    log = proc.stdout + proc.stderr
    assert PRETRAINED_LOADED.search(log), log[-3000:]
    assert re.search(r'accuracy/top1: [\d.]+', log), log[-3000:]
    assert osp.isfile(osp.join(work, 'iter_2.pth'))


def test_mmseg_runner_trains_with_mmsegs_own_train_script(pretrained,
                                                          mosaics):
    path = write_config(pretrained, 'seg_run.py', SEG_CFG, DEMO_SEG, mosaics)
    work = str(pretrained['root'] / 'seg_work')
    proc = run_tool([upstream_train_script('mmseg'), path, '--work-dir',
                     work])
    log = proc.stdout + proc.stderr
    assert PRETRAINED_LOADED.search(log), log[-3000:]
    assert re.search(r'mIoU: [\d.]+', log), log[-3000:]
    assert osp.isfile(osp.join(work, 'iter_2.pth'))


def test_mmdet_runner_trains_and_runs_coco_metric(pretrained, mosaics):
    path = write_config(pretrained, 'det_run.py', DET_CFG, DEMO_DET, mosaics)
    work = str(pretrained['root'] / 'det_work')
    proc = run_tool([upstream_train_script('mmdet'), path, '--work-dir',
                     work])
    log = proc.stdout + proc.stderr
    assert PRETRAINED_LOADED.search(log), log[-3000:]
    assert re.search(r'coco/bbox_mAP: [-\d.]+', log), log[-3000:]
    assert re.search(r'coco/segm_mAP: [-\d.]+', log), log[-3000:]
    assert osp.isfile(osp.join(work, 'iter_2.pth'))


def official_state_dict(depth=2, dim=16, heads=2, grid=4, hidden=32,
                        out=8):
    """Random tensors under the official ConMIM pre-training key names."""
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g)

    table = (2 * grid - 1)**2 + 3
    sd = {
        'cls_token': r(1, 1, dim), 'mask_token': r(1, 1, dim),
        'patch_embed.proj.weight': r(dim, 3, 4, 4),
        'patch_embed.proj.bias': r(dim),
        'rel_pos_bias.relative_position_bias_table': r(table, heads),
        'norm.weight': r(dim), 'norm.bias': r(dim),
        'lm_head.weight': r(8192, dim), 'lm_head.bias': r(8192),
    }
    for i in range(depth):
        b = f'blocks.{i}.'
        sd.update({
            b + 'gamma_1': r(dim), b + 'gamma_2': r(dim),
            b + 'norm1.weight': r(dim), b + 'norm1.bias': r(dim),
            b + 'attn.q_bias': r(dim), b + 'attn.v_bias': r(dim),
            b + 'attn.qkv.weight': r(3 * dim, dim),
            b + 'attn.proj.weight': r(dim, dim), b + 'attn.proj.bias': r(dim),
            b + 'norm2.weight': r(dim), b + 'norm2.bias': r(dim),
            b + 'mlp.fc1.weight': r(4 * dim, dim), b + 'mlp.fc1.bias': r(4 * dim),
            b + 'mlp.fc2.weight': r(dim, 4 * dim), b + 'mlp.fc2.bias': r(dim),
        })
    for idx, (fan_in, fan_out) in zip((0, 3, 6),
                                      ((dim, hidden), (hidden, hidden),
                                       (hidden, out))):
        sd[f'projectors.{idx}.weight'] = r(fan_out, fan_in)
    for idx, width, affine in ((1, hidden, True), (4, hidden, True),
                               (7, out, False)):
        if affine:
            sd[f'projectors.{idx}.weight'] = r(width)
            sd[f'projectors.{idx}.bias'] = r(width)
        sd[f'projectors.{idx}.running_mean'] = r(width)
        sd[f'projectors.{idx}.running_var'] = r(width).abs()
        sd[f'projectors.{idx}.num_batches_tracked'] = torch.tensor(3)
    return sd


def test_official_layout_converter_round_trips():
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    official = official_state_dict()
    converted, skipped = official_to_mmpretrain(
        {'module.' + k: v for k, v in official.items()})
    assert sorted(skipped) == ['module.lm_head.bias', 'module.lm_head.weight']

    # Every converted tensor lands in a ConMIM model of the same shape.
    model = MODELS.build(dict(
        type='ConMIM',
        backbone=dict(type='ConMIMViT',
                      arch=dict(embed_dims=16, num_layers=2, num_heads=2,
                                feedforward_channels=64),
                      img_size=16, patch_size=4, out_type='raw'),
        neck=dict(type='NonLinearNeck', in_channels=16, hid_channels=32,
                  out_channels=8, num_layers=3, with_bias=False,
                  with_last_bn=True, with_last_bn_affine=False,
                  with_avg_pool=False, norm_cfg=dict(type='BN1d')),
        head=dict(type='MIMHead',
                  loss=dict(type='DenoisingContrastLoss'))))
    student = {k: v for k, v in model.state_dict().items()
               if not k.startswith('teacher.')}
    # the rel-pos index buffer is derived from the geometry, not stored
    student.pop('backbone.rel_pos_bias.relative_position_index')
    assert set(converted) == set(student)
    model.load_state_dict(converted, strict=False)
    for key, value in converted.items():
        assert torch.equal(model.state_dict()[key], value), key

    back = mmpretrain_to_official(converted)
    expected = {k: v for k, v in official.items()
                if not k.startswith('lm_head')}
    assert set(back) == set(expected)
    for key, value in expected.items():
        assert torch.equal(back[key], value), key


DOWNSTREAM_CONFIGS = sorted(
    glob.glob(osp.join(REPO_ROOT, 'configs/*/benchmarks/*.py')))


def test_every_downstream_config_is_covered():
    names = [osp.relpath(p, REPO_ROOT) for p in DOWNSTREAM_CONFIGS]
    # ConMIM ViT (14 + 5 AMP twins of the ImageNet fine-tunes), A2MIM (15),
    # CIM (9)
    assert len(names) == 43, names


def _syncbn_to_bn(cfg):
    if isinstance(cfg, dict):
        return {k: ('BN' if k == 'type' and v == 'SyncBN' else
                    _syncbn_to_bn(v)) for k, v in cfg.items()}
    if isinstance(cfg, list):
        return [_syncbn_to_bn(v) for v in cfg]
    return cfg


@pytest.mark.parametrize(
    'path', DOWNSTREAM_CONFIGS,
    ids=lambda p: osp.relpath(p, osp.join(REPO_ROOT, 'configs')))
def test_full_size_downstream_configs_build(path):
    """Every shipped downstream config builds its full-size model and
    optimizer (SyncBN switched to BN on CPU, no weights loaded)."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(path)
    scope = cfg.default_scope
    registry = importlib.import_module(f'{scope}.registry').MODELS
    init_default_scope(scope)
    model_cfg = ConfigDict(_syncbn_to_bn(cfg.model.to_dict()))
    model_cfg['backbone']['init_cfg'] = None
    model_cfg.pop('pretrained', None)
    if scope == 'mmpretrain':
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = registry.build(model_cfg)
    build_optim_wrapper(model, cfg.optim_wrapper)
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
    if path == SEG:
        # one forward pass at the real crop size (the detectors' 1024-px
        # inputs are too slow for CI: they only build)
        model.eval()
        with torch.no_grad():
            out = model(torch.zeros(1, 3, 512, 512), mode='tensor')
        assert out.shape == (1, 150, 128, 128)


def test_benchmark_wrapper_passes_the_pretrained_weights(pretrained,
                                                         mosaics):
    path = pretrained['root'] / 'seg_wrapper.py'
    # no checkpoint in the config: the wrapper must inject it
    path.write_text(SEG_CFG.format(base=DEMO_SEG, ckpt='', data=mosaics))
    work = str(pretrained['root'] / 'seg_wrapper_work')
    proc = run_tool(
        ['bash', 'tools/benchmarks/mmsegmentation/dist_train.sh', str(path),
         pretrained['out'], '1', '--work-dir', work],
        env=dict(PORT=free_port()))
    log = proc.stdout + proc.stderr
    assert PRETRAINED_LOADED.search(log), log[-3000:]
    assert osp.isfile(osp.join(work, 'iter_2.pth'))


def test_official_converter_tool_reads_an_official_style_file(tmp_path):
    import argparse
    import numpy as np
    src = str(tmp_path / 'checkpoint_copy-799.pth')
    official = official_state_dict()
    torch.save(dict(model=official, epoch=799, optimizer={},
                    args=argparse.Namespace(temp=0.1, mask_type='random_mps32'),
                    scaler=dict(scale=np.float64(65536.))), src)
    out = str(tmp_path / 'converted.pth')
    proc = run_tool(['tools/model_converters/conmim_official_to_mmconmim.py',
                     src, out])
    assert 'dropped 2 unused keys' in proc.stdout
    converted = torch.load(out, weights_only=True)['state_dict']
    assert torch.equal(converted['backbone.layers.1.ffn.layers.0.0.weight'],
                       official['blocks.1.mlp.fc1.weight'])
    assert torch.equal(converted['neck.bn2.running_var'],
                       official['projectors.7.running_var'])


def test_transfer_demo_runs_both_inits_and_draws_them(pretrained, tmp_path):
    """tools/transfer_demo.py end to end (segmentation only, 2 iterations,
    tiny mosaics): the export goes into the pretrained run only, both runs
    are evaluated, the table and the picture are written."""
    import json
    work = tmp_path / 'demo'
    proc = run_tool(['tools/transfer_demo.py', '--checkpoint',
                     pretrained['ckpt'], '--work-dir', str(work), '--tasks',
                     'seg', '--iters', '2', '--crops-per-class', '2',
                     '--train-mosaics', '4', '--val-mosaics', '2',
                     '--pictures', '2'])
    assert PRETRAINED_LOADED.search((work / 'seg_pretrained.log').read_text())
    assert not PRETRAINED_LOADED.search(
        (work / 'seg_random.log').read_text())
    results = json.loads((work / 'results.json').read_text())
    table = (work / 'results.md').read_text()
    cells = [f"{results['seg'][init]['mIoU']:.1f}"
             for init in ('pretrained', 'random')]
    assert f'| UperNet (mmseg) | mIoU | {cells[0]} | {cells[1]} |' in table
    assert table in proc.stdout
    assert [results['seg'][i]['iteration'] for i in ('pretrained',
                                                     'random')] == [2, 2]
    # named with the backbone checkpoint and the fine-tuning iteration
    picture = work / 'seg_predictions_pretrain-iter_2_finetuned-iter_2.png'
    assert results['pictures'] == [str(picture)] and picture.is_file()
    assert re.search(r'ETA \d+:\d\d', proc.stdout)


def test_transfer_demo_without_a_checkpoint_says_how_to_make_one(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'transfer_demo', osp.join(REPO_ROOT, 'tools/transfer_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.REPO = str(tmp_path)  # no work_dirs/conmim_demo* there
    with pytest.raises(SystemExit, match=r'bash tools/run_demo.sh'):
        module.find_demo_checkpoint()
