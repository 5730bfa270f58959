"""The learning-signal benchmark (minimal run), its image collection and the
linear probe."""
import json
import os
import os.path as osp
import re

import pytest
import torch
from PIL import Image

from benchmarks.photo_regions import build_photo_regions
from tests.fixtures.helpers import run_tool


def test_learning_signal_minimal_run(tmp_path):
    work_dir = str(tmp_path / 'ls')
    proc = run_tool([
        'benchmarks/learning_signal.py', '--work-dir', work_dir, '--iters',
        '2', '--per-class', '2', '--seeds', '1', '--batch-size', '4',
        '--num-workers', '0', '--knn-interval', '1'
    ])
    random_row = re.search(r'\| random init \(mean of 1 seeds\) \| ([\d.]+) '
                           r'\|', proc.stdout)
    pretrained_row = re.search(r'\| ConMIM pre-trained \(teacher\) \| '
                               r'([\d.]+) \|', proc.stdout)
    assert random_row and pretrained_row, proc.stdout
    for row in (random_row, pretrained_row):
        assert 0 <= float(row.group(1)) <= 100
    assert 'pre-training wall time' in proc.stdout
    result = json.load(open(osp.join(work_dir, 'learning_signal.json')))
    assert result['iterations'] == 2
    for key in ('random_init', 'pretrained'):
        assert 0 <= result[key]['knn_top1'] <= 100
    assert result['random_init']['knn_top1'] == pytest.approx(
        float(random_row.group(1)), abs=0.01)
    # the hook ran during pre-training, and the curves were plotted
    with Image.open(osp.join(work_dir, 'curves.png')) as img:
        assert img.size == (1200, 400)


def test_photo_regions_are_deterministic_and_disjoint(tmp_path):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    counts = build_photo_regions(a, per_class=3, size=32)
    build_photo_regions(b, per_class=3, size=32)
    assert counts == {'train': 39, 'val': 39}
    classes = sorted(os.listdir(osp.join(a, 'train')))
    assert len(classes) == 13 and classes == sorted(
        os.listdir(osp.join(a, 'val')))
    with Image.open(osp.join(a, 'val', classes[0], '000.jpg')) as img:
        assert img.size == (32, 32) and img.mode == 'RGB'
    for name in ('train', 'val'):
        for cls in classes:
            for f in os.listdir(osp.join(a, name, cls)):
                with open(osp.join(a, name, cls, f), 'rb') as fa, \
                        open(osp.join(b, name, cls, f), 'rb') as fb:
                    assert fa.read() == fb.read()
    assert 'CC0' in open(osp.join(a, 'README.txt')).read()
    # a rebuild with fewer crops leaves no stale files behind
    build_photo_regions(a, per_class=1, size=32)
    assert len(os.listdir(osp.join(a, 'train', classes[0]))) == 1
    with pytest.raises(FileNotFoundError):
        build_photo_regions(str(tmp_path / 'c'), source=str(tmp_path / 'x'))


def test_linear_probe_learns_separable_data_and_not_noise():
    from mmconmim.evaluation.linear_probe import linear_probe
    gen = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(4, 16, generator=gen)
    labels = torch.arange(200) % 4
    feats = centres[labels] + torch.randn(200, 16, generator=gen) + 50.
    metrics = linear_probe(feats[:100], labels[:100], feats[100:],
                           labels[100:])
    assert metrics['top1'] >= 95 and metrics['train_top1'] == 100
    # labels unrelated to the features: fits the train set, chance on val
    noise = torch.randn(200, 16, generator=gen)
    random_labels = torch.randint(0, 4, (200, ), generator=gen)
    metrics = linear_probe(noise[:100], random_labels[:100], noise[100:],
                           random_labels[100:], weight_decay=1e-6)
    assert metrics['train_top1'] > 50
    assert metrics['top1'] < 45
