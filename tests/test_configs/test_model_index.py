"""The model index (issue 27): one metafile format for every folder, every
config listed once, every listed config builds, each entry says whose
number it shows, and mmpretrain's model hub finds the entries.

Format (mmpretrain's metafile layout plus two keys): each model has Name,
In Collection, Metadata, Results, Paper Result, Our Result, Weights,
Config. Metric names end in ``(paper...)`` or ``(ours...)``; "Paper
Result" / "Our Result" name the source of those numbers or say
``none (why)``."""
import glob
import os.path as osp
import re

import pytest
import torch
import yaml

from tests.fixtures.helpers import REPO_ROOT

# Folders under configs/ whose files are not model recipes, with the reason.
NOT_IN_THE_INDEX = {
    # Rows of tools/compare_methods.py: mmconmim/compare/configs.py sets the
    # backbone size, image and patch size, data, batch, lr and schedule of
    # every run (configs/compare/README.md: "not meant to be trained as they
    # are"), so no number belongs to a file as it is; and names such as
    # `mae_vit` would list mmpretrain's MAE/SimMIM/MoCo v3 recipes as
    # mmconmim models in list_models / `mim search`.
    'compare',
}
KEYS = ('Name', 'In Collection', 'Metadata', 'Results', 'Paper Result',
        'Our Result', 'Weights', 'Config')
METRIC = re.compile(r'.* \((paper|ours)(, [^()]+)?\)$')

# Paper numbers written out independently of the metafiles: ConMIM Tables
# 1-3 (224 px; 384 px = the dagger rows), CIM's abstract, A2MIM's README
# table (spec/reference/*_full.md).
PAPER = {
    'conmim_vit-small-p16_32xb64-amp-coslr-300e_in1k': {
        'Top 1 Accuracy (paper, 224 px)': 82.0,
        'Top 1 Accuracy (paper, 384 px)': 83.9
    },
    'conmim_vit-base-p16_32xb64-amp-coslr-300e_in1k': {
        'Top 1 Accuracy (paper, 224 px)': 83.5
    },
    'conmim_vit-base-p16_32xb64-amp-coslr-800e_in1k': {
        'Top 1 Accuracy (paper, 224 px)': 83.7,
        'Top 1 Accuracy (paper, 384 px)': 85.3
    },
    'conmim_vit-large-p16_32xb64-amp-coslr-400e_in1k': {
        'Top 1 Accuracy (paper, 224 px)': 84.6
    },
    'conmim_vit-large-p16_32xb64-amp-coslr-800e_in1k': {
        'Top 1 Accuracy (paper, 224 px)': 85.2,
        'Top 1 Accuracy (paper, 384 px)': 86.3
    },
    'conmim_vit-large-p16_32xb64-amp-coslr-1600e_in1k': {
        'Top 1 Accuracy (paper, 224 px)': 85.5,
        'Top 1 Accuracy (paper, 384 px)': 86.5
    },
    'vit-base-p16_conmim-pre_8xb128-amp-coslr-100e_in1k': {
        'Top 1 Accuracy (paper)': 83.7
    },
    'vit-small-p16_conmim-pre-ft224_8xb64-amp-coslr-10e_in1k-384px': {
        'Top 1 Accuracy (paper)': 83.9
    },
    'cim-respix_vit-base-p16_8xb256-amp-coslr-300e_in1k': {
        'Top 1 Accuracy (paper)': 83.3
    },
    'cim-revdet_resnet50_8xb256-amp-coslr-300e_in1k': {
        'Top 1 Accuracy (paper)': 80.6
    },
    'a2mim_resnet50_8xb256-coslr-300e_in1k': {
        'Top 1 Accuracy (paper)': 80.4
    },
    'a2mim_vit-large-p16_8xb128-accu2-steplr-800e_in1k': {
        'Top 1 Accuracy (paper)': 86.1
    },
}


def folders():
    return sorted(
        osp.basename(osp.dirname(p)) for p in glob.glob(
            osp.join(REPO_ROOT, 'configs', '*', 'metafile.yml')))


def load_models():
    """{name: (metafile folder, entry)} over every metafile."""
    models = {}
    for folder in folders():
        path = osp.join(REPO_ROOT, 'configs', folder, 'metafile.yml')
        for model in yaml.safe_load(open(path))['Models']:
            assert model['Name'] not in models, f'{model["Name"]} twice'
            models[model['Name']] = (folder, model)
    return models


MODELS = load_models()


def collections():
    names = set()
    for folder in folders():
        path = osp.join(REPO_ROOT, 'configs', folder, 'metafile.yml')
        for col in yaml.safe_load(open(path)).get('Collections') or []:
            names.add(col['Name'])
    return names


def configs_on_disk():
    """Every config under configs/, `_base_` folders and the folders of
    NOT_IN_THE_INDEX left out."""
    found = set()
    for path in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'),
                          recursive=True):
        rel = osp.relpath(path, REPO_ROOT)
        parts = rel.split(osp.sep)
        if '_base_' in parts or parts[1] in NOT_IN_THE_INDEX:
            continue
        found.add(rel)
    return found


def test_every_config_is_in_a_metafile():
    listed = [model['Config'] for _, model in MODELS.values()]
    assert len(listed) == len(set(listed)), 'a config is listed twice'
    missing = configs_on_disk() - set(listed)
    assert not missing, f'add to a configs/*/metafile.yml: {sorted(missing)}'
    assert len(listed) >= 80
    # the excluded folders exist and hold configs (otherwise drop the rule)
    for folder in NOT_IN_THE_INDEX:
        assert glob.glob(osp.join(REPO_ROOT, 'configs', folder, '*.py'))


def test_the_model_index_imports_every_metafile():
    index = yaml.safe_load(open(osp.join(REPO_ROOT, 'model-index.yml')))
    assert sorted(index['Import']) == sorted(f'configs/{folder}/metafile.yml'
                                             for folder in folders())
    # every metafile of a configs folder has a README next to it
    for folder in folders():
        assert osp.isfile(osp.join(REPO_ROOT, 'configs', folder, 'README.md'))


def test_entries_have_one_format():
    known = collections()
    for name, (folder, model) in MODELS.items():
        assert tuple(k for k in KEYS if k in model) == KEYS, name
        assert set(model) <= set(KEYS) | {'Downstream'}, name
        assert osp.splitext(osp.basename(model['Config']))[0] == name
        assert osp.isfile(osp.join(REPO_ROOT, model['Config'])), name
        assert model['In Collection'] in known, name
        assert model['Weights'] is None, name  # nothing released
        for downstream in model.get('Downstream', []):
            assert downstream in MODELS, (name, downstream)


@pytest.mark.parametrize('name', sorted(MODELS))
def test_results_say_whose_number_it_is(name):
    """A "(paper...)" metric has its source in Paper Result, an "(ours...)"
    metric in Our Result; where there is none of a kind, the key says
    none (why). So the paper's number stands next to ours (or next to the
    reason there is none)."""
    model = MODELS[name][1]
    kinds = set()
    for result in model['Results'] or []:
        assert result['Task'] and result['Dataset'], name
        for metric, value in result['Metrics'].items():
            match = METRIC.match(metric)
            assert match, (name, metric)
            assert isinstance(value, float), (name, metric)
            kinds.add(match.group(1))
    for kind, key in (('paper', 'Paper Result'), ('ours', 'Our Result')):
        source = model[key]
        assert isinstance(source, str) and source, (name, key)
        if kind in kinds:
            assert not source.startswith('none'), (name, key)
        else:
            assert re.fullmatch(r'none \(.+\)', source), (name, key)


def test_the_paper_numbers_are_the_papers():
    for name, metrics in PAPER.items():
        got = {}
        for result in MODELS[name][1]['Results']:
            got.update(result['Metrics'])
        assert got == metrics, name


def test_our_numbers_are_in_the_documents_they_cite():
    measured = 0
    for name, (_, model) in MODELS.items():
        if model['Our Result'].startswith('none'):
            continue
        docs = re.findall(r'[\w/.-]+\.md', model['Our Result'])
        assert docs, name
        text = ''.join(open(osp.join(REPO_ROOT, d)).read() for d in docs)
        for result in model['Results']:
            for metric, value in result['Metrics'].items():
                if '(ours' in metric:
                    assert f'| {value:.1f} ' in text or \
                        f' {value:.1f} |' in text, (name, metric, value)
                    measured += 1
    assert measured >= 6  # the transfer demo table


def test_each_readme_table_names_every_config_of_its_folder():
    """configs/<folder>/README.md has the table of paper number, config and
    whether we measured it, one row per config of the folder's metafile."""
    for folder in folders():
        lines = open(osp.join(REPO_ROOT, 'configs', folder,
                              'README.md')).read().splitlines()
        rows = [line for line in lines if line.startswith('|')]
        assert any('paper' in row and 'measured' in row for row in rows), \
            f'configs/{folder}/README.md: no table header with the ' \
            'paper number and "measured"'
        for name, (where, model) in MODELS.items():
            if where == folder:
                base = osp.basename(model['Config'])
                assert any(base in row for row in rows), (folder, name)


def test_the_model_hub_lists_them():
    from mmpretrain.apis import list_models

    import mmconmim  # noqa: F401  (registers model-index.yml)
    hub = set(list_models())
    assert {name.lower() for name in MODELS} <= hub


# ------------------------------------------------------------ builds
def build_model(config):
    """Build the model of a config in its own scope. On the meta device
    (no memory, no init) where the constructor allows it; constructors that
    read a tensor value (.item(): ResNet/ConvNeXt drop-path rates, CIM's
    sampler) are built on the CPU."""
    import mmdet.registry
    import mmpretrain.registry
    import mmseg.registry
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmengine.registry import DefaultScope

    import mmconmim  # noqa: F401
    registries = {
        'mmpretrain': mmpretrain.registry.MODELS,
        'mmseg': mmseg.registry.MODELS,
        'mmdet': mmdet.registry.MODELS
    }
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    scope = cfg.get('default_scope', 'mmpretrain')
    model_cfg = cfg.model.copy()
    if 'data_preprocessor' in cfg and 'data_preprocessor' not in model_cfg:
        model_cfg['data_preprocessor'] = cfg.data_preprocessor  # as Runner
    MessageHub.get_current_instance().update_info('max_iters', 10)
    with DefaultScope.overwrite_default_scope(scope):
        try:
            with torch.device('meta'):
                return registries[scope].build(model_cfg)
        except RuntimeError as error:
            if 'meta' not in str(error):
                raise
            return registries[scope].build(model_cfg)


@pytest.mark.parametrize(
    'config', sorted(model['Config'] for _, model in MODELS.values()))
def test_every_listed_config_builds(config):
    model = build_model(config)
    assert sum(p.numel() for p in model.parameters()) > 0
