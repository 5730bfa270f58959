"""mmconmim.compare's parts without a training run: the learning-rate rule
(hand-computed), each row's recipe (published lr and batch against the
papers' numbers, the config built at tiny size), the fair random-init rows
(each method's own backbone variant), mean +- std and paired gains
(hand-computed), the report table, the ETA and the budget hooks."""
import json
import math
import types

import pytest
import torch

import mmconmim  # noqa: F401
from mmconmim.compare import catalogue, configs, report, run, settings
from mmconmim.compare.catalogue import CompareError
from mmconmim.engine.hooks import compare_budget_hook as budget_hook

from tests.test_compare.conftest import TINY_SETTINGS as TINY

# (lr, total batch) as the papers / recipes publish them
PUBLISHED = {
    ('conmim', 'vit'): (5e-4, 2048),        # ConMIM ViT-B, official code
    ('conmim-abspos', 'vit'): (5e-4, 2048),
    ('conmim', 'cnn'): (1.2e-3, 2048),      # A2MIM's CNN schedule
    ('a2mim', 'vit'): (4e-4, 2048),         # 1e-4 x 2048 / 512
    ('a2mim', 'cnn'): (1.2e-3, 2048),       # 3e-4 x 2048 / 512
    ('mae', 'vit'): (2.4e-3, 4096),         # 1.5e-4 x 4096 / 256
    ('simmim', 'vit'): (8e-4, 2048),        # 2e-4 x 2048 / 512
    ('mocov3', 'vit'): (2.4e-3, 4096),
    ('mocov3', 'cnn'): (9.6, 4096),         # LARS
}


def test_lr_rule_hand_computed():
    # MAE at batch 32: 2.4e-3 * sqrt(32 / 4096) = 2.4e-3 / 11.3137...
    assert settings.scaled_lr(2.4e-3, 4096, 32) == pytest.approx(2.1213e-4,
                                                                 rel=1e-4)
    assert settings.scaled_lr(2.4e-3, 4096, 32, 'linear') == \
        pytest.approx(1.875e-5)
    assert settings.scaled_lr(5e-4, 2048, 2048) == pytest.approx(5e-4)
    with pytest.raises(CompareError, match="'sqrt' or 'linear'"):
        settings.scaled_lr(1e-3, 256, 32, 'cubic')


@pytest.mark.parametrize('row', sorted(PUBLISHED))
def test_each_recipe_publishes_its_papers_lr(row):
    from mmengine.config import Config
    recipe = Config.fromfile(configs.recipe_file(*row))
    lr, batch = configs.published_lr(recipe)
    assert (lr, batch) == pytest.approx(PUBLISHED[row])
    auto = configs.row_lr(recipe, dict(TINY, batch_size=32))
    assert auto == pytest.approx(PUBLISHED[row][0] *
                                 math.sqrt(32 / PUBLISHED[row][1]))
    assert configs.row_lr(recipe, dict(TINY, lr=1e-3)) == 1e-3


@pytest.mark.parametrize('method,kind', sorted(catalogue.METHOD_CONFIGS))
def test_row_config_builds_at_tiny_size(method, kind, tmp_path):
    from mmengine.registry import DefaultScope

    from mmconmim.registry import MODELS
    arch = 'vit-tiny' if kind == 'vit' else 'resnet18'
    tiny = dict(TINY, arch=arch, img_size=32 if kind == 'vit' else 64)
    if kind == 'cnn':
        tiny.update(width=None, depth=None)
    cfg = configs.method_config(method, tiny, str(tmp_path), seed=3)
    path = str(tmp_path / 'config.py')
    configs.write_config(cfg, path)
    assert configs.backbone_cfg(path) == cfg.model.backbone.to_dict()
    assert cfg.optim_wrapper.type == 'OptimWrapper'  # fp32 everywhere
    assert cfg.train_cfg.to_dict() == dict(type='IterBasedTrainLoop',
                                           max_iters=2)
    assert cfg.randomness.seed == 3 and cfg.train_dataloader.batch_size == 4
    masks = [t for t in _flat(cfg.train_dataloader.dataset.pipeline)
             if t['type'].endswith('MaskGenerator')]
    crops = [t for t in _flat(cfg.train_dataloader.dataset.pipeline)
             if t['type'] == 'RandomResizedCrop']
    assert crops and all(t['scale'] == tiny['img_size'] for t in crops)
    assert all(t['input_size'] == tiny['img_size'] for t in masks)
    # the dumped config shows the pipeline that runs, not the recipe's
    # (mmpretrain's recipes keep theirs in a `train_pipeline` variable)
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert cfg.get('train_pipeline', pipeline) == pipeline
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model_cfg = cfg.model.to_dict()
        model_cfg.setdefault('data_preprocessor',
                             cfg.get('data_preprocessor'))
        model = MODELS.build(model_cfg)
    x = torch.randn(2, 3, tiny['img_size'], tiny['img_size'])
    with torch.no_grad():
        out = model.backbone(x, None) if 'mask' in \
            model.backbone.forward.__code__.co_varnames else model.backbone(x)
    assert out[-1].shape[0] == 2


def _flat(pipeline):
    for step in pipeline:
        if isinstance(step, (list, tuple)):
            yield from _flat(step)
        else:
            yield step
            yield from _flat(step.get('transforms', []))


def test_conmim_rows_settings_live_in_one_file(tmp_path):
    paper = configs.method_config('conmim', TINY, str(tmp_path))
    abspos = configs.method_config('conmim-abspos', TINY, str(tmp_path))
    assert paper.model.backbone.type == abspos.model.backbone.type == \
        'ConMIMViT'
    assert paper.model.backbone.use_abs_pos_emb is False
    assert abspos.model.backbone.use_abs_pos_emb is True
    # the small-data fix of docs/conmim_small_scale.md is on in both rows:
    # the cross-image dictionary, and the mask-token position code where
    # there is no absolute position embedding to tell mask tokens apart
    assert paper.model.head.loss.negatives == 'batch'
    assert abspos.model.head.loss.negatives == 'batch'
    assert paper.model.backbone.mask_token_pos_scale == 0.2
    assert abspos.model.backbone.mask_token_pos_scale == 0.
    # and the small-data initialisation (section 8 of that page)
    for row in (paper, abspos):
        assert row.model.backbone.weight_init == 'mmpretrain'
        assert row.model.backbone.layer_scale_init_value == 1.0
        # and the 2-layer projector (section 8), scaled to the width
        assert row.model.neck.num_layers == 2
        assert row.model.neck.in_channels == TINY['width']
    # everything else of the abspos row is the paper row's
    a, b = paper.to_dict(), abspos.to_dict()
    for row in (a, b):
        row['model']['backbone'].pop('use_abs_pos_emb')
        row['model']['backbone'].pop('mask_token_pos_scale')
    assert a == b


def test_random_rows_use_each_methods_backbone_variant(tmp_path):
    """Fair rows: random_init-<m> is m's own backbone class and settings
    (not the plain ViT), initialised by the method's model."""
    from mmconmim.apis import load_backbone
    from mmconmim.compare.evaluate import (plain_backbone_cfg,
                                           save_method_init)
    expected = {'conmim': 'ConMIMViT', 'conmim-abspos': 'ConMIMViT',
                'a2mim': 'A2MIMViT', 'mae': 'MAEViT', 'simmim': 'SimMIMViT',
                'mocov3': 'MoCoV3ViT'}
    assert plain_backbone_cfg(TINY)['type'] == 'VisionTransformer'
    for method, cls in expected.items():
        row_dir = tmp_path / method
        row_dir.mkdir()
        backbone = save_method_init(method, TINY, 0, str(row_dir))
        built = configs.method_config(method, TINY, str(row_dir)).model
        assert backbone['type'] == cls == built.backbone.type
        assert backbone['out_type'] == 'raw'
        net = load_backbone(str(row_dir / 'backbone.pth'),
                            dict(backbone=backbone), source='auto')
        assert type(net).__name__ == cls
        assert net.cls_token is not None  # both poolings exist
        if method == 'conmim':
            # the paper backbone: no absolute position embedding
            assert getattr(net, 'pos_embed', None) is None
    assert catalogue.method_label('random_init-mae', 'vit-tiny') == \
        'random init, ' + catalogue.BACKBONE_VARIANTS['mae']


def test_mean_std_and_paired_gains_hand_computed():
    results = {
        'random_init-mae': [dict(knn_top1=50.), dict(knn_top1=54.)],
        'mae': [dict(knn_top1=60., linear_top1=70.),
                dict(knn_top1=66., linear_top1=None)],
    }
    s = report.summarise(results['mae'])
    assert s['knn_top1']['mean'] == 63.
    assert s['knn_top1']['std'] == pytest.approx(math.sqrt(18.))
    assert s['linear_top1'] == dict(mean=70., std=None, n=1)
    g = report.gains(results)
    # per seed: 60 - 50 = 10, 66 - 54 = 12 -> 11 +- sqrt(2)
    assert g['mae']['knn_top1']['mean'] == 11.
    assert g['mae']['knn_top1']['std'] == pytest.approx(math.sqrt(2.))
    assert g['mae']['linear_top1'] is None  # the init has no linear score
    assert report.fmt(g['mae']['knn_top1'], sign=True) == '+11.0 ± 1.4'
    assert report.fmt(None) == '-'


def test_report_table_has_std_and_gain(tmp_path):
    st = dict(TINY, seeds=2, finetune_iters=0, dense=False, seg_data=None,
              eval_data=dict(path='/x/photo', train_images=6,
                             val_images=6, classes=3),
              pretrain_data=dict(path='/x/photo/train', images=6))
    rows = {
        'random_init-mae': [dict(knn_top1=50., knn_cls_top1=40.),
                            dict(knn_top1=54., knn_cls_top1=44.)],
        'mae': [dict(knn_top1=60., knn_cls_top1=41., lr=1e-4),
                dict(knn_top1=66., knn_cls_top1=47., lr=1e-4)],
    }
    env = dict(cpu='cpu', threads=1, device='no GPU', torch='x')
    rep = report.write_report(str(tmp_path), st, rows, {}, {}, env)
    md = (tmp_path / 'report.md').read_text()
    line = next(x for x in md.splitlines() if x.startswith('| `mae` MAE'))
    assert '| 63.0 ± 4.2 | 44.0 ± 4.2 |' in line
    gain = next(x for x in md.splitlines() if x.startswith('| `mae` |'))
    # CLS per seed: 41 - 40 = 1, 47 - 44 = 3 -> 2 +- sqrt(2)
    assert gain == '| `mae` | `random_init-mae` | +11.0 ± 1.4 | +2.0 ± 1.4 |'
    assert 'finetune top-1' not in md.split('\n\n')[2]  # column left out
    saved = json.loads((tmp_path / 'report.json').read_text())
    assert saved['gains'] == json.loads(json.dumps(rep['gains']))


def test_eta_counts_pretrainings_and_random_inits_separately():
    """Hand-computed: two pre-trainings of 200 s and 100 s done (mean 150),
    one random init of 4 s done; left: two random inits, two methods."""
    done = {True: [4.], False: [200., 100.]}
    pending = ['random_init', 'random_init-mae', 'mae', 'mocov3']
    assert run.estimate_remaining(done, pending) == 2 * 4. + 2 * 150.
    assert run.estimate_remaining(done, []) == 0.
    assert run.estimate_remaining({True: [4.]}, ['mae']) is None
    assert run.estimate_remaining({}, ['random_init-mae']) is None


def test_budget_hook_stops_at_time_limit(tmp_path, monkeypatch):
    clock = iter([0., 10., 10.5, 40., 40.5, 70.])  # perf_counter readings
    monkeypatch.setattr(budget_hook.time, 'perf_counter', lambda: next(clock))
    budget = budget_hook.CompareBudgetHook(minutes=1.,
                                           checkpoint_interval=100)
    end = budget_hook.CompareIterEndHook()
    runner = types.SimpleNamespace(
        work_dir=str(tmp_path), iter=0, hooks=[budget, end],
        train_loop=types.SimpleNamespace(stop_training=False),
        logger=types.SimpleNamespace(info=lambda msg: None))
    budget.before_train(runner)
    end.before_train_epoch(runner)            # t=0
    for step in range(3):
        runner.iter = step
        budget.after_train_iter(runner, step)  # t=10, 40, 70
        if runner.train_loop.stop_training:
            break
        end.after_train_iter(runner, step)     # t=10.5, 40.5
    # 10 + 29.5 + 29.5 = 69 s >= 60 s after the third iteration
    assert runner.train_loop.stop_training and step == 2
    assert budget.elapsed == pytest.approx(69.)
    saved = json.load(open(tmp_path / budget_hook.BUDGET_FILE))
    assert saved['elapsed_at_iter'] == {'3': pytest.approx(69.)}
    monkeypatch.undo()
    with pytest.raises(ValueError, match='minutes must be > 0'):
        budget_hook.CompareBudgetHook(minutes=-1.)
    with pytest.raises(RuntimeError, match='needs a CompareBudgetHook'):
        budget_hook.CompareIterEndHook().before_train_epoch(
            types.SimpleNamespace(hooks=[]))
