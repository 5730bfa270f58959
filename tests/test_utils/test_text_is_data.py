"""A checkpoint's text is data: no route runs Python from a file without the
opt-in, every file goes through the one gated reader, converters share one
output guard and one writer (issue 23, cases 1-7).

Each test reproduces one case of the issue; on the code before the fix each
of them fails (the payload runs, the input is overwritten, the raw upstream
error or a traceback comes out, the file is 0600, ...).
"""
import ast
import importlib.util
import os
import os.path as osp
import runpy
import stat
import sys

import pytest
import torch

import mmconmim  # noqa: F401
from tests.fixtures.helpers import REPO_ROOT

TRUST = 'MMCONMIM_TRUST_CHECKPOINTS'
CONVERTERS = {
    'export_backbone': 'tools/model_converters/export_backbone.py',
    'conmim_official': 'tools/model_converters/conmim_official_to_mmconmim.py',
    'dalle': 'tools/model_converters/dalle_to_mmconmim.py',
    'timm': 'tools/model_converters/mmconmim_to_timm.py',
}


def load_tool(relpath):
    name = osp.splitext(osp.basename(relpath))[0]
    spec = importlib.util.spec_from_file_location(
        f'tool_{name}', osp.join(REPO_ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_main(relpath, *args):
    """Run a tool's ``__main__`` in-process; returns its SystemExit."""
    argv = sys.argv
    sys.argv = [relpath, *map(str, args)]
    try:
        runpy.run_path(osp.join(REPO_ROOT, relpath), run_name='__main__')
    except SystemExit as exc:
        return exc
    finally:
        sys.argv = argv
    return None


def payload_text(marker, body):
    """Config text whose first line creates ``marker`` when executed (the
    issue's payload)."""
    return f"open({str(marker)!r}, 'a').write('ran')\n{body}"


@pytest.fixture
def untrusted(monkeypatch):
    monkeypatch.delenv(TRUST, raising=False)


# ---------------------------------------------------------------- case 1
def test_cim_corruption_reads_the_objective_without_running_the_text(
        tmp_path, untrusted):
    tool = load_tool('tools/visualization/vis_cim_corruption.py')
    marker = tmp_path / 'PWNED'
    meta = {'cfg': payload_text(
        marker, "model = dict(type='CIM', objective='revdet')\n")}
    assert tool.trained_objective(meta) == 'revdet'
    assert not marker.exists(), 'the stored config text was executed'
    # an objective that is not a literal is unknown, not evaluated
    assert tool.trained_objective(
        {'cfg': "model = dict(objective=''.join(['rev', 'det']))"}) is None


# ---------------------------------------------------------------- case 2
def vit_export_without_tables(tmp_path, config_text):
    from mmpretrain.models.backbones import BEiTViT
    backbone = BEiTViT(
        arch=dict(embed_dims=48, num_layers=2, num_heads=3,
                  feedforward_channels=96),
        img_size=16, patch_size=8, use_abs_pos_emb=True,
        use_rel_pos_bias=False, use_shared_rel_pos_bias=False)
    path = str(tmp_path / 'export.pth')
    torch.save(dict(state_dict={'backbone.' + k: v for k, v in
                                backbone.state_dict().items()},
                    meta=dict(source='student', config=config_text)), path)
    return path


def test_timm_converter_reads_num_heads_without_running_the_text(
        tmp_path, untrusted):
    tool = load_tool(CONVERTERS['timm'])
    marker = tmp_path / 'PWNED'
    export = vit_export_without_tables(tmp_path, payload_text(
        marker, 'model = dict(backbone=dict(type="BEiTViT", arch=dict('
        'embed_dims=48, num_layers=2, num_heads=3)))\n'))
    out = str(tmp_path / 'timm.pth')
    assert run_main(CONVERTERS['timm'], export, out) is None
    assert not marker.exists(), 'the export\'s config text was executed'
    assert tool._heads_from_config(
        'model = dict(backbone=dict(arch="base"))') == 12  # arch zoo name
    # a num_heads that only code could compute is not guessed
    export = vit_export_without_tables(tmp_path, payload_text(
        marker, 'model = dict(backbone=dict(arch=dict(num_heads=1 + 2)))'))
    exit_ = run_main(CONVERTERS['timm'], export, out, '--force')
    assert '--num-heads' in str(exit_) and not marker.exists()


# ---------------------------------------------------------------- case 3
@pytest.mark.parametrize('tool', sorted(CONVERTERS))
def test_no_converter_writes_over_its_input(tmp_path, tool):
    folder = tmp_path / 'in'
    folder.mkdir()
    src = folder / 'src.pth'
    torch.save({'state_dict': {'backbone.w': torch.ones(2)}}, str(src))
    before = src.read_bytes()
    os.symlink(src, tmp_path / 'symlink.pth')
    os.link(src, tmp_path / 'hardlink.pth')
    for out in (src, folder / '..' / 'in' / 'src.pth',
                tmp_path / 'symlink.pth', tmp_path / 'hardlink.pth'):
        exit_ = run_main(CONVERTERS[tool], src, out, '--force')
        assert exit_ is not None and 'over the input' in str(exit_), out
        assert str(exit_).startswith('error: ')
        assert src.read_bytes() == before, f'{tool} overwrote its input'


# ---------------------------------------------------------------- case 4
NOT_CHECKPOINTS = {
    'empty': b'',
    'text': b'epoch 1: loss 0.53\n',
    'html': b'<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n',
    'lfs': (b'version https://git-lfs.github.com/spec/v1\noid sha256:'
            b'4d7a2146\nsize 345678901\n'),
}


@pytest.mark.parametrize('kind', sorted(NOT_CHECKPOINTS))
def test_dalle_reader_and_features_file_use_the_gated_reader(
        tmp_path, kind, monkeypatch):
    from mmconmim.checkpoint import NotACheckpointError
    from mmconmim.models.tokenizers.dalle_checkpoint import \
        read_dalle_checkpoint
    path = tmp_path / f'{kind}.pkl'
    path.write_bytes(NOT_CHECKPOINTS[kind])
    for trust in ('', '1'):  # trusting changes nothing for a non-checkpoint
        monkeypatch.setenv(TRUST, trust)
        with pytest.raises(NotACheckpointError, match='not a checkpoint'):
            read_dalle_checkpoint(str(path))
    monkeypatch.delenv(TRUST)
    exit_ = run_main('tools/analysis_tools/linear_probe.py', '--features',
                     path)
    assert str(exit_).startswith('error: ') and 'not a checkpoint' in str(
        exit_), exit_
    exit_ = run_main(CONVERTERS['dalle'], path, tmp_path / 'out.pth')
    assert str(exit_).startswith('error: ') and 'not a checkpoint' in str(
        exit_), exit_


def test_cim_tokenizer_checkpoints_use_the_gated_reader(tmp_path, untrusted):
    from mmpretrain.registry import MODELS

    from mmconmim.checkpoint import NotACheckpointError
    from tests.fixtures.cim_tiny import tiny_dalle_tokenizer_cfg
    empty = str(tmp_path / 'encoder.pth')
    open(empty, 'wb').close()
    tokenizer = MODELS.build(tiny_dalle_tokenizer_cfg(
        encoder_checkpoint=empty, decoder_checkpoint=empty))
    with pytest.raises(NotACheckpointError, match='empty'):
        tokenizer.init_weights()


def test_dalle_reader_honours_the_trust_opt_in(tmp_path, monkeypatch):
    import argparse

    from mmconmim.checkpoint import UnsafeCheckpointError
    from mmconmim.models.tokenizers.dalle_checkpoint import \
        read_dalle_checkpoint
    from tests.fixtures.cim_tiny import write_official_pickles
    files = write_official_pickles(str(tmp_path))
    path = str(tmp_path / 'with_namespace.pth')
    torch.save({'state_dict': files['encoder_state'],
                'args': argparse.Namespace(lr=1)}, path)
    monkeypatch.delenv(TRUST, raising=False)
    with pytest.raises(UnsafeCheckpointError,
                       match=f'argparse.Namespace.*{TRUST}'):
        read_dalle_checkpoint(path)
    monkeypatch.setenv(TRUST, '1')
    with pytest.warns(UserWarning, match=TRUST):
        kind, state = read_dalle_checkpoint(path)
    assert kind == 'encoder' and torch.equal(
        state['blocks.input.w'], files['encoder_state']['blocks.input.w'])


def test_torchscript_archive_gets_a_clear_error(tmp_path, untrusted):
    from mmengine.runner import CheckpointLoader

    from mmconmim.checkpoint import NotACheckpointError
    path = str(tmp_path / 'scripted.pt')
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(NotACheckpointError,
                       match='TorchScript archive.*torch.jit.load'):
        CheckpointLoader.load_checkpoint(path, map_location='cpu')


def test_http_404_names_the_url(tmp_path, monkeypatch, untrusted):
    import functools
    import http.server
    import threading

    from mmengine.runner import CheckpointLoader
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    for var in ('NO_PROXY', 'no_proxy'):
        monkeypatch.setenv(var, '127.0.0.1,localhost')

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=httpd.serve_forever,
                              kwargs=dict(poll_interval=0.05), daemon=True)
    thread.start()
    url = f'http://127.0.0.1:{httpd.server_address[1]}/missing.pth'
    try:
        with pytest.raises(OSError) as err:
            CheckpointLoader.load_checkpoint(url, map_location='cpu')
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
    assert url in str(err.value) and '404' in str(err.value)


# ---------------------------------------------------------------- case 5
def test_converter_outputs_honour_the_umask(tmp_path):
    export = vit_export_without_tables(tmp_path, '')
    old = os.umask(0o027)
    try:
        for name in ('out.safetensors', 'out.pth'):
            out = tmp_path / name
            assert run_main(CONVERTERS['timm'], export, out,
                            '--num-heads', 3) is None
            assert stat.S_IMODE(out.stat().st_mode) == 0o640, name
        out = tmp_path / 'exported_again.pth'
        assert run_main(CONVERTERS['export_backbone'], export, out) is None
        assert stat.S_IMODE(out.stat().st_mode) == 0o640
    finally:
        os.umask(old)
    assert [p.name for p in tmp_path.iterdir() if 'tmp' in p.name] == []


# ---------------------------------------------------------------- case 6
def write_bad_images(folder, count=3):
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        with open(osp.join(folder, f'bad{i}.png'), 'wb') as f:
            f.write(b'this is not an image %d' % i)


def test_skip_counts_files_not_events(tmp_path):
    from mmconmim.datasets.transforms import RobustLoadImageFromFile
    write_bad_images(str(tmp_path))
    transform = RobustLoadImageFromFile(on_error='skip')
    for _ in range(3):  # mmengine's refetch draws the same files again
        for i in range(3):
            assert transform(dict(img_path=str(tmp_path / f'bad{i}.png'))) \
                is None
    assert transform.num_skipped == 3


def test_a_folder_without_readable_images_fails_early_and_clearly(tmp_path):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS

    from mmconmim.datasets.transforms.loading import UnreadableImageError
    init_default_scope('mmpretrain')
    write_bad_images(str(tmp_path / 'imgs'))
    dataset = DATASETS.build(dict(
        type='CustomDataset', data_root=str(tmp_path / 'imgs'),
        with_label=False,
        pipeline=[dict(type='RobustLoadImageFromFile', on_error='skip')]))
    with pytest.raises(UnreadableImageError,
                       match='no readable image.*data_root') as err:
        dataset[0]
    assert '3 different file' in str(err.value)


def test_skip_summary_goes_to_the_run_log(tmp_path):
    from mmengine.logging import MMLogger

    from mmconmim.datasets.transforms import RobustLoadImageFromFile
    write_bad_images(str(tmp_path), count=2)
    log_file = str(tmp_path / 'run.log')
    logger = MMLogger.get_instance('text_is_data_run', log_file=log_file)
    transform = RobustLoadImageFromFile(on_error='skip')
    for i in (0, 1, 0):
        transform(dict(img_path=str(tmp_path / f'bad{i}.png')))
    transform._summary()  # what runs at exit
    for handler in logger.handlers:
        handler.flush()
    text = open(log_file).read()
    assert 'skipped 2 unreadable image file' in text, text
    assert text.count('skipping unreadable image') == 2  # once per file


# ---------------------------------------------------------------- case 7
def test_load_backbone_takes_the_name_its_messages_use(tmp_path):
    import inspect
    import warnings

    from mmconmim.apis import load_backbone
    export = vit_export_without_tables(tmp_path, '')
    cfg = dict(type='BEiTViT', arch=dict(embed_dims=48, num_layers=2,
                                         num_heads=3,
                                         feedforward_channels=96),
               img_size=16, patch_size=8, use_abs_pos_emb=True,
               use_rel_pos_bias=False, use_shared_rel_pos_bias=False)
    assert 'source' in inspect.signature(load_backbone).parameters
    with pytest.raises(KeyError, match='source=') as err:
        load_backbone(export, cfg, source='teacher')
    assert 'network=' not in str(err.value)
    with warnings.catch_warnings():
        warnings.simplefilter('error', DeprecationWarning)
        assert load_backbone(export, cfg, source='student').network == \
            'student'
    with pytest.warns(DeprecationWarning, match='use source='):
        load_backbone(export, cfg, network='student')


def test_non_image_message_has_no_object_repr(tmp_path):
    from mmconmim.datasets.transforms import RobustLoadImageFromFile
    from mmconmim.datasets.transforms.loading import UnreadableImageError
    write_bad_images(str(tmp_path), count=1)
    with pytest.raises(UnreadableImageError) as err:
        RobustLoadImageFromFile()(dict(img_path=str(tmp_path / 'bad0.png')))
    message = str(err.value)
    assert 'bad0.png' in message and 'not an image' in message
    assert 'object at 0x' not in message and 'BytesIO' not in message


@pytest.mark.parametrize('tool', sorted(CONVERTERS))
def test_converters_refuse_with_one_error_line(tmp_path, tool):
    src = tmp_path / 'page.pth'
    src.write_bytes(NOT_CHECKPOINTS['html'])
    exit_ = run_main(CONVERTERS[tool], src, tmp_path / 'out.pth')
    assert isinstance(exit_, SystemExit), exit_
    message = str(exit_)
    assert message.startswith('error: ') and '\n' not in message
    assert 'not a checkpoint' in message


def test_export_backbone_says_urls_are_not_taken(tmp_path):
    exit_ = run_main(CONVERTERS['export_backbone'],
                     'https://example.invalid/iter_10.pth',
                     tmp_path / 'out.pth')
    assert str(exit_).startswith('error: ')
    assert 'URLs are not taken here' in str(exit_)


# ---------------------------------------------------- the tree-wide rule
SCANNED = ('mmconmim', 'tools', 'benchmarks')
#: (file, function) -> why the call there is allowed
ALLOWED = {
    ('mmconmim/checkpoint/config_text.py', 'trusted_config'):
        'Config.fromstring of a stored config, only when '
        'MMCONMIM_TRUST_CHECKPOINTS is set (raises UntrustedTextError '
        'before parsing otherwise)',
    ('mmconmim/checkpoint/gate.py', '_restricted_load'):
        'torch.load through a restricted unpickler that resolves only '
        'listed globals (no code from the file runs)',
    ('mmconmim/checkpoint/gate.py', 'safe_torch_load'):
        'the gate itself: weights_only=True with the allow-list',
    ('mmconmim/checkpoint/gate.py', '_trust_or_refuse'):
        'full unpickling only when MMCONMIM_TRUST_CHECKPOINTS is set '
        '(UnsafeCheckpointError otherwise)',
    ('benchmarks/gpu_check.py', 'check_fsdp'):
        "reads the iter_N.pth that the check's own training run wrote "
        'seconds before into its private work dir',
    ('benchmarks/gpu_check_distbn.py', 'compare_distbn'):
        "reads the rank*.pt files the check's own worker processes wrote "
        '(weights_only by default)',
}
#: calls that run text or pickles from a file
EXECUTES = {'eval', 'exec', 'compile', 'fromstring'}
READS = {('torch', 'load'), ('jit', 'load'), ('pickle', 'load'),
         ('pickle', 'loads')}


def _call_name(func):
    """(owner, name) of a call: (None, 'eval') for the builtin, ('Config',
    'fromstring') for ``Config.fromstring``, ('<expr>', 'eval') for
    ``model.train().eval()``."""
    if isinstance(func, ast.Name):
        return None, func.id
    if isinstance(func, ast.Attribute):
        owner = func.value
        if isinstance(owner, ast.Name):
            return owner.id, func.attr
        if isinstance(owner, ast.Attribute):
            return owner.attr, func.attr
        return '<expr>', func.attr
    return None, None


def _written_paths(function) -> set:
    """Source text of the paths the function writes text to (``open(p,
    'w')``, ``p.write_text``) -- a ``Config.fromfile`` of one of them parses
    text the function extracted."""
    written = set()
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        owner, name = _call_name(node.func)
        if owner is None and name == 'open' and len(node.args) >= 2 and \
                isinstance(node.args[1], ast.Constant) and \
                set(str(node.args[1].value)) & set('wax'):
            written.add(ast.unparse(node.args[0]))
        elif name == 'write_text' and isinstance(node.func, ast.Attribute):
            written.add(ast.unparse(node.func.value))
    return written


def code_execution_sites(source: str):
    """(function, line, call) of every call in ``source`` that runs text or
    a pickle from a file: eval/exec/compile/*.fromstring, torch/jit/pickle
    load, and Config.fromfile of a file the function wrote text to."""
    tree = ast.parse(source)
    sites = []
    functions = [n for n in ast.walk(tree)
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    owner_of = {}
    for function in functions:  # innermost function wins (walked later)
        for node in ast.walk(function):
            owner_of[id(node)] = function
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        owner, name = _call_name(node.func)
        function = owner_of.get(id(node))
        where = function.name if function is not None else '<module>'
        if (owner is None and name in ('eval', 'exec', 'compile')) or \
                name == 'fromstring' or (owner, name) in READS:
            sites.append((where, node.lineno, f'{owner}.{name}'))
        elif name == 'fromfile' and function is not None and node.args and (
                ast.unparse(node.args[0]) in _written_paths(function)
                or ast.unparse(node.args[0]).endswith('.name')):
            # text written to a (temporary) file, then parsed as a config
            sites.append((where, node.lineno, f'{owner}.{name}'))
    return sites


def test_the_scanner_finds_what_the_issue_describes():
    found = code_execution_sites(
        'from mmengine.config import Config\n'
        'def a(meta):\n    return Config.fromstring(meta["cfg"], ".py")\n'
        'def b(text):\n    eval(text)\n'
        'def c(text, path):\n    open(path, "w").write(text)\n'
        '    return Config.fromfile(path)\n'
        'def d(path):\n    return torch.load(path, weights_only=False)\n'
        'def e(path):\n    return Config.fromfile(path)\n'
        'def f(model):\n    return model.eval()\n'
        'def g(m):\n    return m.train().eval()\n'
        'def h(text):\n    with tempfile.NamedTemporaryFile("w") as f:\n'
        '        f.write(text)\n        return Config.fromfile(f.name)\n')
    assert [(f, call) for f, _, call in found] == [
        ('a', 'Config.fromstring'), ('b', 'None.eval'),
        ('c', 'Config.fromfile'), ('d', 'torch.load'),
        ('h', 'Config.fromfile')]


def test_no_text_or_pickle_from_a_file_runs_outside_gated_sites():
    offenders, used = [], set()
    for top in SCANNED:
        for folder, _, files in os.walk(osp.join(REPO_ROOT, top)):
            for name in sorted(files):
                if not name.endswith('.py'):
                    continue
                path = osp.join(folder, name)
                rel = osp.relpath(path, REPO_ROOT).replace(os.sep, '/')
                with open(path, encoding='utf-8') as f:
                    sites = code_execution_sites(f.read())
                for function, line, call in sites:
                    if (rel, function) in ALLOWED:
                        used.add((rel, function))
                    else:
                        offenders.append(f'{rel}:{line} {function}: {call}')
    assert offenders == [], (
        'text or pickles from files must go through mmconmim.checkpoint '
        '(config_field / load_file), or be added to ALLOWED with the reason '
        f'they are gated: {offenders}')
    assert used == set(ALLOWED), f'stale allow-list entries: ' \
        f'{set(ALLOWED) - used}'
