"""Model index (issue 27): every config of a method folder is listed in its
metafile.yml (and model-index.yml imports it), each entry with the paper's
number marked as the paper's, and mmpretrain's model hub finds them.

A folder joins the check by being listed in FOLDERS (ConMIM's once its
metafile lists all its configs)."""
import glob
import os.path as osp

import pytest
import yaml

from tests.fixtures.helpers import REPO_ROOT

FOLDERS = ('a2mim', 'cim')


def configs_in(folder):
    """Every config file under configs/<folder>, _base_ folders excluded."""
    paths = glob.glob(osp.join(REPO_ROOT, 'configs', folder, '**', '*.py'),
                      recursive=True)
    return {
        osp.relpath(p, REPO_ROOT)
        for p in paths if '_base_' not in osp.relpath(p, REPO_ROOT).split(
            osp.sep)
    }


def metafile_models(folder):
    path = osp.join(REPO_ROOT, 'configs', folder, 'metafile.yml')
    return yaml.safe_load(open(path))['Models']


@pytest.mark.parametrize('folder', FOLDERS)
def test_every_config_is_in_the_metafile(folder):
    index = yaml.safe_load(open(osp.join(REPO_ROOT, 'model-index.yml')))
    assert f'configs/{folder}/metafile.yml' in index['Import']
    listed = [m['Config'] for m in metafile_models(folder)]
    assert len(listed) == len(set(listed)), 'a config is listed twice'
    missing = configs_in(folder) - set(listed)
    assert not missing, f'not in configs/{folder}/metafile.yml: ' \
        f'{sorted(missing)}'
    for config in listed:
        assert osp.isfile(osp.join(REPO_ROOT, config)), config


@pytest.mark.parametrize('folder', FOLDERS)
def test_each_entry_says_what_the_paper_reports(folder):
    """A paper number sits in Results under a metric name ending in
    '(paper)' with its source in 'Paper Result'; an entry without one says
    'none (why)'."""
    for model in metafile_models(folder):
        name = model['Name']
        assert osp.splitext(osp.basename(model['Config']))[0] == name
        source = model['Paper Result']
        if model['Results'] is None:
            assert source.startswith('none ('), name
            continue
        assert source and not source.startswith('none'), name
        for result in model['Results']:
            assert result['Task'] and result['Dataset'], name
            for metric, value in result['Metrics'].items():
                assert metric.endswith('(paper)'), (name, metric)
                assert isinstance(value, float), (name, metric)


@pytest.mark.parametrize('folder', FOLDERS)
def test_the_model_hub_lists_them(folder):
    from mmpretrain.apis import list_models

    import mmconmim  # noqa: F401  (registers model-index.yml)
    names = {m['Name'].lower() for m in metafile_models(folder)}
    assert names <= set(list_models())
