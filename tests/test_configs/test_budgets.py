"""docs/budgets.md (issue 27): every 1-GPU / 8-GPU variant in its tables
keeps the effective batch of the recipe config, and every A2MIM/CIM
ImageNet config has a row. The effective batch of a recipe is read from the
config (GPUs from its name x per-GPU batch x accumulation) and must equal
the 'Batch Size' of its metafile entry."""
import copy
import glob
import os.path as osp
import re

import pytest
import yaml
from mmengine.config import Config

from tests.fixtures.helpers import REPO_ROOT

DOC = osp.join(REPO_ROOT, 'docs/budgets.md')
ROW = re.compile(r'^\| `(?P<config>[^`]+)` \| (?P<batch>\d+) = '
                 r'(?P<recipe>[^|]+)\| (?P<b8>\d+) x (?P<k8>\d+) \| '
                 r'(?P<b1>\d+) x (?P<k1>\d+) \|$')


def doc_rows():
    rows = {}
    for line in open(DOC):
        match = ROW.match(line.strip())
        if match:
            rows[match['config']] = match.groupdict()
    return rows


def metafile_batch(config):
    folder = config.split('/')[0]
    meta = yaml.safe_load(open(osp.join(REPO_ROOT, 'configs', folder,
                                        'metafile.yml')))
    for model in meta['Models']:
        if model['Config'] == f'configs/{config}':
            return model['Metadata']['Batch Size']
    raise AssertionError(f'{config} not in its metafile')


def recipe_batch(cfg, name):
    gpus = int(re.search(r'_(\d+)xb\d+', name).group(1))
    per_gpu = cfg.train_dataloader.batch_size
    assert f'_{gpus}xb{per_gpu}' in name, name
    return gpus * per_gpu * cfg.optim_wrapper.get('accumulative_counts', 1)


# A method joins by being listed (its section in docs/budgets.md uses the
# same table rows).
FOLDERS = ('a2mim', 'cim')


@pytest.mark.parametrize('folder', FOLDERS)
def test_every_imagenet_config_has_a_row(folder):
    expected = {
        osp.relpath(p, osp.join(REPO_ROOT, 'configs'))
        for p in glob.glob(osp.join(REPO_ROOT, 'configs', folder, '*.py')) +
        glob.glob(osp.join(REPO_ROOT, 'configs', folder, 'benchmarks',
                           '*_in1k.py'))
    }
    assert {row for row in doc_rows()
            if row.startswith(f'{folder}/')} == expected


@pytest.mark.parametrize('config', sorted(doc_rows()))
def test_variants_keep_the_effective_batch_and_the_lr(config):
    row = doc_rows()[config]
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    batch = recipe_batch(cfg, osp.basename(config))
    assert batch == int(row['batch']) == metafile_batch(config)
    lr = cfg.optim_wrapper.optimizer.lr
    for gpus in (8, 1):
        per_gpu, accumulate = int(row[f'b{gpus}']), int(row[f'k{gpus}'])
        variant = copy.deepcopy(cfg)
        variant.merge_from_dict({
            'train_dataloader.batch_size': per_gpu,
            'optim_wrapper.accumulative_counts': accumulate
        })
        assert gpus * variant.train_dataloader.batch_size * \
            variant.optim_wrapper.accumulative_counts == batch
        assert variant.optim_wrapper.optimizer.lr == lr
        # the memory of one paper GPU is enough
        assert per_gpu <= cfg.train_dataloader.batch_size
        # auto-scaling stays off (it would ignore the accumulation)
        assert not variant.get('auto_scale_lr', {}).get('enable', False)
