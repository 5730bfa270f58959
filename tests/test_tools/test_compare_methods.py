"""tools/compare_methods.py and mmconmim.evaluation.compare: a tiny
end-to-end comparison (ConMIM + abs. pos. embedding and MAE, 2 iterations,
32 px, ViT 64 x 2), the skip of finished methods, the resume of an
interrupted one from its last checkpoint, the report's numbers against an
independent recomputation from the saved backbones, and the bad-input
errors. Self-contained: the images are drawn here."""
import importlib.util
import json
import os
import os.path as osp
import shutil
import types

import numpy as np
import pytest
import torch
from PIL import Image

import mmconmim  # noqa: F401
from mmconmim.evaluation import compare as cmp

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'compare_methods.py')
CLASSES = ('red', 'green', 'blue')
PER_CLASS = 6
KNN_K = 3
RUN_ARGS = dict(methods=['conmim-abspos', 'mae'], arch='vit-tiny',
                width=64, depth=2, img_size=32, patch_size=8, iters=2,
                batch_size=4, knn_k=KNN_K, knn_interval=2,
                checkpoint_interval=1, num_workers=0)


def write_images(root, classes=CLASSES, per_class=PER_CLASS, seed=0,
                 size=40):
    """Class = dominant colour channel plus noise (learnable, not trivial)."""
    rng = np.random.default_rng(seed)
    for index, name in enumerate(classes):
        os.makedirs(osp.join(root, name), exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 120, (size, size, 3))
            img[..., index % 3] += 120
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


def recompute(config, backbone, data):
    """kNN / linear probe of a saved backbone through the offline tools'
    route (load_model: the full pre-training model of the run's config with
    the export loaded into its network), not the tool's."""
    from mmconmim.evaluation.features import extract_splits
    from mmconmim.evaluation.knn import knn_classify
    from mmconmim.evaluation.linear_probe import linear_probe
    from mmconmim.evaluation.loading import load_model
    model, _, source, _ = load_model(config, backbone, 'auto')
    feats = extract_splits(model, osp.join(data, 'train'),
                           osp.join(data, 'val'), source, 'avg', 32,
                           num_workers=0)
    args = (feats['train_feats'], feats['train_labels'], feats['val_feats'],
            feats['val_labels'], feats['num_classes'])
    knn = knn_classify(*args, k=KNN_K, temperature=0.07)
    probe = linear_probe(*args, weight_decay=1e-2)
    return source, knn, probe


def test_end_to_end_report(first_run, data):
    work_dir, report, lines = first_run
    for name in ('report.md', 'report.json', 'report.png', 'settings.json'):
        assert osp.isfile(osp.join(work_dir, name)), name
    assert set(report['methods']) == {'random_init', 'conmim-abspos', 'mae'}
    assert report['failed'] == {}
    md = open(osp.join(work_dir, 'report.md')).read()
    assert 'ConMIM + absolute position embedding' in md
    assert '| `mae` MAE |' in md and 'torch ' + torch.__version__ in md
    for method in ('conmim-abspos', 'mae'):
        run = report['methods'][method]['mean']
        assert run['iterations'] == 2
        assert run['train_seconds'] > 0 and run['images_per_second'] > 0
        assert run['peak_rss_mb'] > 0 and np.isfinite(run['final_loss'])
        assert osp.isfile(osp.join(work_dir, method, 'backbone.pth'))
        # the progress lines
        assert any(line.startswith(f'[') and f'{method}: start' in line
                   and 'estimated remaining' in line for line in lines)
        assert any(f'{method}: done in' in line for line in lines)
    png = Image.open(osp.join(work_dir, 'report.png'))
    assert png.size == (800, 500)


def test_report_numbers_match_recomputation(first_run, data):
    work_dir, report, _ = first_run
    for method in ('conmim-abspos', 'mae'):
        run_dir = osp.join(work_dir, method)
        source, knn, probe = recompute(osp.join(run_dir, 'config.py'),
                                       osp.join(run_dir, 'backbone.pth'),
                                       data)
        row = report['methods'][method]['per_seed'][0]
        assert row['knn_top1'] == pytest.approx(knn['top1'], abs=1e-6)
        assert row['knn_top5'] == pytest.approx(knn['top5'], abs=1e-6)
        assert row['linear_top1'] == pytest.approx(probe['top1'], abs=1e-6)
        # ConMIM exports (and is evaluated as) its momentum teacher
        assert source == ('teacher' if method.startswith('conmim')
                          else 'student')
        # KNNEvalHook evaluated the live model at the last iteration: the
        # exported backbone must give the same number
        curve = cmp.knn_curve(run_dir)
        assert sorted(curve) == [0, 2]
        assert curve[2] == pytest.approx(row['knn_top1'], abs=1e-6)
    json_report = json.load(open(osp.join(work_dir, 'report.json')))
    md = open(osp.join(work_dir, 'report.md')).read()
    for method, entry in json_report['methods'].items():
        assert f'| {entry["mean"]["knn_top1"]:.1f} |' in md.split(
            f'`{method}`')[1].split('\n')[0]


def test_second_run_skips_finished_methods(first_run, data):
    work_dir, report, _ = first_run
    backbones = {m: osp.join(work_dir, m, 'backbone.pth')
                 for m in ('conmim-abspos', 'mae')}
    mtimes = {m: os.stat(p).st_mtime_ns for m, p in backbones.items()}
    runs = {m: sorted(os.listdir(osp.join(work_dir, m))) for m in backbones}
    lines = []
    again = cmp.compare(osp.join(data, 'train'), data, work_dir=work_dir,
                        log=lines.append, **RUN_ARGS)
    assert sum('finished earlier, skipped' in line for line in lines) == 3
    assert not any(': start' in line for line in lines)
    for m, path in backbones.items():
        assert os.stat(path).st_mtime_ns == mtimes[m]
        assert sorted(os.listdir(osp.join(work_dir, m))) == runs[m]
        assert again['methods'][m]['mean'] == report['methods'][m]['mean']


def test_interrupted_method_resumes_from_last_checkpoint(first_run, data,
                                                         tmp_path):
    src, report, _ = first_run
    work_dir = str(tmp_path / 'work')
    shutil.copytree(src, work_dir)
    run_dir = osp.join(work_dir, 'conmim-abspos')
    # the state of a run killed after its iteration-1 checkpoint: no
    # iter_2.pth, no export, no metrics; last_checkpoint names iter_1.pth
    for name in ('iter_2.pth', 'backbone.pth', 'metrics.json',
                 'pretrain.json'):
        os.remove(osp.join(run_dir, name))
    with open(osp.join(run_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(run_dir, 'iter_1.pth'))
    old_logs = set(os.listdir(run_dir))
    lines = []
    again = cmp.compare(osp.join(data, 'train'), data, work_dir=work_dir,
                        log=lines.append, **RUN_ARGS)
    assert any('conmim-abspos: resuming from' in line and 'iter_1.pth' in
               line for line in lines)
    assert any('mae: finished earlier, skipped' in line for line in lines)
    result = json.load(open(osp.join(run_dir, 'pretrain.json')))
    assert result['start_iter'] == 1 and result['iterations'] == 2
    new_logs = [d for d in set(os.listdir(run_dir)) - old_logs
                if osp.isdir(osp.join(run_dir, d))]
    assert len(new_logs) == 1
    log_text = open(osp.join(run_dir, new_logs[0],
                             new_logs[0] + '.log')).read()
    # only iteration 2 was trained in the resumed run
    assert 'Iter(train) [2/2]' in log_text
    assert 'Iter(train) [1/2]' not in log_text
    assert osp.isfile(osp.join(run_dir, 'backbone.pth'))
    assert again['methods']['conmim-abspos']['mean']['iterations'] == 2


def test_changed_settings_are_refused(first_run, data):
    work_dir, _, _ = first_run
    args = dict(RUN_ARGS, iters=3)
    with pytest.raises(cmp.CompareError,
                       match=r'iters: stored 2, now 3.*new --work-dir'):
        cmp.compare(osp.join(data, 'train'), data, work_dir=work_dir,
                    log=lambda _: None, **args)
    args = dict(RUN_ARGS, img_size=16)
    with pytest.raises(cmp.CompareError, match=r'img_size: stored 32, now 16'):
        cmp.compare(osp.join(data, 'train'), data, work_dir=work_dir,
                    log=lambda _: None, **args)


def test_cnn_arch_lists_unsupported_methods(data, tmp_path):
    work_dir = str(tmp_path / 'cnn')
    report = cmp.compare(
        osp.join(data, 'train'), data, work_dir=work_dir, log=lambda _: None,
        **dict(RUN_ARGS, arch='resnet18', width=None, depth=None,
               methods=['mae', 'simmim', 'conmim-abspos', 'cim']))
    assert set(report['skipped']) == {'mae', 'simmim', 'conmim-abspos',
                                      'cim'}
    md = open(osp.join(work_dir, 'report.md')).read()
    assert 'Not run:' in md
    assert '`mae`: MAE drops the masked patches' in md
    assert '`cim`: needs --cim-tokenizer' in md
    assert set(report['methods']) == {'random_init'}
    assert cmp.skip_reason('conmim', 'resnet18') is None
    assert cmp.skip_reason('mocov3', 'resnet50') is None
    assert cmp.skip_reason('a2mim', 'resnet18') is None


def test_budget_hook_stops_at_time_limit(tmp_path, monkeypatch):
    clock = iter([0., 10., 10.5, 40., 40.5, 70.])  # perf_counter readings
    monkeypatch.setattr(cmp.time, 'perf_counter', lambda: next(clock))
    budget = cmp.CompareBudgetHook(minutes=1., checkpoint_interval=100)
    end = cmp.CompareIterEndHook()
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
    saved = json.load(open(tmp_path / cmp.BUDGET_FILE))['elapsed_at_iter']
    assert saved == {'3': pytest.approx(69.)}


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
                       rf'k=20: 3 class\(es\) have fewer than 20.*at most '
                       rf'{PER_CLASS}'):
        run(knn_k=20)
    with pytest.raises(cmp.CompareError,
                       match='--img-size 36 is not divisible by --patch-size'
                       ' 8'):
        run(img_size=36)
    with pytest.raises(cmp.CompareError, match='not divisible by 32'):
        run(arch='resnet18', img_size=48)
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
    assert 'DIR/train/<class>' in capsys.readouterr().out
    assert cli.main(['--pretrain-data', '.', '--eval-data', '.',
                     '--iters', '1', '--methods', 'mae,dino']) == 2
    err = capsys.readouterr().err
    assert 'unknown method(s) dino' in err and 'conmim-abspos' in err


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
                knn_interval=0, checkpoint_interval=1000)
    report = cmp.compare(osp.join(data, 'train'), data, work_dir=work_dir,
                         log=lambda _: None, **args)
    row = report['methods']['mae']['per_seed'][0]
    result = json.load(open(osp.join(work_dir, 'mae', 'pretrain.json')))
    assert result['stopped_by'] == row['stopped_by'] == 'minutes'
    # stopped by the hook at 0.6 s of training, long before max_iters
    assert 1 <= result['iterations'] < cmp.MINUTES_MAX_ITERS
    assert 0.6 <= result['train_seconds']
    saved = json.load(open(osp.join(work_dir, 'mae', cmp.BUDGET_FILE)))
    assert saved['elapsed_at_iter'] == {
        str(result['iterations']): pytest.approx(result['train_seconds'],
                                                 abs=0.01)}
    md = open(osp.join(work_dir, 'report.md')).read()
    assert '0.01 minutes of training per method' in md
    assert md.split('`mae`')[1].split('\n')[0].rstrip().endswith(
        f'| {result["iterations"]} |')


def test_method_labels_name_the_setting():
    assert 'paper setting' in cmp.method_label('conmim', 'vit-tiny')
    assert 'absolute position' in cmp.method_label('conmim-abspos',
                                                   'vit-small')
    assert cmp.method_label('conmim', 'resnet50') == \
        'ConMIM on a ResNet (ConMIMCNN)'


def test_eta_counts_pretrainings_and_random_inits_separately():
    """Hand-computed: two pre-trainings of 200 s and 100 s done (mean 150),
    one random init of 4 s done; left: one random init and two methods."""
    from mmconmim.evaluation.compare import RANDOM_INIT, estimate_remaining
    done = {True: [4.], False: [200., 100.]}
    assert estimate_remaining(done, [RANDOM_INIT, 'mae', 'mocov3']) == \
        4. + 2 * 150.
    assert estimate_remaining(done, []) == 0.
    # nothing measured yet for a pending kind: no guess
    assert estimate_remaining({True: [4.]}, ['mae']) is None
    assert estimate_remaining({}, [RANDOM_INIT]) is None
