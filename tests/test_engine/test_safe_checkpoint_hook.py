"""SafeCheckpointHook: files honour the umask, the hook behaves like
mmengine's CheckpointHook in a normal run, and partial files left by a killed
save are removed at the next start (issue 12, sections 3 and 4)."""
import logging
import os
import os.path as osp
import stat

import pytest
import torch
from mmengine.config import Config

import mmconmim  # noqa: F401
from tests.fixtures.helpers import REPO_ROOT, isolated_experiment
from mmconmim.engine.hooks import SafeCheckpointHook, atomic_write
from mmconmim.engine.hooks.checkpoint_hook import temp_name

DEMO = osp.join(REPO_ROOT, 'configs/demo/conmim_demo.py')
DEMO_IMAGES = osp.join(REPO_ROOT, 'data/demo/images')

RUN_CFG = '''
_base_ = '{base}'
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root='{data}'))
train_cfg = dict(max_iters={iters})
param_scheduler = []
randomness = dict(seed=0)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(_delete_=True, type='{hook}', by_epoch=False, interval=1,
                    max_keep_ckpts={keep}))
log_processor = dict(by_epoch=False, window_size=1)
'''


def build_runner(root, hook='SafeCheckpointHook', iters=2, keep=2):
    from mmengine.runner import Runner
    os.makedirs(root, exist_ok=True)
    path = osp.join(root, 'cfg.py')
    with open(path, 'w') as f:
        f.write(RUN_CFG.format(base=DEMO, data=DEMO_IMAGES, hook=hook,
                               iters=iters, keep=keep))
    cfg = Config.fromfile(path)
    cfg.work_dir = osp.join(root, 'work')
    return Runner.from_cfg(isolated_experiment(cfg))


@pytest.fixture
def umask():
    """Set a umask for one test; the previous one is restored after."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


def file_modes(root):
    modes = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = osp.join(folder, name)
            modes[osp.relpath(path, root)] = stat.S_IMODE(os.stat(path).st_mode)
    return modes


@pytest.mark.parametrize('mask,expected', [(0o022, 0o644), (0o027, 0o640)])
def test_files_of_a_training_run_honour_the_umask(tmp_path, umask, mask,
                                                  expected):
    umask(mask)
    import mmengine
    runner = build_runner(str(tmp_path))
    runner.train()
    # what tools/test.py writes as test_metrics.json (mmengine's backend)
    mmengine.dump({'accuracy': 1.0},
                  osp.join(runner.log_dir, 'test_metrics.json'))
    modes = file_modes(runner.work_dir)
    names = {osp.basename(p) for p in modes}
    # checkpoints, pointer, text log, json scalars, dumped config
    assert {'iter_1.pth', 'iter_2.pth', 'last_checkpoint',
            'scalars.json', 'test_metrics.json', 'cfg.py'} <= names, names
    assert any(n.endswith('.log') for n in names), names
    wrong = {p: oct(m) for p, m in modes.items() if m != expected}
    assert not wrong, f'expected {oct(expected)}: {wrong}'


def test_atomic_write_gives_the_mode_of_a_plain_write(tmp_path, umask):
    umask(0o027)
    atomic_write('hello', str(tmp_path / 'atomic.txt'))
    with open(tmp_path / 'plain.txt', 'w') as f:
        f.write('hello')
    assert stat.S_IMODE(os.stat(tmp_path / 'atomic.txt').st_mode) == \
        stat.S_IMODE(os.stat(tmp_path / 'plain.txt').st_mode) == 0o640
    assert (tmp_path / 'atomic.txt').read_text() == 'hello'
    assert sorted(os.listdir(tmp_path)) == ['atomic.txt', 'plain.txt']


def test_safe_hook_writes_what_upstream_checkpoint_hook_writes(tmp_path):
    """Same files, pointer, retention bookkeeping and weights as mmengine's
    CheckpointHook in an uninterrupted run (3 saves, keep 2)."""
    runs = {}
    for hook in ('CheckpointHook', 'SafeCheckpointHook'):
        runner = build_runner(str(tmp_path / hook), hook=hook, iters=3)
        runner.train()
        work = runner.work_dir
        files = sorted(n for n in os.listdir(work)
                       if n.endswith('.pth') or n == 'last_checkpoint'
                       or n.startswith('.'))
        pointer = open(osp.join(work, 'last_checkpoint')).read()
        info = runner.message_hub.runtime_info
        runs[hook] = dict(
            files=files, pointer=osp.relpath(pointer, work),
            keep=info['keep_ckpt_ids'],
            last=osp.relpath(info['last_ckpt'], work),
            ckpt=torch.load(osp.join(work, 'iter_3.pth'), weights_only=False))
    up, ours = runs['CheckpointHook'], runs['SafeCheckpointHook']
    assert up['files'] == ours['files'] == ['iter_2.pth', 'iter_3.pth',
                                            'last_checkpoint']
    assert up['pointer'] == ours['pointer'] == 'iter_3.pth'
    assert up['keep'] == ours['keep'] == [2, 3]
    assert up['last'] == ours['last'] == 'iter_3.pth'
    assert sorted(up['ckpt']) == sorted(ours['ckpt'])
    assert up['ckpt']['meta']['iter'] == ours['ckpt']['meta']['iter'] == 3
    for key, value in up['ckpt']['state_dict'].items():
        torch.testing.assert_close(ours['ckpt']['state_dict'][key], value,
                                   rtol=0, atol=0, msg=key)


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_partial_files_of_a_killed_save_are_removed_at_start(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    stale = [temp_name('iter_4.pth'),       # what the hook writes
             '.iter_12.pth.x7_k2mq9a',      # older mkstemp-style token
             '.epoch_3.pth.0a1b2c3d4e5f',
             temp_name('last_checkpoint')]
    kept = ['iter_4.pth', '.iter_4.pth', '.hidden_notes', '.iter_x.pth.abc',
            'iter_4.pth.abc', '.iter_4.pth.bak-1']
    for name in stale + kept:
        (work / name).write_bytes(b'partial')
    runner = build_runner(str(tmp_path))
    hook = next(h for h in runner.hooks if isinstance(h, SafeCheckpointHook))
    handler = ListHandler()
    runner.logger.addHandler(handler)
    try:
        hook.before_run(runner)
    finally:
        runner.logger.removeHandler(handler)
    left = set(os.listdir(work))
    assert not left & set(stale), left
    assert set(kept) <= left
    for name in stale:
        assert sum(name in m and 'interrupted' in m
                   for m in handler.messages) == 1, (name, handler.messages)


def test_two_runs_in_the_same_second_keep_their_own_files(tmp_path,
                                                          monkeypatch):
    """The test runners' experiment names are their own: two runs from a
    ``cfg.py`` stamped with the same second (the clock is frozen here) each
    keep their checkpoints, log and scalars. With mmengine's default name,
    ``cfg_<timestamp>``, the second run shared the first one's message hub,
    and its retention deleted its own iter_1.pth and iter_2.pth."""
    import time
    frozen = time.localtime(time.time())
    monkeypatch.setattr(time, 'localtime', lambda *args: frozen)
    runners = []
    for name in ('a', 'b'):  # one after the other, as in the tests above
        runner = build_runner(str(tmp_path / name))
        runner.train()
        runners.append(runner)
    assert runners[0].timestamp == runners[1].timestamp
    for runner in runners:
        names = set(os.listdir(runner.work_dir))
        assert {'iter_1.pth', 'iter_2.pth', 'last_checkpoint'} <= names
        log_files = set(os.listdir(runner.log_dir))
        assert f'{runner.timestamp}.log' in log_files, log_files
        assert osp.exists(osp.join(runner.log_dir, 'vis_data',
                                   'scalars.json'))
    assert runners[0].experiment_name != runners[1].experiment_name
