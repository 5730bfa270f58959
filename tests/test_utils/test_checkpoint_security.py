"""No checkpoint route runs code from a file without the opt-in, and files
that are not checkpoints get a clear message (issue 12, section 2).

The "attack" is a checkpoint whose pickle calls ``os.mkdir(marker)``; it is
served from a local HTTP server on 127.0.0.1 (or put in the torch hub cache)
and handed to every entry point users take. The marker directory must not
appear unless ``MMCONMIM_TRUST_CHECKPOINTS=1``.
"""
import functools
import http.server
import os
import os.path as osp
import subprocess
import sys
import threading

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import CheckpointLoader

import mmconmim  # noqa: F401
from tests.fixtures.helpers import (REPO_ROOT, isolated_experiment, tool_env,
                                    write_images)
from mmconmim.checkpoint import (TRUST_ENV_VAR, NotACheckpointError,
                                 UnsafeCheckpointError)

DEMO = osp.join(REPO_ROOT, 'configs/demo/conmim_demo.py')
DEMO_IMAGES = osp.join(REPO_ROOT, 'data/demo/images')
REFUSED = 'outside the allow-list'
BROKEN = 'not a checkpoint (truncated or failed download?)'


class MakeMarker:
    """Unpickling this object calls ``os.mkdir(marker)``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker, ))


def write_payload(path, marker, state_dict=None):
    torch.save({'state_dict': state_dict or {'w': torch.ones(2)},
                'meta': {}, 'payload': MakeMarker(marker)}, str(path))
    return str(path)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Own torch hub cache, no trust, no proxy for 127.0.0.1."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.delenv(TRUST_ENV_VAR, raising=False)
    for var in ('NO_PROXY', 'no_proxy'):
        monkeypatch.setenv(var, '127.0.0.1,localhost')
    return tmp_path


@pytest.fixture
def server(isolated):
    """An HTTP server on 127.0.0.1 (ephemeral port) serving ``served/``;
    yields (base_url, served_dir)."""
    served = isolated / 'served'
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=httpd.serve_forever,
                              kwargs=dict(poll_interval=0.05), daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{httpd.server_address[1]}', served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def attack(server, isolated):
    """A payload checkpoint served at ``url``; ``marker`` must not appear."""
    base, served = server
    marker = isolated / 'marker'
    write_payload(served / 'evil.pth', marker)
    return dict(url=f'{base}/evil.pth', marker=marker, tmp=isolated)


def assert_refused(err, marker, name='evil.pth'):
    message = str(err)
    assert not osp.exists(marker), 'the payload ran'
    assert REFUSED in message and 'posix.mkdir' in message, message
    assert name in message and TRUST_ENV_VAR in message, message


RUN_CFG = '''
_base_ = '{base}'
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root='{data}'))
train_cfg = dict(max_iters=2)
param_scheduler = []
'''


def demo_runner(tmp_path, **cfg_fields):
    from mmengine.runner import Runner
    path = tmp_path / 'run_cfg.py'
    path.write_text(RUN_CFG.format(base=DEMO, data=DEMO_IMAGES))
    cfg = Config.fromfile(str(path))
    cfg.work_dir = str(tmp_path / 'work')
    for key, value in cfg_fields.items():
        cfg[key] = value
    return Runner.from_cfg(isolated_experiment(cfg))


# --------------------------------------------------------------------------
# In-process entry points
# --------------------------------------------------------------------------
def test_load_from_url_is_refused(attack):
    runner = demo_runner(attack['tmp'], load_from=attack['url'])
    with pytest.raises(UnsafeCheckpointError) as err:
        runner.load_or_resume()
    assert_refused(err.value, attack['marker'])
    assert attack['url'] in str(err.value)


def test_resume_from_a_url_in_last_checkpoint_is_refused(attack):
    work = attack['tmp'] / 'work'
    work.mkdir()
    (work / 'last_checkpoint').write_text(attack['url'])
    runner = demo_runner(attack['tmp'], resume=True)
    with pytest.raises(UnsafeCheckpointError) as err:
        runner.load_or_resume()
    assert_refused(err.value, attack['marker'])


def test_init_cfg_pretrained_url_is_refused(attack):
    from tests.fixtures.conmim_tiny import tiny_conmim_cfg
    from mmpretrain.registry import MODELS
    cfg = tiny_conmim_cfg()
    cfg['backbone']['init_cfg'] = dict(type='Pretrained',
                                       checkpoint=attack['url'],
                                       prefix='backbone.')
    model = MODELS.build(cfg)
    with pytest.raises(UnsafeCheckpointError) as err:
        model.init_weights()
    assert_refused(err.value, attack['marker'])


def test_a_payload_already_in_the_torch_hub_cache_is_refused(isolated):
    """No server at all: the URL's file is taken from the hub cache."""
    cache = isolated / 'torch_home' / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    marker = isolated / 'marker'
    write_payload(cache / 'cached.pth', marker)
    with pytest.raises(UnsafeCheckpointError) as err:
        CheckpointLoader.load_checkpoint('http://127.0.0.1:9/cached.pth')
    assert_refused(err.value, marker, 'cached.pth')
    assert str(cache / 'cached.pth') in str(err.value)


def _model_zoo_url(scheme):
    from mmengine.runner import checkpoint as ckpt
    table = {'torchvision://': ckpt.get_torchvision_models,
             'mmcls://': ckpt.get_mmcls_models,
             'open-mmlab://': ckpt.get_external_models}[scheme]()
    name, url = next((k, v) for k, v in sorted(table.items())
                     if v.startswith('http'))
    return scheme + name, url


@pytest.mark.parametrize('scheme',
                         ['torchvision://', 'mmcls://', 'open-mmlab://'])
def test_model_zoo_schemes_are_gated(isolated, scheme):
    """These schemes resolve a name to a URL and go through the same
    download/cache path: a payload cached under that URL is refused
    (nothing is downloaded: the file is already in the cache)."""
    name, url = _model_zoo_url(scheme)
    cache = isolated / 'torch_home' / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    marker = isolated / 'marker'
    write_payload(cache / osp.basename(url), marker)
    with pytest.raises(UnsafeCheckpointError) as err:
        CheckpointLoader.load_checkpoint(name)
    assert_refused(err.value, marker, osp.basename(url))


def test_trust_variable_opts_in(attack, monkeypatch):
    base, served = attack['url'].rsplit('/', 1)[0], attack['tmp'] / 'served'
    write_payload(served / 'trusted.pth', attack['marker'],
                  {'backbone.cls_token': torch.full((1, 1, 128), 0.25)})
    runner = demo_runner(attack['tmp'], load_from=f'{base}/trusted.pth')
    monkeypatch.setenv(TRUST_ENV_VAR, '1')
    with pytest.warns(UserWarning, match='outside the allow-list'):
        runner.load_or_resume()
    assert osp.isdir(attack['marker'])  # full unpickling ran the payload
    assert torch.all(runner.model.backbone.cls_token == 0.25)


def test_upstream_http_loader_runs_the_payload(attack):
    """Why the gate exists: mmengine's own http loader (what
    ``load_from=URL`` uses without mmconmim) executes the pickle."""
    from mmengine.runner.checkpoint import load_from_http
    load_from_http(attack['url'], map_location='cpu')
    assert osp.isdir(attack['marker'])


# --------------------------------------------------------------------------
# Tools (subprocesses, as users run them)
# --------------------------------------------------------------------------
CLS_CFG = '''
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmconmim'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='VisionTransformer',
                  arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                            feedforward_channels=64),
                  img_size=32, patch_size=8),
    head=dict(type='LinearClsHead', num_classes=2, in_channels=32,
              loss=dict(type='CrossEntropyLoss')),
    data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=2,
                           mean=[127.5] * 3, std=[64.] * 3))
test_dataloader = dict(
    batch_size=2, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root='{data}',
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='Resize', scale=32),
                           dict(type='PackInputs')]))
test_evaluator = dict(type='Accuracy')
test_cfg = dict()
'''


def run_failing_tool(args):
    env = tool_env({'TORCH_HOME': os.environ['TORCH_HOME'],
                    'NO_PROXY': '127.0.0.1,localhost',
                    'no_proxy': '127.0.0.1,localhost'})
    env.pop(TRUST_ENV_VAR, None)
    proc = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, proc.stdout[-3000:]
    return proc.stdout + proc.stderr


def test_tools_refuse_a_served_payload(attack):
    tmp = attack['tmp']
    for cls in ('a', 'b'):
        write_images(str(tmp / 'cls_data' / cls), num=2, size=40)
    cls_cfg = tmp / 'cls_cfg.py'
    cls_cfg.write_text(CLS_CFG.format(data=tmp / 'cls_data'))
    runs = {
        'tools/test.py': ['tools/test.py', str(cls_cfg), attack['url'],
                          '--work-dir', str(tmp / 'test_work')],
        'knn_eval.py': ['tools/analysis_tools/knn_eval.py',
                        'configs/demo/conmim_demo.py', attack['url'],
                        '--data', str(tmp / 'no_data_needed')],
        'vis_patch_similarity.py': [
            'tools/visualization/vis_patch_similarity.py',
            'configs/demo/conmim_demo.py', attack['url'], '--out',
            str(tmp / 'sim.png'), '--images',
            osp.join(DEMO_IMAGES, 'astronaut.jpg')],
    }
    for tool, args in runs.items():
        output = run_failing_tool(args)
        assert 'UnsafeCheckpointError' in output, (tool, output[-3000:])
        assert REFUSED in output and TRUST_ENV_VAR in output, tool
        assert not osp.exists(attack['marker']), f'{tool} ran the payload'


# --------------------------------------------------------------------------
# Broken files are not attacks
# --------------------------------------------------------------------------
def _checkpoint_bytes(zip_format=True):
    import io
    buffer = io.BytesIO()
    torch.save({'w': torch.arange(1000.)}, buffer,
               _use_new_zipfile_serialization=zip_format)
    return buffer.getvalue()


BROKEN_FILES = {
    'empty': b'',
    'git_lfs_pointer': (
        b'version https://git-lfs.github.com/spec/v1\n'
        b'oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24'
        b'd17e2393\nsize 345678901\n'),
    'html_error_page': (
        b'<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>'
        b'<body><h1>Not Found</h1></body></html>\n'),
    'text': b'epoch 1: loss 0.53\nepoch 2: loss 0.41\n',
    'truncated_zip': None,  # first half of a real checkpoint
    'truncated_legacy_pickle': None,  # same, pre-1.6 format
}


def _broken_bytes(kind):
    data = BROKEN_FILES[kind]
    if data is None:
        whole = _checkpoint_bytes(zip_format=kind == 'truncated_zip')
        data = whole[:len(whole) // 2]
    return data


def assert_broken_message(err, name):
    message = str(err)
    assert BROKEN in message and name in message, message
    assert TRUST_ENV_VAR not in message and 'trust' not in message.lower()


@pytest.mark.parametrize('kind', sorted(BROKEN_FILES))
def test_broken_local_file_is_not_called_an_attack(tmp_path, kind,
                                                   monkeypatch):
    monkeypatch.delenv(TRUST_ENV_VAR, raising=False)
    path = tmp_path / f'{kind}.pth'
    path.write_bytes(_broken_bytes(kind))
    with pytest.raises(NotACheckpointError) as err:
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert_broken_message(err.value, str(path))
    if kind == 'git_lfs_pointer':
        assert 'git lfs pull' in str(err.value)
    # trusting changes nothing for a file that is not a checkpoint
    monkeypatch.setenv(TRUST_ENV_VAR, '1')
    with pytest.raises(NotACheckpointError):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')


def test_other_load_errors_are_not_called_broken_files(tmp_path):
    """Only damage is reported as "not a checkpoint": an error from the
    map_location (e.g. CUDA tensors on a CPU machine) passes through."""
    path = str(tmp_path / 'good.pth')
    torch.save({'w': torch.ones(1)}, path)

    def no_device(storage, location):
        raise RuntimeError('Attempting to deserialize object on a CUDA device')

    with pytest.raises(RuntimeError, match='CUDA device') as err:
        CheckpointLoader.load_checkpoint(path, map_location=no_device)
    assert not isinstance(err.value, NotACheckpointError)


def test_html_page_served_instead_of_a_checkpoint(server):
    base, served = server
    (served / 'model.pth').write_bytes(BROKEN_FILES['html_error_page'])
    with pytest.raises(NotACheckpointError) as err:
        CheckpointLoader.load_checkpoint(f'{base}/model.pth')
    assert_broken_message(err.value, f'{base}/model.pth')
    assert 'delete that file' in str(err.value)  # names the cached copy


def test_a_real_checkpoint_still_loads_through_every_route(server):
    base, served = server
    state = {'w': torch.arange(6.).view(2, 3)}
    torch.save({'state_dict': state}, str(served / 'good.pth'))
    for filename in (str(served / 'good.pth'), f'{base}/good.pth'):
        ckpt = CheckpointLoader.load_checkpoint(filename, map_location='cpu')
        torch.testing.assert_close(ckpt['state_dict']['w'], state['w'])


def test_checkpoint_errors_are_public_in_mmconmim_checkpoint():
    """Users catch both errors from the checkpoint room's public module
    (issue 26 moved them there from mmconmim.utils, which now says where
    they went instead of importing upward)."""
    import mmconmim.checkpoint as checkpoint
    assert checkpoint.NotACheckpointError is NotACheckpointError
    assert 'NotACheckpointError' in checkpoint.__all__
    assert 'UnsafeCheckpointError' in checkpoint.__all__
    with pytest.raises(ImportError,
                       match='import it from mmconmim.checkpoint'):
        from mmconmim.utils import UnsafeCheckpointError  # noqa: F401
