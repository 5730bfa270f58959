"""tools/compare_methods.py and mmconmim.compare: a tiny end-to-end
comparison (ConMIM + abs. pos. embedding and MAE, 2 iterations, 32 px, ViT
64 x 2, with each method's own random-init row and the fine-tune / dense
columns), the skip of finished rows, the resume of an interrupted one from
its last checkpoint, the report's numbers against an independent
recomputation from the saved backbones, and the bad-input errors.
Self-contained: the images are drawn here. The parts without a training
run: tests/test_compare/."""
import importlib.util
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import mmconmim  # noqa: F401
from mmconmim import compare as cmp
from mmconmim.compare.configs import MINUTES_MAX_ITERS
from mmconmim.compare.report import knn_curve
from mmconmim.engine.hooks.compare_budget_hook import BUDGET_FILE

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'compare_methods.py')
CLASSES = ('red', 'green', 'blue', 'yellow')
LIFTS = ((1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0))
PER_CLASS = 6
KNN_K = 3
CLASS_LIFT = 15
RUN_ARGS = dict(methods=['conmim-abspos', 'mae'], arch='vit-tiny',
                width=64, depth=2, img_size=32, patch_size=8, iters=2,
                batch_size=4, knn_k=KNN_K, knn_interval=2,
                checkpoint_interval=1, num_workers=0, finetune_iters=2)
METHODS = ('conmim-abspos', 'mae')
ROWS = ('random_init', 'random_init-conmim-abspos', 'random_init-mae') + \
    METHODS


def write_images(root, classes=CLASSES, per_class=PER_CLASS, seed=0,
                 size=40):
    """Class = a weak lift of one colour channel under strong noise: a
    random ViT scores well below 100 % (so a wrong recomputation cannot
    agree by saturation) and above chance."""
    rng = np.random.default_rng(seed)
    for index, name in enumerate(classes):
        os.makedirs(osp.join(root, name), exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 256 - CLASS_LIFT, (size, size, 3))
            img += CLASS_LIFT * np.array(LIFTS[index])
            Image.fromarray(img.astype(np.uint8)).save(
                osp.join(root, name, f'{i}.png'))


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('cmp_data')
    write_images(str(root / 'eval' / 'train'), seed=0)
    write_images(str(root / 'eval' / 'val'), seed=1)
    return str(root / 'eval')


@pytest.fixture(scope='module')
def first_run(data, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('cmp_run') / 'work')
    lines = []
    report = cmp.compare(osp.join(data, 'train'), data, work_dir=work_dir,
                         log=lines.append, **RUN_ARGS)
    return work_dir, report, lines


@pytest.fixture(scope='module')
def dense_run(first_run, data, tmp_path_factory):
    """The first comparison continued with --dense for the MAE rows: only
    the missing dense columns run."""
    work_dir = str(tmp_path_factory.mktemp('cmp_dense') / 'work')
    shutil.copytree(first_run[0], work_dir)
    lines = []
    report = cmp.compare(osp.join(data, 'train'), data, work_dir=work_dir,
                         log=lines.append, **dict(RUN_ARGS, methods=['mae'],
                                                  dense=True, dense_iters=2))
    return work_dir, report, lines


def recompute(config, backbone, data, pool='avg'):
    """kNN / linear probe of a saved backbone through the offline tools'
    route (load_model: the full pre-training model of the run's config with
    the export loaded into its network), not the tool's."""
    from mmconmim.evaluation.features import extract_splits
    from mmconmim.evaluation.knn import knn_classify
    from mmconmim.evaluation.linear_probe import linear_probe
    from mmconmim.evaluation.loading import load_model
    model, _, source, _ = load_model(config, backbone, 'auto')
    if pool == 'cls' and hasattr(model.backbone, 'out_type'):
        model.backbone.out_type = 'raw'  # the tokens, CLS included
    feats = extract_splits(model, osp.join(data, 'train'),
                           osp.join(data, 'val'), source, pool, 32,
                           num_workers=0)
    args = (feats['train_feats'], feats['train_labels'], feats['val_feats'],
            feats['val_labels'], feats['num_classes'])
    knn = knn_classify(*args, k=KNN_K, temperature=0.07)
    probe = linear_probe(*args, weight_decay=1e-2)
    return source, knn, probe


def test_end_to_end_report(first_run, data):
    work_dir, report, lines = first_run
    # the data are not saturated: the recomputations below can disagree
    assert report['methods']['random_init']['mean']['knn_top1']['mean'] < 100
    for name in ('report.md', 'report.json', 'report.png', 'settings.json'):
        assert osp.isfile(osp.join(work_dir, name)), name
    assert set(report['methods']) == set(ROWS)
    assert report['failed'] == {}
    md = open(osp.join(work_dir, 'report.md')).read()
    assert 'ConMIM + absolute position embedding' in md
    assert '| `mae` MAE |' in md and 'torch ' + torch.__version__ in md
    assert '| `random_init-mae` random init, MAEViT' in md
    assert '| `mae` | `random_init-mae` | ' in md  # the gain table
    for method in METHODS:
        run = report['methods'][method]['mean']
        assert run['iterations']['mean'] == 2
        assert run['train_seconds']['mean'] > 0
        assert run['images_per_second']['mean'] > 0
        assert run['peak_memory_mb']['mean'] > 0
        assert np.isfinite(run['final_loss']['mean'])
        assert osp.isfile(osp.join(work_dir, method, 'backbone.pth'))
        assert any(line.startswith('[') and f'{method}: start' in line
                   and 'estimated remaining' in line for line in lines)
        assert any(f'{method}: done in' in line for line in lines)
    assert '| finetune top-1 |' in md
    assert all(report['methods'][r]['per_seed'][0]['finetune_top1']
               is not None for r in ROWS)
    assert 'dense linear mIoU' not in md  # no --dense
    png = Image.open(osp.join(work_dir, 'report.png'))
    assert png.size == (800, 500)


def test_lr_auto_is_each_recipes_lr_scaled_by_sqrt(first_run):
    """Hand-computed: ConMIM 5e-4 at 2048, MAE 1.5e-4 x 16 = 2.4e-3 at
    4096, scaled to batch 4 by the square root of the batch ratio."""
    _, report, _ = first_run
    per_seed = {m: report['methods'][m]['per_seed'][0] for m in METHODS}
    assert per_seed['conmim-abspos']['lr'] == pytest.approx(
        5e-4 * (4 / 2048)**0.5)
    assert per_seed['mae']['lr'] == pytest.approx(2.4e-3 * (4 / 4096)**0.5)


def test_report_numbers_match_recomputation(first_run, data):
    work_dir, report, _ = first_run
    for name in ROWS[1:]:
        run_dir = osp.join(work_dir, name)
        row = report['methods'][name]['per_seed'][0]
        source, knn, probe = recompute(osp.join(run_dir, 'config.py'),
                                       osp.join(run_dir, 'backbone.pth'),
                                       data)
        assert row['knn_top1'] == pytest.approx(knn['top1'], abs=1e-6)
        assert row['knn_top5'] == pytest.approx(knn['top5'], abs=1e-6)
        assert row['linear_top1'] == pytest.approx(probe['top1'], abs=1e-6)
        _, knn_cls, _ = recompute(osp.join(run_dir, 'config.py'),
                                  osp.join(run_dir, 'backbone.pth'), data,
                                  pool='cls')
        assert row['knn_cls_top1'] == pytest.approx(knn_cls['top1'],
                                                    abs=1e-6)
        if name in METHODS:
            # ConMIM exports (and is evaluated as) its momentum teacher
            assert source == ('teacher' if name.startswith('conmim')
                              else 'student')
            # KNNEvalHook evaluated the live model at the last iteration:
            # the exported backbone must give the same number
            curve = knn_curve(run_dir)
            assert sorted(curve) == [0, 2]
            assert curve[2] == pytest.approx(row['knn_top1'], abs=1e-6)
    json_report = json.load(open(osp.join(work_dir, 'report.json')))
    md = open(osp.join(work_dir, 'report.md')).read()
    for name, entry in json_report['methods'].items():
        line = md.split(f'| `{name}` ')[1].split('\n')[0]
        assert f'| {entry["mean"]["knn_top1"]["mean"]:.1f} |' in line


def test_finetune_numbers_match_recomputation(first_run, data, tmp_path):
    from mmconmim.compare.finetune import finetune_backbone
    work_dir, report, _ = first_run
    for name in ('random_init-mae', 'mae'):
        row = report['methods'][name]['per_seed'][0]
        again = finetune_backbone(
            osp.join(work_dir, name, 'backbone.pth'), row['backbone_cfg'],
            data, iters=2, batch_size=4, lr=None, family='mae', seed=0,
            work_dir=str(tmp_path / name), img_size=32, lr_rule='sqrt')
        assert row['finetune_top1'] == pytest.approx(again['top1'], abs=1e-6)


def test_dense_numbers_match_recomputation(dense_run, tmp_path):
    from mmconmim.compare.dense import dense_transfer
    work_dir, report, lines = dense_run
    assert set(report['methods']) == {'random_init', 'random_init-mae',
                                      'mae'}
    assert sum('finished earlier, adding dense' in line
               for line in lines) == 3
    assert not any(': start' in line for line in lines)
    stored = json.load(open(osp.join(work_dir, 'settings.json')))
    assert stored['dense'] is True and stored['dense_iters'] == 2
    md = open(osp.join(work_dir, 'report.md')).read()
    assert '| dense linear mIoU | dense fine-tune mIoU |' in md
    assert '| Δ dense linear mIoU | Δ dense fine-tune mIoU |' in md
    # 4 classes: 2x2 mosaics only
    meta = json.load(open(osp.join(work_dir, 'seg_data', 'meta.json')))
    assert len(meta['classes']) == len(CLASSES)
    assert {len(m['tiles']) for m in meta['splits']['val']} == {4}
    row = report['methods']['mae']['per_seed'][0]
    again = dense_transfer(
        osp.join(work_dir, 'mae', 'backbone.pth'), row['backbone_cfg'],
        osp.join(work_dir, 'seg_data'), iters=2, seed=0,
        work_dir=str(tmp_path / 'dense'), img_size=32)
    assert row['dense_linear_miou'] == pytest.approx(again['linear_miou'],
                                                     abs=1e-6)
    assert row['dense_finetune_miou'] == pytest.approx(
        again['finetune_miou'], abs=1e-6)


def test_second_run_skips_finished_rows(first_run, data):
    work_dir, report, _ = first_run
    backbones = {m: osp.join(work_dir, m, 'backbone.pth') for m in ROWS}
    mtimes = {m: os.stat(p).st_mtime_ns for m, p in backbones.items()}
    runs = {m: sorted(os.listdir(osp.join(work_dir, m))) for m in METHODS}
    lines = []
    again = cmp.compare(osp.join(data, 'train'), data, work_dir=work_dir,
                        log=lines.append, **RUN_ARGS)
    assert sum('finished earlier, skipped' in line for line in lines) == 5
    assert not any(': start' in line for line in lines)
    assert not any('WARNING' in line for line in lines)
    for m, path in backbones.items():
        assert os.stat(path).st_mtime_ns == mtimes[m]
        assert again['methods'][m]['mean'] == report['methods'][m]['mean']
    for m in METHODS:
        assert sorted(os.listdir(osp.join(work_dir, m))) == runs[m]


def test_row_begun_with_another_pipeline_is_named(first_run, data,
                                                 tmp_path):
    src, report, _ = first_run
    work_dir = str(tmp_path / 'work')
    shutil.copytree(src, work_dir)
    # conmim-abspos: a recorded pipeline as an earlier version might have
    # built it; mae: no record at all (a row begun before the tool kept one)
    record = osp.join(work_dir, 'conmim-abspos', 'pipeline.json')
    text = open(record).read()
    assert '"mask_ratio": 0.75' in text
    with open(record, 'w') as f:
        f.write(text.replace('"mask_ratio": 0.75', '"mask_ratio": 0.5'))
    os.remove(osp.join(work_dir, 'mae', 'pipeline.json'))
    lines = []
    again = cmp.compare(osp.join(data, 'train'), data, work_dir=work_dir,
                        log=lines.append, **RUN_ARGS)
    warnings = [line for line in lines if 'WARNING' in line]
    assert len(warnings) == 2
    assert 'conmim-abspos' in warnings[0] and record in warnings[0]
    assert '] mae' in warnings[1] and 'no pipeline.json' in warnings[1]
    assert all('Delete' in w for w in warnings)
    # the finished rows keep their scores (nothing is trained again)
    assert not any(': start' in line for line in lines)
    for m in METHODS:
        assert again['methods'][m]['mean'] == report['methods'][m]['mean']


def interrupt_after_first_checkpoint(run_dir):
    """Leave a finished 2-iteration row as a run killed after its
    iteration-1 checkpoint: no iter_2.pth, no export, no metrics;
    last_checkpoint names iter_1.pth."""
    for name in ('iter_2.pth', 'backbone.pth', 'metrics.json',
                 'pretrain.json'):
        os.remove(osp.join(run_dir, name))
    with open(osp.join(run_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(run_dir, 'iter_1.pth'))


def copy_with_an_interrupted_row(src, tmp_path):
    """A copy of the first run's work dir whose ``conmim-abspos`` row is
    interrupted after its first checkpoint: ``(work_dir, run_dir)``."""
    work_dir = str(tmp_path / 'work')
    shutil.copytree(src, work_dir)
    run_dir = osp.join(work_dir, 'conmim-abspos')
    interrupt_after_first_checkpoint(run_dir)
    return work_dir, run_dir


def test_interrupted_method_resumes_from_last_checkpoint(first_run, data,
                                                         tmp_path):
    src, report, _ = first_run
    work_dir, run_dir = copy_with_an_interrupted_row(src, tmp_path)
    old_logs = set(os.listdir(run_dir))
    lines = []
    again = cmp.compare(osp.join(data, 'train'), data, work_dir=work_dir,
                        log=lines.append, **RUN_ARGS)
    assert any('conmim-abspos: resuming from' in line and 'iter_1.pth' in
               line for line in lines)
    assert any('mae: finished earlier, skipped' in line for line in lines)
    assert any('conmim-abspos: removing' in line and 'finetune' in line
               for line in lines)
    assert again['methods']['conmim-abspos']['per_seed'][0][
        'finetune_top1'] is not None
    result = json.load(open(osp.join(run_dir, 'pretrain.json')))
    assert result['start_iter'] == 1 and result['iterations'] == 2
    new_logs = [d for d in set(os.listdir(run_dir)) - old_logs
                if osp.isdir(osp.join(run_dir, d)) and d[:1].isdigit()]
    assert len(new_logs) == 1
    log_text = open(osp.join(run_dir, new_logs[0],
                             new_logs[0] + '.log')).read()
    # only iteration 2 was trained in the resumed run
    assert 'Iter(train) [2/2]' in log_text
    assert 'Iter(train) [1/2]' not in log_text
    assert osp.isfile(osp.join(run_dir, 'backbone.pth'))
    assert again['methods']['conmim-abspos']['mean']['iterations'][
        'mean'] == 2


def test_resumed_row_keeps_the_pipeline_it_was_begun_with(first_run, data,
                                                          tmp_path):
    src, _, _ = first_run
    # interrupted, and begun with another pipeline
    work_dir, run_dir = copy_with_an_interrupted_row(src, tmp_path)
    record = osp.join(run_dir, 'pipeline.json')
    earlier = open(record).read().replace('"mask_ratio": 0.75',
                                          '"mask_ratio": 0.5')
    with open(record, 'w') as f:
        f.write(earlier)
    for _ in range(2):  # the resume, then a re-run of the finished row
        lines = []
        cmp.compare(osp.join(data, 'train'), data, work_dir=work_dir,
                    log=lines.append, **RUN_ARGS)
        assert sum('WARNING' in line and record in line
                   for line in lines) == 1
        assert open(record).read() == earlier


def test_changed_settings_are_refused(first_run, data):
    work_dir, _, _ = first_run
    for change, message in ((dict(iters=3), r'iters: stored 2, now 3'),
                            (dict(img_size=16), r'img_size: stored 32, now'),
                            (dict(lr=1e-3), r"lr: stored 'auto', now 0.001"),
                            (dict(finetune_iters=5),
                             r'finetune_iters: stored 2, now 5')):
        with pytest.raises(cmp.CompareError,
                           match=message + r'.*new --work-dir'):
            cmp.compare(osp.join(data, 'train'), data, work_dir=work_dir,
                        log=lambda _: None, **dict(RUN_ARGS, **change))


def test_cnn_arch_lists_unsupported_methods(data, tmp_path):
    work_dir = str(tmp_path / 'cnn')
    report = cmp.compare(
        osp.join(data, 'train'), data, work_dir=work_dir, log=lambda _: None,
        **dict(RUN_ARGS, arch='resnet18', width=None, depth=None,
               img_size=64, finetune_iters=0, dense=False,
               methods=['mae', 'simmim', 'conmim-abspos', 'cim']))
    assert set(report['skipped']) == {'mae', 'simmim', 'conmim-abspos',
                                      'cim'}
    md = open(osp.join(work_dir, 'report.md')).read()
    assert 'Not run:' in md
    assert '`mae`: MAE drops the masked patches' in md
    assert '`cim`: needs --cim-tokenizer' in md
    assert set(report['methods']) == {'random_init'}
    # a ResNet has no CLS token: that column is left out
    assert report['methods']['random_init']['per_seed'][0][
        'knn_cls_top1'] is None and 'kNN top-1 (CLS)' not in md
    assert cmp.skip_reason('conmim', 'resnet18') is None
    assert cmp.skip_reason('mocov3', 'resnet50') is None
    assert cmp.skip_reason('a2mim', 'resnet18') is None


def test_bad_inputs(data, tmp_path):
    train = osp.join(data, 'train')

    def run(eval_data=data, **kw):
        args = dict(RUN_ARGS, **kw)
        return cmp.compare(train, eval_data, work_dir=str(tmp_path / 'w'),
                           log=lambda _: None, **args)

    empty = tmp_path / 'empty'
    (empty / 'train').mkdir(parents=True)
    (empty / 'val').mkdir()
    with pytest.raises(cmp.CompareError, match='no labelled images'):
        run(str(empty))
    unlabelled = tmp_path / 'unlabelled'
    for split in ('train', 'val'):
        (unlabelled / split).mkdir(parents=True)
        Image.new('RGB', (32, 32)).save(unlabelled / split / 'a.png')
    with pytest.raises(cmp.CompareError,
                       match=r'lie directly in train/ without a class'):
        run(str(unlabelled))
    with pytest.raises(cmp.CompareError, match=r'no train/ sub-folder.*'
                       r'DIR/train/<class>'):
        run(train)
    with pytest.raises(cmp.CompareError,
                       match=rf'too few train images per class for kNN with '
                       rf'k=20: 4 class\(es\) have fewer than 20.*at most '
                       rf'{PER_CLASS}'):
        run(knn_k=20)
    with pytest.raises(cmp.CompareError,
                       match='--img-size 36 is not divisible by --patch-size'
                       ' 8'):
        run(img_size=36)
    with pytest.raises(cmp.CompareError, match='not divisible by 32'):
        run(arch='resnet18', img_size=48)
    for kw, message in (
            (dict(lr='fast'), r"--lr must be 'auto' \(each method's"),
            (dict(lr=-1e-3), r'--lr must be > 0 and finite'),
            (dict(finetune_iters=-1),
             r'--finetune-iters must be an integer >= 0 \(0 switches'),
            (dict(seeds=0), r'--seeds must be a positive integer, got 0'),
            (dict(iters=None), r'exactly one budget'),
            (dict(dense=False, seg_data=str(tmp_path)),
             r'--seg-data is given without --dense'),
            (dict(dense_iters=5), r'--dense-iters is given without --dense'),
            (dict(dense=True, seg_data=str(tmp_path)),
             r"no images in img_dir/train/; expected mmseg's layout")):
        with pytest.raises(cmp.CompareError, match=message):
            run(**kw)
    three = tmp_path / 'three'
    write_images(str(three / 'train'), classes=CLASSES[:3])
    write_images(str(three / 'val'), classes=CLASSES[:3], seed=1)
    with pytest.raises(cmp.CompareError,
                       match=r'--dense: .* has 3 classes; the segmentation '
                       r'mosaics need at least 4.*--seg-data'):
        run(str(three), dense=True)
    with pytest.raises(cmp.CompareError,
                       match=r"unknown method\(s\) byol; known methods: "
                       r"conmim, conmim-abspos, a2mim, mae, simmim, mocov3"):
        cmp.parse_methods('conmim,byol')
    assert not osp.exists(tmp_path / 'w')  # nothing written on bad input


def test_cli_help_and_error(capsys):
    spec = importlib.util.spec_from_file_location('compare_methods_cli', TOOL)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    with pytest.raises(SystemExit):
        cli.parse_args(['--help'])
    out = capsys.readouterr().out
    assert 'DIR/train/<class>' in out and '--finetune-iters' in out
    assert '--seg-data' in out and "'auto'" in out
    assert cli.main(['--pretrain-data', '.', '--eval-data', '.',
                     '--iters', '1', '--methods', 'mae,dino']) == 2
    err = capsys.readouterr().err
    assert 'unknown method(s) dino' in err and 'conmim-abspos' in err
    assert cli.main(['--pretrain-data', '.', '--eval-data', '.',
                     '--iters', '1', '--lr', 'fast']) == 2
    assert "--lr must be 'auto'" in capsys.readouterr().err


def test_simmim_vit_maps_match_masked_tokens():
    """SimMIMViT (the ViT of the simmim row): the masked forward is
    BEiTPretrainViT's token replacement laid out as a map; with nothing
    masked it equals the plain (unmasked) forward."""
    from mmpretrain.models.selfsup import BEiTPretrainViT

    from mmconmim.models.backbones import SimMIMViT
    arch = dict(embed_dims=32, num_layers=2, num_heads=2,
                feedforward_channels=64)
    kwargs = dict(arch=arch, img_size=32, patch_size=8, use_abs_pos_emb=True,
                  use_shared_rel_pos_bias=False)
    torch.manual_seed(0)
    ours, ref = SimMIMViT(**kwargs), BEiTPretrainViT(**kwargs)
    ref.load_state_dict(ours.state_dict())
    ours.eval()  # (mmpretrain's ViTs' train() returns None)
    ref.eval()
    x = torch.randn(2, 3, 32, 32)
    mask = torch.rand(2, 4, 4) > 0.4
    tokens = ref(x, mask)[-1][:, 1:]                       # (B, 16, C)
    fmap = ours(x, mask)[-1]                               # (B, C, 4, 4)
    assert fmap.shape == (2, 32, 4, 4)
    for b, i, j in ((0, 0, 0), (1, 2, 3), (0, 3, 1)):
        torch.testing.assert_close(fmap[b, :, i, j], tokens[b, i * 4 + j])
    none_masked = ours(x, torch.zeros(2, 4, 4, dtype=torch.bool))[-1]
    torch.testing.assert_close(none_masked, ours(x)[-1])


def test_minutes_budget_stops_the_runner(data, tmp_path):
    work_dir = str(tmp_path / 'minutes')
    args = dict(RUN_ARGS, iters=None, minutes=0.01, methods=['mae'],
                knn_interval=0, checkpoint_interval=1000, finetune_iters=0,
                dense=False)
    report = cmp.compare(osp.join(data, 'train'), data, work_dir=work_dir,
                         log=lambda _: None, **args)
    row = report['methods']['mae']['per_seed'][0]
    result = json.load(open(osp.join(work_dir, 'mae', 'pretrain.json')))
    assert result['stopped_by'] == row['stopped_by'] == 'minutes'
    # stopped by the hook at 0.6 s of training, long before max_iters
    assert 1 <= result['iterations'] < MINUTES_MAX_ITERS
    assert 0.6 <= result['train_seconds']
    saved = json.load(open(osp.join(work_dir, 'mae', BUDGET_FILE)))
    assert saved['elapsed_at_iter'] == {
        str(result['iterations']): pytest.approx(result['train_seconds'],
                                                 abs=0.01)}
    md = open(osp.join(work_dir, 'report.md')).read()
    assert '0.01 minutes of training per method' in md
    assert md.split('| `mae` ')[1].split('\n')[0].rstrip().endswith(
        f'| {result["iterations"]} |')


def test_method_labels_name_the_setting():
    assert 'paper backbone' in cmp.method_label('conmim', 'vit-tiny')
    assert 'small-data fix' in cmp.method_label('conmim', 'vit-tiny')
    assert 'absolute position' in cmp.method_label('conmim-abspos',
                                                   'vit-small')
    assert cmp.method_label('conmim', 'resnet50') == \
        'ConMIM on a ResNet (ConMIMCNN)'
