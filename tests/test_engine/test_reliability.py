"""Reliability: exact resume after SIGKILL, crash-safe checkpoints,
distributed consistency and equivalence, non-finite losses, invalid
configuration."""
import glob
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmconmim  # noqa: F401
from tests.fixtures.helpers import (REPO_ROOT, free_port, isolated_experiment,
                                    run_tool, tool_env, write_images)

DEMO = osp.join(REPO_ROOT, 'configs/demo/conmim_demo.py')

RUN_CFG = '''
_base_ = '{base}'
custom_imports = dict(imports=['mmconmim'{extra_imports}],
                      allow_failed_imports=False)
train_dataloader = dict(batch_size={batch}, num_workers={workers},
                        persistent_workers={persistent}, drop_last=False,
                        sampler=dict(type='{sampler}', shuffle=True),
                        dataset=dict(data_root='{data}'))
train_cfg = dict(_delete_=True, {loop})
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=2),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=2,
         end=16)]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False,
                    interval={ckpt_interval}, max_keep_ckpts={keep}))
log_processor = dict(by_epoch=False, window_size=1)
custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='TorchRNGStateHook')]{extra_hooks}
'''


def write_run_config(path, data, batch=8, workers=0, iters=8,
                     ckpt_interval=4, keep=3, sampler='InfiniteSampler',
                     loop=None, extra_imports='', extra_hooks=''):
    loop = loop or f"type='IterBasedTrainLoop', max_iters={iters}"
    text = RUN_CFG.format(
        base=DEMO, data=data, batch=batch, workers=workers,
        persistent=workers > 0, sampler=sampler, loop=loop,
        ckpt_interval=ckpt_interval, keep=keep, extra_imports=extra_imports,
        extra_hooks=extra_hooks)
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def logged_losses(work_dir):
    """iteration -> loss from every run's scalars.json in work_dir."""
    losses = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if 'loss' in record:
                    losses[record['step']] = record['loss']
    return losses


def test_resume_after_sigkill_reproduces_the_uninterrupted_losses(tmp_path):
    data = osp.join(REPO_ROOT, 'data/demo/images')
    cfg = write_run_config(tmp_path / 'cfg.py', data, workers=2, iters=8,
                           ckpt_interval=4)
    full = str(tmp_path / 'full')
    run_tool(['tools/train.py', cfg, '--work-dir', full])
    reference = logged_losses(full)
    assert sorted(reference) == list(range(1, 9))

    killed = str(tmp_path / 'killed')
    proc = subprocess.Popen(
        [sys.executable, 'tools/train.py', cfg, '--work-dir', killed],
        cwd=REPO_ROOT, env=tool_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    pointer = osp.join(killed, 'last_checkpoint')
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if osp.isfile(pointer) and open(pointer).read().endswith(
                'iter_4.pth'):
            break
        time.sleep(0.02)
    assert proc.poll() is None, 'the run ended before it could be killed'
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its data workers
    proc.wait()
    done = max(logged_losses(killed))
    assert done < 8, 'killed too late to test anything'

    proc = run_tool(['tools/train.py', cfg, '--work-dir', killed, '--resume'])
    assert 'resumed' in proc.stdout + proc.stderr
    resumed = logged_losses(killed)
    for it in range(5, 9):
        assert resumed[it] == pytest.approx(reference[it], abs=1e-6), it
    ckpt_full = torch.load(osp.join(full, 'iter_8.pth'), weights_only=False)
    ckpt_res = torch.load(osp.join(killed, 'iter_8.pth'), weights_only=False)
    assert int(ckpt_res['state_dict']['teacher.steps']) == 8
    for key, value in ckpt_full['state_dict'].items():
        torch.testing.assert_close(ckpt_res['state_dict'][key], value,
                                   rtol=0, atol=1e-6, msg=key)


def _runner(tmp_path, iters=3, keep=1):
    from mmengine.runner import Runner
    data = osp.join(REPO_ROOT, 'data/demo/images')
    cfg = Config.fromfile(write_run_config(
        tmp_path / 'cfg.py', data, batch=4, iters=iters, ckpt_interval=1,
        keep=keep))
    cfg.work_dir = str(tmp_path / 'work')
    return Runner.from_cfg(isolated_experiment(cfg))


@pytest.mark.parametrize('crash_on', ['iter_3.pth', 'last_checkpoint'])
def test_crash_while_saving_keeps_the_previous_checkpoint(
        tmp_path, monkeypatch, crash_on):
    runner = _runner(tmp_path, keep=1)
    real_replace = os.replace

    def replace(src, dst):
        if dst.endswith(crash_on) and runner.iter == 2:
            raise KeyboardInterrupt('simulated crash while saving')
        return real_replace(src, dst)

    monkeypatch.setattr(os, 'replace', replace)
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    work = runner.work_dir
    pointer = open(osp.join(work, 'last_checkpoint')).read()
    assert pointer.endswith('iter_2.pth')  # still the previous checkpoint
    ckpt = torch.load(pointer, weights_only=False)  # complete and readable
    assert ckpt['meta']['iter'] == 2
    leftovers = [f for f in os.listdir(work) if f.startswith('.')]
    assert leftovers == []  # no temporary files
    if crash_on == 'iter_3.pth':
        assert not osp.exists(osp.join(work, 'iter_3.pth'))


def test_non_finite_loss_stops_with_the_iteration_and_keeps_checkpoints(
        tmp_path):
    from mmengine.hooks import Hook

    class PoisonHook(Hook):
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if runner.iter == 2:  # the third iteration
                with torch.no_grad():
                    runner.model.backbone.cls_token.fill_(float('nan'))

    runner = _runner(tmp_path, iters=5, keep=2)
    runner.register_hook(PoisonHook())
    with pytest.raises(FloatingPointError, match='iteration 3'):
        runner.train()
    work = runner.work_dir
    assert not osp.exists(osp.join(work, 'iter_3.pth'))
    pointer = open(osp.join(work, 'last_checkpoint')).read()
    assert pointer.endswith('iter_2.pth')
    state = torch.load(pointer, weights_only=False)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values()
               if v.is_floating_point())


def test_checkpoint_hook_refuses_non_finite_weights(tmp_path):
    from mmconmim.engine import SafeCheckpointHook
    runner = _runner(tmp_path, iters=1)
    with torch.no_grad():
        runner.model.neck.fc0.weight[0, 0] = float('inf')
    with pytest.raises(FloatingPointError, match='neck.fc0.weight'):
        SafeCheckpointHook(interval=1).check_finite(runner, 1)


def test_two_processes_keep_identical_weights_and_split_the_data(tmp_path):
    data = write_images(str(tmp_path / 'images'), num=8, size=72)
    cfg = write_run_config(
        tmp_path / 'cfg.py', data, batch=2, sampler='DefaultSampler',
        loop="type='EpochBasedTrainLoop', max_epochs=2",
        ckpt_interval=100, extra_imports=", 'tests.fixtures.dist_probe'",
        extra_hooks="\ncustom_hooks.append(dict(type='RankProbeHook'))")
    work = str(tmp_path / 'work')
    run_tool(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', work],
             env=dict(PORT=free_port()))
    probes = [torch.load(osp.join(work, f'probe_rank{r}.pth'),
                         weights_only=False) for r in (0, 1)]
    # identical student and teacher (EMA) on both ranks, after 4 steps;
    # BN running statistics are per rank with plain BN (the demo config's
    # projector norm) and are left out -- they are unused by train-mode BN
    state0, state1 = probes[0]['state_dict'], probes[1]['state_dict']
    assert int(state0['teacher.steps']) == 4
    compared = 0
    for key, value in state0.items():
        if key.rsplit('.', 1)[-1] in ('running_mean', 'running_var',
                                      'num_batches_tracked'):
            continue
        assert torch.equal(value, state1[key]), key
        compared += 1
    assert compared > 50
    # every sample exactly once per epoch across the ranks
    for epoch in (0, 1):
        seen = probes[0]['seen'][epoch] + probes[1]['seen'][epoch]
        assert sorted(seen) == list(range(8)), (epoch, seen)
        assert set(probes[0]['seen'][epoch]).isdisjoint(
            probes[1]['seen'][epoch])


@pytest.mark.parametrize('norm', ['DistBN', 'BN1d'])
def test_two_processes_match_one_process_with_the_double_batch(
        tmp_path, norm):
    script = osp.join(REPO_ROOT, 'tests', 'fixtures', 'dist_equivalence.py')
    one, two = str(tmp_path / 'one.pth'), str(tmp_path / 'two.pth')
    run_tool([script, one, norm])
    run_tool([sys.executable, '-m', 'torch.distributed.run',
              '--nproc_per_node=2', f'--master_port={free_port()}', script,
              two, norm])
    a, b = torch.load(one), torch.load(two)
    diffs = {k: (a[k].double() - b[k].double()).abs().max().item()
             for k in a if a[k].is_floating_point()}
    if norm == 'DistBN':
        # cross-rank BN: the split does not change the normalisation
        assert max(diffs.values()) <= 1e-5, max(diffs.items(),
                                                key=lambda kv: kv[1])
    else:
        # per-rank BN normalises each half with its own statistics: a
        # documented difference, far above float noise
        assert max(diffs.values()) > 1e-4


def _build(cfg_dict, registry='MODELS'):
    from mmpretrain import registry as r
    init_default_scope('mmpretrain')
    return getattr(r, registry).build(cfg_dict)


@pytest.mark.parametrize('path,value,field', [
    ('model.head.loss.temperature', 0., 'temperature must be > 0'),
    ('model.momentum', 1.5, 'momentum must be a number in'),
    ('model.end_momentum', -0.1, 'end_momentum must be a number in'),
    ('model.backbone.img_size', 60, 'not divisible by its patch_size'),
])
def test_invalid_model_config_fails_at_build_naming_the_field(
        path, value, field):
    cfg = Config.fromfile(DEMO)
    cfg.merge_from_dict({path: value})
    with pytest.raises(ValueError, match=field):
        _build(cfg.model)


@pytest.mark.parametrize('key,value,field', [
    ('mask_ratio', 1.0, 'mask_ratio must be in'),
    ('mask_ratio', 0., 'mask_ratio must be in'),
    ('input_size', 72, 'input_size 72 is not divisible by mask_patch_size'),
    ('model_patch_size', 12,
     'mask_patch_size 16 is not divisible by model_patch_size 12'),
])
def test_invalid_mask_config_fails_at_dataset_build(key, value, field):
    cfg = Config.fromfile(DEMO)
    dataset = cfg.train_dataloader.dataset
    dataset.data_root = osp.join(REPO_ROOT, 'data/demo/images')
    for step in dataset.pipeline:
        if step['type'] == 'UnitMaskGenerator':
            step[key] = value
    with pytest.raises(ValueError, match=field):
        _build(dataset, 'DATASETS')


@pytest.mark.parametrize('rng_hook', [True, False])
def test_cim_resume_reproduces_the_sampled_corruptions(tmp_path, rng_hook):
    """CIM draws its replacement tokens from the main process's torch
    generator; TorchRNGStateHook restores it on --resume, so the losses after
    resuming equal an uninterrupted run's."""
    cfg = str(tmp_path / 'cim.py')
    with open(cfg, 'w') as f:
        f.write(f'''
_base_ = '{osp.join(REPO_ROOT, 'configs/demo/cim_demo.py')}'
train_dataloader = dict(batch_size=4, num_workers=0,
                        persistent_workers=False,
                        dataset=dict(data_root='{osp.join(REPO_ROOT,
                                                           'data/demo/images')}'))
train_cfg = dict(max_iters=4)
param_scheduler = []
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=2))
log_processor = dict(by_epoch=False, window_size=1)
custom_hooks = [dict(type='TorchRNGStateHook')] if {rng_hook} else []
''')
    full = str(tmp_path / 'full')
    run_tool(['tools/train.py', cfg, '--work-dir', full])
    part = str(tmp_path / 'part')
    run_tool(['tools/train.py', cfg, '--work-dir', part, '--cfg-options',
              'train_cfg.max_iters=2'])
    run_tool(['tools/train.py', cfg, '--work-dir', part, '--resume'])
    reference, resumed = logged_losses(full), logged_losses(part)
    assert sorted(resumed) == [1, 2, 3, 4]
    same = [abs(resumed[it] - reference[it]) <= 1e-6 for it in (3, 4)]
    # without the hook the sampled corruptions, hence the losses, differ
    assert all(same) if rng_hook else not any(same), (resumed, reference)


def test_new_run_in_a_used_work_dir_needs_resume_or_overwrite(tmp_path):
    """tools/train.py refuses to start a new run over an earlier run's
    checkpoints (naming its last checkpoint, --resume and --overwrite) and
    leaves them untouched; --overwrite starts the run with a warning."""
    data = osp.join(REPO_ROOT, 'data/demo/images')
    cfg = write_run_config(tmp_path / 'cfg.py', data, batch=4, iters=2,
                           ckpt_interval=2)
    work = tmp_path / 'work'
    work.mkdir()
    earlier = work / 'iter_2.pth'
    earlier.write_bytes(b'the earlier run')
    (work / 'last_checkpoint').write_text(str(earlier))
    before = {p: p.read_bytes() for p in work.iterdir()}

    proc = subprocess.run(
        [sys.executable, 'tools/train.py', cfg, '--work-dir', str(work)],
        cwd=REPO_ROOT, env=tool_env(), capture_output=True, text=True,
        timeout=300)
    assert proc.returncode != 0
    assert str(earlier) in proc.stderr
    for flag in ('--resume', '--overwrite', '--work-dir'):
        assert flag in proc.stderr, proc.stderr[-2000:]
    assert {p: p.read_bytes() for p in work.iterdir()} == before  # untouched

    proc = run_tool(['tools/train.py', cfg, '--work-dir', str(work),
                     '--overwrite'])
    warning = [line for line in proc.stderr.splitlines()
               if line.startswith('WARNING: --overwrite')]
    assert len(warning) == 1 and str(earlier) in warning[0], proc.stderr
    assert torch.load(earlier, weights_only=False)['meta']['iter'] == 2
    # and the help documents the rule
    help_text = run_tool(['tools/train.py', '--help']).stdout
    assert '--overwrite' in help_text and 'earlier run' in help_text


def _process_state(pid):
    """'R', 'S', 'Z', ... from /proc, or None once the pid is gone."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def _children(pid):
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


@pytest.mark.skipif(not osp.isdir('/proc/self'), reason='needs /proc')
def test_dataloader_workers_exit_after_sigkill_of_the_main_process(
        tmp_path):
    data = osp.join(REPO_ROOT, 'data/demo/images')
    cfg = write_run_config(tmp_path / 'cfg.py', data, batch=8, workers=2,
                           iters=100000, ckpt_interval=100000)
    work = str(tmp_path / 'work')
    log = open(tmp_path / 'train.log', 'w')
    # 8 batches in flight per worker: more results than the 64 kB pipe
    # between workers and main process holds, as in a real run; that is
    # what kept workers blocked after the main process died
    proc = subprocess.Popen(
        [sys.executable, 'tools/train.py', cfg, '--work-dir', work,
         '--cfg-options', 'train_dataloader.prefetch_factor=8'],
        cwd=REPO_ROOT, env=tool_env(), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    workers = []
    try:
        deadline = time.time() + 300
        # wait until the workers have delivered batches for a few iterations
        while time.time() < deadline and proc.poll() is None:
            if len(logged_losses(work)) >= 3:
                break
            time.sleep(0.1)
        assert proc.poll() is None, open(tmp_path / 'train.log').read()[-3000:]
        workers = _children(proc.pid)
        assert len(workers) == 2, workers  # the two persistent workers
        proc.send_signal(signal.SIGKILL)  # the main process only
        proc.wait()
        deadline = time.time() + 10
        while time.time() < deadline:
            alive = [pid for pid in workers
                     if _process_state(pid) not in (None, 'Z')]
            if not alive:
                break
            time.sleep(0.1)
        assert not alive, f'workers {alive} outlived the main process by 10 s'
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in workers:  # never leave a stuck worker behind
            if _process_state(pid) not in (None, 'Z'):
                os.kill(pid, signal.SIGKILL)
        log.close()


def _default_sampler_runner(tmp_path, loop, runner_type=None):
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    data = write_images(str(tmp_path / 'images'), num=4, size=48)
    cfg = Config.fromfile(write_run_config(
        tmp_path / 'cfg.py', data, batch=8, sampler='DefaultSampler',
        loop=loop, ckpt_interval=100))
    cfg.train_dataloader.drop_last = True
    cfg.work_dir = str(tmp_path / 'work')
    isolated_experiment(cfg)
    if runner_type is None:
        return Runner.from_cfg(cfg)
    cfg.runner_type = runner_type
    return RUNNERS.build(cfg)


@pytest.mark.parametrize('loop,runner_type', [
    ("type='IterBasedTrainLoop', max_iters=2", None),
    ("type='EpochBasedTrainLoop', max_epochs=1",
     'mmconmim.WorkerWatchdogRunner'),
])
def test_batch_larger_than_the_dataset_with_drop_last_is_named(
        tmp_path, loop, runner_type):
    runner = _default_sampler_runner(tmp_path, loop, runner_type)
    with pytest.raises(ValueError, match=r'yields no batch: batch_size=8 '
                       r'but the dataset has 4 samples, and drop_last=True.*'
                       r'at most 4'):
        runner.train()


def test_watchdog_runner_keeps_mmengines_worker_seeding():
    """The wrapped worker_init_fn runs mmengine's seeding first: the
    augmented batches equal those of a plain Runner's loader."""
    from mmengine.runner import Runner
    from mmconmim.datasets.worker_watchdog import ExitWithParentWorkerInit
    from mmconmim.engine import WorkerWatchdogRunner
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(DEMO).train_dataloader
    cfg.dataset.data_root = osp.join(REPO_ROOT, 'data/demo/images')
    cfg.update(batch_size=4, num_workers=2, persistent_workers=False)
    batches = {}
    for runner_cls in (Runner, WorkerWatchdogRunner):
        loader = runner_cls.build_dataloader(cfg.copy(), seed=7)
        batches[runner_cls] = [b['inputs'] for _, b in zip(range(2), loader)]
    wrapped = WorkerWatchdogRunner.build_dataloader(cfg.copy(), seed=7)
    assert isinstance(wrapped.worker_init_fn, ExitWithParentWorkerInit)
    assert wrapped.worker_init_fn.worker_init_fn.keywords['seed'] == 7
    for plain, watched in zip(batches[Runner],
                              batches[WorkerWatchdogRunner]):
        for a, b in zip(plain, watched):  # student and teacher views
            assert torch.equal(a, b)
