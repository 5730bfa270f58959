"""OpenMMLab-native use (issue 13 sections 1-2): the ``mmconmim`` registry
scope, our model index in mmpretrain's ModelHub, and a regular and an
editable install driven with mim (issue 26 item 6). Everything user-facing
runs from a temporary directory outside the repository."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch
import yaml

from tests.fixtures.helpers import REPO_ROOT, run_tool, tool_env

DEMO = osp.join(REPO_ROOT, 'configs/demo/conmim_demo.py')
DEMO_IMAGES = osp.join(REPO_ROOT, 'data/demo/images')
TINY_RUN = [
    'train_cfg.max_iters=2', 'train_dataloader.batch_size=4',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    f'train_dataloader.dataset.data_root={DEMO_IMAGES}',
    'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1'
]


def index_models():
    """name -> config path of every model in model-index.yml, read with
    plain YAML (independently of modelindex / ModelHub)."""
    index = yaml.safe_load(open(osp.join(REPO_ROOT, 'model-index.yml')))
    models = {}
    for metafile in index['Import']:
        meta = yaml.safe_load(open(osp.join(REPO_ROOT, metafile)))
        for model in meta['Models']:
            models[model['Name']] = model['Config']
    return models


# ------------------------------------------------------------- registry
def test_scope_nodes_are_children_of_mmpretrains():
    import mmpretrain.registry as upstream

    import mmconmim.registry as ours
    names = [n for n in upstream.__all__ if n.isupper()]
    assert len(names) >= 20
    for name in names:
        node, parent = getattr(ours, name), getattr(upstream, name)
        assert node.scope == 'mmconmim' and node.parent is parent, name
        assert parent.children['mmconmim'] is node, name
        # every registration is visible to mmpretrain-scoped configs too
        for key, obj in node.module_dict.items():
            assert parent.module_dict[key] is obj, (name, key)
    assert ours.MODELS.get('ConMIM').__name__ == 'ConMIM'
    assert ours.TRANSFORMS.get('UnitMaskGenerator') is not None
    assert ours.HOOKS.get('SafeCheckpointHook') is not None


def test_default_scope_mmconmim_builds_upstream_types():
    """Before the child nodes: KeyError on SelfSupDataPreprocessor."""
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmengine.registry import DefaultScope

    from mmconmim.registry import MODELS, VISUALIZERS
    cfg = Config.fromfile(DEMO)
    model_cfg = cfg.model.copy()
    model_cfg['data_preprocessor'] = cfg.data_preprocessor
    MessageHub.get_current_instance().update_info('max_iters', 10)
    with DefaultScope.overwrite_default_scope('mmconmim'):
        model = MODELS.build(model_cfg)
        assert type(model.data_preprocessor).__name__ == \
            'SelfSupDataPreprocessor'
        assert VISUALIZERS.get('UniversalVisualizer') is not None
        # the scope prefix resolves too, to the same class
        assert MODELS.get('mmconmim.ConMIM') is type(model)


def test_a_run_with_default_scope_mmconmim(tmp_path):
    work = str(tmp_path / 'work')
    run_tool([
        osp.join(REPO_ROOT, 'tools/train.py'), DEMO, '--work-dir', work,
        '--cfg-options', 'default_scope=mmconmim', *TINY_RUN
    ], cwd=str(tmp_path))
    assert osp.isfile(osp.join(work, 'iter_2.pth'))


def test_mmconmim_prefix_resolves_from_every_scope():
    import mmdet.registry
    import mmseg.registry
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import HOOKS as PRETRAIN_HOOKS

    import mmconmim
    from mmconmim.registry import HOOKS, MODELS
    pyramid = MODELS.get('SimpleFeaturePyramid')
    hook = HOOKS.get('SafeCheckpointHook')
    for scope, models, hooks in (
            ('mmseg', mmseg.registry.MODELS, mmseg.registry.HOOKS),
            ('mmdet', mmdet.registry.MODELS, mmdet.registry.HOOKS),
            ('mmpretrain', MODELS.parent, PRETRAIN_HOOKS)):
        with DefaultScope.overwrite_default_scope(scope):
            assert models.get('mmconmim.SimpleFeaturePyramid') is pyramid
            assert hooks.get('mmconmim.SafeCheckpointHook') is hook
            built = hooks.build(dict(type='mmconmim.NonFiniteLossHook'))
            assert type(built).__name__ == 'NonFiniteLossHook'
            with pytest.raises((KeyError, RuntimeError)):
                hooks.build(dict(type='mmconmim.NoSuchHook'))
    assert mmconmim.SimpleFeaturePyramid is pyramid
    with pytest.raises(AttributeError, match='NoSuchThing'):
        mmconmim.NoSuchThing


# ------------------------------------------------------------ model hub
def test_model_index_lists_existing_configs():
    models = index_models()
    assert {'conmim_demo', 'conmim_demo_features', 'a2mim_demo',
            'cim_demo'} <= set(models)
    for name, config in models.items():
        assert osp.isfile(osp.join(REPO_ROOT, config)), (name, config)
        assert osp.splitext(osp.basename(config))[0] == name
    for algo in ('conmim', 'a2mim', 'cim'):
        readme = open(osp.join(REPO_ROOT, 'configs', algo, 'README.md')).read()
        assert '(paper)' in readme and 'not measured' in readme


@pytest.fixture(scope='module')
def demo_checkpoint(tmp_path_factory):
    """A 2-iteration demo run (teacher updated twice) and its default
    export (the teacher)."""
    root = tmp_path_factory.mktemp('hub')
    work = str(root / 'work')
    run_tool([osp.join(REPO_ROOT, 'tools/train.py'), DEMO, '--work-dir',
              work, '--cfg-options', *TINY_RUN], cwd=str(root))
    ckpt = osp.join(work, 'iter_2.pth')
    export = str(root / 'teacher.pth')
    run_tool([osp.join(REPO_ROOT, 'tools/model_converters/export_backbone.py'),
              ckpt, export], cwd=str(root))
    return dict(root=root, ckpt=ckpt, export=export)


def test_model_hub_lists_and_builds_our_configs(demo_checkpoint, tmp_path,
                                                 monkeypatch):
    from mmpretrain.apis import FeatureExtractor, get_model, list_models

    from mmconmim.apis import load_backbone
    monkeypatch.chdir(tmp_path)  # outside the repository
    ours = set(index_models())
    assert set(list_models('*conmim*')) == {n for n in ours if 'conmim' in n}
    everything = list_models()  # mmpretrain's own index still registers
    assert ours <= set(everything) and len(everything) > len(ours) + 100

    model = get_model('conmim_demo', pretrained=demo_checkpoint['ckpt'])
    teacher = load_backbone(demo_checkpoint['export'], DEMO)
    assert teacher.network == 'teacher'
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(model.extract_feat(x)[-1],
                              teacher(x)[-1], atol=1e-6)

    extractor = FeatureExtractor('conmim_demo_features',
                                 pretrained=demo_checkpoint['ckpt'],
                                 device='cpu')
    image = osp.join(DEMO_IMAGES, 'astronaut.jpg')
    feats = extractor(image)[0][-1]  # (1 + 64 tokens, C)
    # the same crop through our evaluation transform (short edge 73,
    # centre 64) and the model's data preprocessor, into the export
    from mmengine.dataset import Compose, default_collate

    from mmconmim.evaluation.features import eval_pipeline, mmpretrain_scope
    with mmpretrain_scope():
        pipeline = Compose(eval_pipeline(64))
    batch = default_collate([pipeline(dict(img_path=image))])
    with torch.no_grad():
        crops = model.data_preprocessor(batch, False)['inputs']
        want = teacher(crops)[-1][0]
    assert feats.shape == want.shape == (65, 128)
    assert torch.allclose(feats, want, atol=1e-5)


# ------------------------------------------------------------------ mim
def copy_source(src):
    """The files a source distribution holds, without build products."""
    for name in ('mmconmim', 'configs', 'tools'):
        shutil.copytree(osp.join(REPO_ROOT, name), src / name,
                        ignore=shutil.ignore_patterns('__pycache__', '.mim'))
    for name in ('setup.py', 'setup.cfg', 'MANIFEST.in', 'README.md',
                 'model-index.yml'):
        shutil.copy(osp.join(REPO_ROOT, name), src / name)


def pip_install_target(root, *args):
    """``pip install ARGS --target root/site``, then a working directory and
    an environment that see that target first (PYTHONPATH), so that the
    shared environment's own install is left alone."""
    target = root / 'site'
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--no-deps',
         '--no-build-isolation', '--no-index', '--target', str(target),
         *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    cwd = root / 'elsewhere'
    cwd.mkdir()
    env = tool_env({'PYTHONPATH': str(target)})
    return dict(target=str(target), cwd=str(cwd), env=env)


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """``pip install .`` (not editable) of a copy of the source tree."""
    root = tmp_path_factory.mktemp('install')
    copy_source(root / 'src')
    return pip_install_target(root, str(root / 'src'))


def mim(installed, *args, check=True):
    proc = subprocess.run(
        [sys.executable, '-m', 'mim', *args], cwd=installed['cwd'],
        env=installed['env'], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 or not check, (
        f'mim {" ".join(args)} failed:\n{proc.stdout[-4000:]}\n'
        f'{proc.stderr[-4000:]}')
    return proc.stdout + proc.stderr


def test_install_ships_configs_tools_and_index(installed):
    mim_dir = osp.join(installed['target'], 'mmconmim', '.mim')
    for path in ('model-index.yml', 'configs/demo/conmim_demo.py',
                 'configs/conmim/metafile.yml', 'tools/train.py',
                 'tools/model_converters/export_backbone.py'):
        assert osp.isfile(osp.join(mim_dir, path)), path
    # the installed package (not the source tree) is the one imported, and
    # its model index is found under .mim
    out = subprocess.run(
        [sys.executable, '-c',
         'import json, mmconmim\n'
         'from mmconmim.apis.model_index import model_index_location\n'
         'from mmpretrain.apis import list_models\n'
         'print(json.dumps([mmconmim.__file__, model_index_location(), '
         "list_models('conmim_demo')]))"],
        cwd=installed['cwd'], env=installed['env'], capture_output=True,
        text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    last_line = out.stdout.strip().splitlines()[-1]
    file, (index, root), found = json.loads(last_line)
    assert file.startswith(installed['target'])
    assert index == osp.join(mim_dir, 'model-index.yml') and root == mim_dir
    # list_models matches 'conmim_demo*': the index's demo entries
    assert sorted(found) == sorted(
        n for n in index_models() if n.startswith('conmim_demo'))
    assert {'conmim_demo', 'conmim_demo_features'} <= set(found)


def test_mim_search_train_and_run(installed):
    out = mim(installed, 'search', 'mmconmim')
    for name in ('conmim_demo', 'a2mim_demo', 'cim_demo',
                 'conmim_vit-base-p16_32xb64-amp-coslr-800e_in1k'):
        assert name in out, name
    work = osp.join(installed['cwd'], 'work')
    mim(installed, 'train', 'mmconmim', 'configs/demo/conmim_demo.py',
        '--work-dir', work, '--cfg-options', *TINY_RUN)
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)
    export = osp.join(installed['cwd'], 'teacher.pth')
    out = mim(installed, 'run', 'mmconmim', 'export_backbone', ckpt, export)
    assert 'exported the teacher backbone' in out
    meta = torch.load(export, weights_only=True)['meta']
    assert meta['source'] == 'teacher' and meta['iteration'] == 2


# ------------------------------------------------- mim, editable install
def load_setup_py():
    """Our setup.py as a module (``setup()`` only runs as __main__)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'mmconmim_setup', osp.join(REPO_ROOT, 'setup.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mim_files_are_copied_or_linked(tmp_path):
    setup_py = load_setup_py()
    src = tmp_path / 'src'
    (src / 'configs' / 'x').mkdir(parents=True)
    (src / 'configs' / 'x' / 'a.py').write_text('a = 1\n')
    (src / 'tools').mkdir()
    (src / 'tools' / 'train.py').write_text('# train\n')
    (src / 'model-index.yml').write_text('Import: []\n')
    copies, links = tmp_path / 'copies', tmp_path / 'pkg' / '.mim'
    setup_py.add_mim_files(str(src), str(copies), 'copy')
    setup_py.add_mim_files(str(src), str(links), 'symlink')
    setup_py.add_mim_files(str(src), str(links), 'symlink')  # idempotent
    for name in ('configs', 'tools', 'model-index.yml'):
        assert not osp.islink(copies / name)
        assert osp.islink(links / name)
        # relative links: the tree can move as a whole
        assert not osp.isabs(os.readlink(links / name))
        assert osp.realpath(links / name) == osp.realpath(src / name)
    (src / 'configs' / 'x' / 'a.py').write_text('a = 2\n')
    assert (links / 'configs' / 'x' / 'a.py').read_text() == 'a = 2\n'
    assert (copies / 'configs' / 'x' / 'a.py').read_text() == 'a = 1\n'
    with pytest.raises(ValueError, match="'copy' or 'symlink'"):
        setup_py.add_mim_files(str(src), str(copies), 'hardlink')


def test_mim_link_refuses_a_regular_install(tmp_path):
    setup_py = load_setup_py()
    site = tmp_path / 'site'
    (site / 'mmconmim').mkdir(parents=True)
    with pytest.raises(FileExistsError, match='regular install'):
        setup_py.mim_link(str(site), source_root=REPO_ROOT)
    with pytest.raises(RuntimeError, match='no editable install of'):
        setup_py.editable_site_dir(str(tmp_path))


@pytest.fixture(scope='module')
def editable(tmp_path_factory):
    """``pip install -e`` (PEP 660, as pip >= 25.3 always does) of a copy
    of the source tree into a target directory."""
    root = tmp_path_factory.mktemp('editable')
    src = root / 'src'
    copy_source(src)
    installed = pip_install_target(root, '-e', str(src))
    installed['src'] = str(src)
    return installed


def test_mim_search_and_train_with_an_editable_install(editable):
    """The issue's symptom (model-index.yml not found next to
    site-packages/mmconmim), then `python tools/misc/mim_link.py`, after which
    mim searches, trains and imports the source tree itself."""
    src, site = editable['src'], editable['target']
    # the editable build links .mim into the source package
    assert osp.islink(osp.join(src, 'mmconmim', '.mim', 'configs'))
    out = mim(editable, 'search', 'mmconmim', check=False)
    assert 'model-index.yml' in out and 'not found' in out

    def link(*args):
        proc = subprocess.run(
            [sys.executable, 'tools/misc/mim_link.py', *args], cwd=src,
            env=editable['env'], capture_output=True, text=True,
            timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    link()
    linked = osp.join(site, 'mmconmim')
    assert osp.islink(linked)
    assert osp.realpath(linked) == osp.realpath(osp.join(src, 'mmconmim'))
    out = mim(editable, 'search', 'mmconmim')
    for name in ('conmim_demo', 'cim_demo',
                 'mask-rcnn_vit-base-p16_conmim-pre_vitdet-simplefpn_8xb8-'
                 '100e_coco-1024'):
        assert name in out, name
    work = osp.join(editable['cwd'], 'work')
    mim(editable, 'train', 'mmconmim', 'configs/demo/conmim_demo.py',
        '--work-dir', work, '--cfg-options', *TINY_RUN)
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    # an edit of the source tree is what runs: editable semantics kept
    probe = osp.join(src, 'mmconmim', 'editable_probe.py')
    with open(probe, 'w') as f:
        f.write('VALUE = 7\n')
    proc = subprocess.run(
        [sys.executable, '-c',
         'from mmconmim.editable_probe import VALUE; print(VALUE)'],
        cwd=editable['cwd'], env=editable['env'], capture_output=True,
        text=True, timeout=300)
    assert proc.stdout.strip().splitlines()[-1] == '7', proc.stderr[-2000:]

    link('--remove')
    assert not osp.lexists(linked)
    assert not osp.lexists(osp.join(src, 'mmconmim', '.mim'))
    assert osp.isfile(osp.join(src, 'mmconmim', '__init__.py'))
