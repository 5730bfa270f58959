"""KNNEvalHook: a 2-iteration ConMIM demo run through tools/train.py (one
process and two gloo processes), agreement with the offline tool, the
disabled hook, and the hook on A2MIM against hand-extracted features."""
import glob
import json
import logging
import os.path as osp
import re
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub, MMLogger
from PIL import Image

from benchmarks.photo_regions import build_photo_regions
from tests.fixtures.helpers import free_port, run_tool

KNN_CONFIG = 'configs/demo/conmim_demo_knn.py'


@pytest.fixture(scope='module')
def regions(tmp_path_factory):
    """13 classes x 1 crop per split: an odd count, so a 2-rank sampler
    pads with a duplicate the gather must drop."""
    root = str(tmp_path_factory.mktemp('regions'))
    build_photo_regions(root, per_class=1)
    return root


def train_args(work_dir, regions, pretrain_dir):
    return [
        KNN_CONFIG, '--work-dir', work_dir, '--cfg-options',
        'train_cfg.max_iters=2', 'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0',
        f'train_dataloader.dataset.data_root={pretrain_dir}',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=2',
        f'custom_hooks.1.train_data={regions}/train',
        f'custom_hooks.1.val_data={regions}/val',
        'custom_hooks.1.interval=1', 'custom_hooks.1.batch_size=4'
    ]


def read_knn_scalars(work_dir):
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(files) == 1, files
    records = [json.loads(line) for line in open(files[0])]
    return {r['step']: r for r in records if 'knn/top1' in r}


@pytest.fixture(scope='module')
def knn_run(regions, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('knn_run'))
    proc = run_tool(['tools/train.py'] + train_args(
        work_dir, regions, osp.join(regions, 'train')))
    return work_dir, proc.stdout + proc.stderr


def test_hook_logs_knn_in_a_two_iteration_run(knn_run):
    work_dir, output = knn_run
    scalars = read_knn_scalars(work_dir)
    assert sorted(scalars) == [0, 1, 2]  # eval_before_train + every iter
    for record in scalars.values():
        assert 0 <= record['knn/top1'] <= record['knn/top5'] <= 100
    # in the text log too, with the network and the protocol
    lines = re.findall(r'KNNEvalHook @ iter (\d+) \((\w+),.*knn/top1: '
                       r'([\d.]+)', output)
    assert [(int(i), s) for i, s, _ in lines] == [
        (0, 'student'), (1, 'teacher'), (2, 'teacher')]
    assert float(lines[-1][2]) == pytest.approx(scalars[2]['knn/top1'],
                                                abs=0.01)
    assert '13 train / 13 val images, 13 classes, 64 px' in output


def test_offline_tool_agrees_with_the_hook(knn_run, regions):
    work_dir, _ = knn_run
    out = osp.join(work_dir, 'knn.json')
    run_tool([
        'tools/analysis_tools/knn_eval.py', 'configs/demo/conmim_demo.py',
        osp.join(work_dir, 'iter_2.pth'), '--data', regions,
        '--num-workers', '0', '--out-json', out
    ])
    offline = json.load(open(out))
    assert offline['source'] == 'teacher'
    hook = read_knn_scalars(work_dir)[2]
    assert offline['top1'] == pytest.approx(hook['knn/top1'], abs=1e-4)
    assert offline['top5'] == pytest.approx(hook['knn/top5'], abs=1e-4)


def test_hook_gathers_features_across_two_processes(knn_run, regions,
                                                    tmp_path):
    work_dir = str(tmp_path / 'ddp')
    args = train_args(work_dir, regions, osp.join(regions, 'train'))
    run_tool(['bash', 'tools/dist_train.sh', args[0], '2'] + args[1:],
             env={'PORT': free_port()})
    ddp = read_knn_scalars(work_dir)
    assert sorted(ddp) == [0, 1, 2]
    # 13 images on 2 ranks: 7 + 7 with one padded duplicate. The gathered
    # kNN must equal a single-process evaluation of the same weights.
    out = str(tmp_path / 'knn.json')
    run_tool([
        'tools/analysis_tools/knn_eval.py', 'configs/demo/conmim_demo.py',
        osp.join(work_dir, 'iter_2.pth'), '--data', regions,
        '--num-workers', '0', '--out-json', out
    ])
    offline = json.load(open(out))
    assert offline['num_train'] == offline['num_val'] == 13
    assert ddp[2]['knn/top1'] == pytest.approx(offline['top1'], abs=1e-4)
    assert ddp[2]['knn/top5'] == pytest.approx(offline['top5'], abs=1e-4)
    # rank 0 keeps seed 0 and DDP broadcasts its weights: the random
    # initialisation is the single-process run's
    single = read_knn_scalars(knn_run[0])
    assert ddp[0]['knn/top1'] == pytest.approx(single[0]['knn/top1'],
                                               abs=1e-4)


class Recorder:

    def __init__(self):
        self.calls = []

    def add_scalars(self, scalars, step):
        self.calls.append((step, dict(scalars)))


def fake_runner(model, iteration=0, max_iters=10):
    return SimpleNamespace(
        model=model, iter=iteration, max_iters=max_iters,
        logger=MMLogger.get_instance('test_monitor_hook'),
        visualizer=Recorder(),
        message_hub=MessageHub.get_instance('test_monitor_hook'))


def test_disabled_hook_builds_and_runs_nothing(monkeypatch):
    from mmconmim.engine.hooks import KNNEvalHook, knn_eval_hook
    built = []
    monkeypatch.setattr(knn_eval_hook, 'build_knn_loaders',
                        lambda *args: built.append(args))
    for hook in (KNNEvalHook(enable=False), KNNEvalHook(interval=0),
                 KNNEvalHook(train_data='/no/such', val_data='/no/such',
                             enable=False)):
        runner = SimpleNamespace()  # any attribute access would fail
        hook.before_train(runner)
        hook.after_train_iter(runner, 0)
        assert built == []  # no data loader was built


def test_hook_config_errors(tmp_path):
    from mmconmim.engine.hooks import KNNEvalHook
    with pytest.raises(ValueError, match='train_data and val_data'):
        KNNEvalHook(interval=10)
    with pytest.raises(ValueError, match='source'):
        KNNEvalHook('a', 'b', source='ema')
    with pytest.raises(ValueError, match='interval'):
        KNNEvalHook('a', 'b', interval=-1)
    empty = tmp_path / 'empty'
    (empty / 'cls').mkdir(parents=True)
    hook = KNNEvalHook(str(empty), str(empty), interval=1)
    from tests.fixtures.a2mim_tiny import tiny_a2mim, tiny_resnet
    model = tiny_a2mim(tiny_resnet(), in_channels=64, encoder_stride=32)
    with pytest.raises(RuntimeError, match='no labelled images'):
        hook.evaluate(fake_runner(model), 1)
    with pytest.raises(ValueError, match='no momentum teacher'):
        KNNEvalHook(str(empty), str(empty), source='teacher').before_train(
            fake_runner(model))


def write_class_folders(root, num_classes=3, per_class=3, size=32):
    gen = torch.Generator().manual_seed(0)
    for c in range(num_classes):
        folder = root / f'class_{c}'
        folder.mkdir(parents=True)
        for i in range(per_class):
            colour = 160 * torch.rand(3, generator=gen)
            colour[c] += 40.  # a weak class tint on random colours
            img = (colour[:, None, None] + 60 * torch.rand(
                3, size, size, generator=gen)).clamp(0, 255)
            Image.fromarray(img.permute(1, 2, 0).byte().numpy()).save(
                folder / f'{i}.png')
    return str(root)


def test_hook_on_a2mim_matches_hand_extracted_features(tmp_path):
    """A CNN backbone (student, no teacher): the logged accuracy equals the
    kNN of features extracted here with the backbone and global average
    pooling, image by image."""
    from tests.fixtures.a2mim_tiny import tiny_a2mim, tiny_resnet

    from mmconmim.engine.hooks import KNNEvalHook
    from mmconmim.evaluation.features import eval_pipeline
    from mmconmim.evaluation.knn import knn_classify
    train = write_class_folders(tmp_path / 'train')
    val = write_class_folders(tmp_path / 'val')
    model = tiny_a2mim(tiny_resnet(), in_channels=64, encoder_stride=32)
    model.train()
    hook = KNNEvalHook(train, val, interval=5, k=3, img_size=32,
                       batch_size=2, num_workers=0)
    runner = fake_runner(model, iteration=4)
    hook.before_train(runner)
    hook.after_train_iter(runner, 4)  # iteration 5: evaluate
    assert model.training and model.backbone.training  # mode restored
    (step, scalars), = runner.visualizer.calls
    assert step == 5

    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose(eval_pipeline(32))
    model.eval()
    feats = {}
    for split, root in (('train', train), ('val', val)):
        rows, labels = [], []
        for c in range(3):
            for i in range(3):
                data = pipeline(dict(img_path=f'{root}/class_{c}/{i}.png'))
                x = data['inputs'][[2, 1, 0]].float()[None]  # BGR -> RGB
                x = (x - 127.5) / 64.
                with torch.no_grad():
                    fmap = model.backbone(x, mask=None)[-1]
                rows.append(F.adaptive_avg_pool2d(fmap, 1).flatten(1))
                labels.append(c)
        feats[split] = (torch.cat(rows), torch.tensor(labels))
    expected = knn_classify(*feats['train'], *feats['val'], num_classes=3,
                            k=3)
    assert 0 < expected['top1'] < 100  # informative, not saturated
    assert scalars['knn/top1'] == pytest.approx(expected['top1'])
    assert scalars['knn/top5'] == pytest.approx(expected['top5'])
    assert runner.message_hub.get_scalar('knn/top1').current() == \
        pytest.approx(expected['top1'])


# ------------------------------------------------------------ collapse alarm
class StubLoop:
    stop_training = False


class ListHandler(logging.Handler):

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


def alarm_runner(work_dir):
    runner = fake_runner(None)
    runner.work_dir = str(work_dir)
    runner.train_loop = StubLoop()
    runner.logger = logging.getLogger(f'test_collapse_alarm_{id(runner)}')
    runner.logger.propagate = False
    runner.logger.handlers = [ListHandler()]
    return runner


def logged(runner):
    return [r for r in runner.logger.handlers[0].records
            if r.levelno == logging.WARNING]


def feed(hook, runner, series):
    """Scripted kNN top-1 values at steps 0, 100, 200, ...; returns the
    steps at which the alarm fired."""
    return [step for step, top1 in zip(range(0, 100 * len(series), 100),
                                       series)
            if hook.check_collapse(runner, step, top1)]


def alarm_warnings(runner):
    return [r for r in logged(runner) if 'COLLAPSE ALARM' in r.getMessage()]


def test_collapse_alarm_fires_once_on_a_falling_knn(tmp_path):
    from mmconmim.engine.hooks import KNNEvalHook
    hook = KNNEvalHook('a', 'b', interval=100)  # default margin: 5 points
    runner = alarm_runner(tmp_path)
    for step in (100, 200, 300):
        (tmp_path / f'iter_{step}.pth').write_bytes(b'')
    # 47.6 at 0 (the 32-px run), within 5 points until 200
    fired = feed(hook, runner, [47.6, 46.5, 43.0, 38.0, 18.9, 20.4])
    assert fired == [300]  # once, at the first value below 42.6
    assert hook.reference == (0, 47.6) and hook.last_good_step == 200
    warning, = alarm_warnings(runner)
    text = warning.getMessage()
    assert '38.00 is 9.60 points below its value at iteration 0' in text
    assert "negatives='batch'" in text  # names the likely cause and fix
    # the checkpoint of iteration 300 is not "good": 200 is
    assert text.endswith(f'{tmp_path}/iter_200.pth (iteration 200)')
    assert runner.train_loop.stop_training is False  # warn only


def test_collapse_alarm_silent_on_a_rising_or_flat_knn(tmp_path):
    from mmconmim.engine.hooks import KNNEvalHook
    runner = alarm_runner(tmp_path)
    hook = KNNEvalHook('a', 'b', interval=100, stop_on_collapse=True)
    assert feed(hook, runner, [45.5, 50.2, 58.0, 61.3, 64.0]) == []
    # a dip of exactly the margin is not a collapse
    hook = KNNEvalHook('a', 'b', interval=100, stop_on_collapse=True)
    assert feed(hook, runner, [50.0, 45.0, 47.0, 45.0]) == []
    assert alarm_warnings(runner) == []
    assert runner.train_loop.stop_training is False
    # collapse_drop=None disables the alarm
    hook = KNNEvalHook('a', 'b', interval=100, collapse_drop=None)
    assert feed(hook, runner, [60.0, 10.0]) == []


def test_stop_on_collapse_stops_and_names_the_last_good_checkpoint(
        tmp_path):
    from mmconmim.engine.hooks import KNNEvalHook
    hook = KNNEvalHook('a', 'b', interval=100, collapse_drop=2.,
                       stop_on_collapse=True)
    runner = alarm_runner(tmp_path)
    # no checkpoint saved yet at the alarm: the message says so
    assert feed(hook, runner, [60.0, 59.0, 57.5]) == [200]
    assert runner.train_loop.stop_training is True
    text = ' '.join(w.getMessage() for w in logged(runner))
    assert 'none saved at or before iteration 100' in text
    assert 'stop_on_collapse=True: training stops after iteration 200' in text


def test_collapse_alarm_config_errors():
    from mmconmim.engine.hooks import KNNEvalHook
    with pytest.raises(ValueError, match='collapse_drop'):
        KNNEvalHook('a', 'b', collapse_drop=-1)
    with pytest.raises(ValueError, match='stop_on_collapse=True needs'):
        KNNEvalHook('a', 'b', collapse_drop=None, stop_on_collapse=True)
