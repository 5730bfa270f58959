"""configs/conmim/metafile.yml lists every ConMIM config (so that
``list_models`` and ``mim search`` see them) with the paper's ImageNet
numbers, and the method README's table names every config."""
import glob
import os.path as osp

import pytest
import yaml

from tests.fixtures.helpers import REPO_ROOT

METAFILE = osp.join(REPO_ROOT, 'configs/conmim/metafile.yml')
README = osp.join(REPO_ROOT, 'configs/conmim/README.md')
CONFIGS = sorted(
    osp.relpath(path, REPO_ROOT) for path in glob.glob(
        osp.join(REPO_ROOT, 'configs/conmim/**/*.py'), recursive=True))

# The paper's Tables 1-3 (ImageNet-1K top-1 after fine-tuning; 384 px = the
# dagger rows), written out here independently of the metafile.
PAPER = {
    'conmim_vit-small-p16_32xb64-amp-coslr-300e_in1k': (82.0, 83.9),
    'conmim_vit-base-p16_32xb64-amp-coslr-300e_in1k': (83.5, None),
    'conmim_vit-base-p16_32xb64-amp-coslr-800e_in1k': (83.7, 85.3),
    'conmim_vit-large-p16_32xb64-amp-coslr-400e_in1k': (84.6, None),
    'conmim_vit-large-p16_32xb64-amp-coslr-800e_in1k': (85.2, 86.3),
    'conmim_vit-large-p16_32xb64-amp-coslr-1600e_in1k': (85.5, 86.5),
    'conmim_vit-large-p16_fsdp-32xb64-amp-coslr-800e_in1k': (85.2, 86.3),
}


@pytest.fixture(scope='module')
def models():
    with open(METAFILE) as f:
        meta = yaml.safe_load(f)
    return {model['Name']: model for model in meta['Models']}


def test_every_conmim_config_is_in_the_metafile(models):
    assert len(CONFIGS) >= 23
    listed = {model['Config'] for model in models.values()}
    missing = [c for c in CONFIGS if c not in listed]
    assert not missing, f'add these to configs/conmim/metafile.yml: {missing}'


def test_entries_point_at_existing_configs_by_their_names(models):
    for name, model in models.items():
        assert osp.isfile(osp.join(REPO_ROOT, model['Config'])), name
        assert osp.basename(model['Config']) == name + '.py'
        assert model['In Collection'] == 'ConMIM'
        for downstream in model.get('Downstream', []):
            assert downstream in models, (name, downstream)


def test_the_paper_numbers_stand_next_to_the_recipes(models):
    for name, (at_224, at_384) in PAPER.items():
        metrics = models[name]['Results'][0]['Metrics']
        assert metrics['Top 1 Accuracy (paper, 224 px)'] == at_224, name
        assert metrics.get('Top 1 Accuracy (paper, 384 px)') == at_384, name
    # every number in the file is marked as the paper's: nothing of ours
    # was measured at ImageNet scale
    for name, model in models.items():
        for result in model['Results'] or []:
            for metric in result['Metrics']:
                assert '(paper' in metric, (name, metric)


def test_the_readme_table_names_every_config():
    with open(README) as f:
        readme = f.read()
    for config in CONFIGS:
        assert osp.basename(config) in readme, config
