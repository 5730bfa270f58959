"""tools/benchmarks/mm{segmentation,detection}/*.sh run mmseg's / mmdet's own
train/test scripts through openmim, as mmpretrain's
tools/benchmarks/mm{seg,det}/mim_*.sh do, and fall back to our gloo launcher
where upstream cannot run (no CUDA).

`mim` and the interpreter are replaced by recorders here, so the exact
commands are checked on any machine; the real mim route runs in
test_mim_route_runs_mmsegs_own_scripts_on_cpu."""
import glob
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest

from tests.fixtures.helpers import REPO_ROOT

PRETRAIN_OPTS = ['model.backbone.init_cfg.type=Pretrained',
                 'model.backbone.init_cfg.checkpoint=pre.pth',
                 'model.backbone.init_cfg.prefix=backbone.']


@pytest.fixture
def recorders(tmp_path):
    """A fake `mim` and a fake `python` that write their arguments, one per
    line; the fake python answers the CUDA check with FAKE_CUDA (0/1)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    mim = bin_dir / 'mim'
    mim.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$RECORD.mim"\n')
    python = bin_dir / 'python'
    python.write_text(
        '#!/bin/sh\nif [ "$1" = -c ]; then [ "$FAKE_CUDA" = 1 ]; exit $?; fi\n'
        'printf "%s\\n" "$@" > "$RECORD.python"\n')
    for tool in (mim, python):
        tool.chmod(0o755)
    record = str(tmp_path / 'record')

    def run(script, *args, **env):
        full_env = dict(PATH=f'{bin_dir}:/usr/bin:/bin', RECORD=record,
                        PYTHON=str(python), HOME=str(tmp_path), **env)
        proc = subprocess.run(
            ['bash', f'tools/benchmarks/{script}', *args], cwd=REPO_ROOT,
            env=full_env, capture_output=True, text=True, timeout=60)
        calls = {}
        for name in ('mim', 'python'):
            if osp.exists(f'{record}.{name}'):
                calls[name] = open(f'{record}.{name}').read().splitlines()
                os.remove(f'{record}.{name}')
        return proc, calls

    return run


def test_train_runs_upstream_train_through_mim(recorders):
    proc, calls = recorders(
        'mmsegmentation/dist_train.sh', 'cfg.py', 'pre.pth', '8',
        '--work-dir', 'w', '--amp', DOWNSTREAM_LAUNCHER='mim')
    assert proc.returncode == 0, proc.stderr
    assert calls == {'mim': [
        'train', 'mmseg', 'cfg.py', '--launcher', 'pytorch', '-G', '8',
        '--work-dir', 'w', '--amp', '--cfg-options', *PRETRAIN_OPTS]}


def test_pretrain_merges_into_the_callers_cfg_options(recorders):
    """A second --cfg-options flag would replace the first in argparse, so
    the weights join the caller's list."""
    proc, calls = recorders(
        'mmdetection/dist_train.sh', 'cfg.py', 'pre.pth', '4',
        '--cfg-options', 'train_cfg.max_epochs=1', '--resume',
        DOWNSTREAM_LAUNCHER='mim', PORT='29999')
    assert proc.returncode == 0, proc.stderr
    assert calls['mim'] == [
        'train', 'mmdet', 'cfg.py', '--launcher', 'pytorch', '-G', '4',
        '--port', '29999', '--cfg-options', *PRETRAIN_OPTS,
        'train_cfg.max_epochs=1', '--resume']


def test_test_passes_tta_and_show_dir_to_upstream(recorders):
    proc, calls = recorders(
        'mmdetection/dist_test.sh', 'cfg.py', 'ckpt.pth', '2', '--tta',
        '--show-dir', 'vis', DOWNSTREAM_LAUNCHER='mim')
    assert proc.returncode == 0, proc.stderr
    assert calls == {'mim': [
        'test', 'mmdet', 'cfg.py', '--checkpoint', 'ckpt.pth', '--launcher',
        'pytorch', '-G', '2', '--tta', '--show-dir', 'vis']}
    # GPUS=0: the upstream script in one CPU process
    proc, calls = recorders(
        'mmsegmentation/dist_test.sh', 'cfg.py', 'ckpt.pth', '0',
        DOWNSTREAM_LAUNCHER='mim')
    assert calls['mim'][5:9] == ['--launcher', 'none', '-G', '0']


def test_slurm_through_mim(recorders):
    proc, calls = recorders(
        'mmdetection/slurm_train.sh', 'part', 'job', 'configs/x.py',
        'pre.pth', DOWNSTREAM_LAUNCHER='mim', GPUS='16',
        SRUN_ARGS='--quotatype=auto')
    assert proc.returncode == 0, proc.stderr
    assert calls['mim'] == [
        'train', 'mmdet', 'configs/x.py', '--launcher', 'slurm', '-G', '16',
        '--gpus-per-node', '8', '--cpus-per-task', '5', '--partition',
        'part', '--srun-args', '--job-name=job --quotatype=auto',
        '--work-dir', 'work_dirs/x', '--cfg-options', *PRETRAIN_OPTS]
    proc, calls = recorders(
        'mmsegmentation/slurm_test.sh', 'part', 'job', 'c.py', 'ck.pth',
        '--show-dir', 'v', DOWNSTREAM_LAUNCHER='mim')
    assert calls['mim'][:5] == ['test', 'mmseg', 'c.py', '--checkpoint',
                                'ck.pth']
    assert calls['mim'][-2:] == ['--show-dir', 'v']


@pytest.mark.parametrize('cuda', ['1', '0'])
def test_auto_picks_mim_with_cuda_and_our_launcher_without(recorders, cuda):
    proc, calls = recorders(
        'mmsegmentation/dist_train.sh', 'cfg.py', 'pre.pth', '2',
        FAKE_CUDA=cuda, PORT='29501')
    assert proc.returncode == 0, proc.stderr
    if cuda == '1':
        assert list(calls) == ['mim']
    else:  # torchrun on gloo through tools/dist_train.sh
        assert list(calls) == ['python']
        argv = calls['python']
        assert argv[:2] == ['-m', 'torch.distributed.run']
        assert '--nproc_per_node=2' in argv
        assert argv[argv.index('cfg.py') - 1].endswith('tools/train.py')
        assert argv[argv.index('cfg.py') + 1:] == [
            '--launcher', 'pytorch', '--cfg-options', *PRETRAIN_OPTS]


def test_missing_mim_is_a_clear_error(tmp_path):
    env = dict(PATH='/usr/bin:/bin', HOME=str(tmp_path),
               DOWNSTREAM_LAUNCHER='mim')
    if shutil.which('mim', path=env['PATH']):
        pytest.fail('a system-wide mim makes this check meaningless')
    proc = subprocess.run(
        ['bash', 'tools/benchmarks/mmdetection/dist_train.sh', 'cfg.py',
         'pre.pth', '8'], cwd=REPO_ROOT, env=env, capture_output=True,
        text=True, timeout=60)
    assert proc.returncode == 1
    assert "openmim's 'mim' command is not on PATH" in proc.stderr
    assert 'pip install -U openmim' in proc.stderr
    assert 'DOWNSTREAM_LAUNCHER=ours' in proc.stderr


def test_bad_arguments_print_the_wrappers_usage(recorders):
    proc, calls = recorders('mmdetection/dist_test.sh', 'cfg.py')
    assert proc.returncode == 2 and not calls
    assert proc.stderr.startswith(
        'usage: bash tools/benchmarks/mmdetection/dist_test.sh CONFIG '
        'CHECKPOINT GPUS')
    proc, _ = recorders('mmdetection/dist_train.sh', 'c', 'p', '1',
                        DOWNSTREAM_LAUNCHER='gpu')
    assert proc.returncode == 2
    assert re.search('DOWNSTREAM_LAUNCHER must be auto, mim or ours',
                     proc.stderr)


def demo_export(root):
    """An export of the ConMIM demo backbone (random init: the test is about
    the route, not the weights), as export_backbone.py writes it."""
    import torch
    from mmconmim.evaluation.loading import build_model, load_config
    from mmconmim.checkpoint.layout import extract_backbone
    model = build_model(load_config(
        osp.join(REPO_ROOT, 'configs/demo/conmim_demo.py')))
    weights, source, _ = extract_backbone(model.state_dict())
    out = str(root / 'backbone.pth')
    torch.save(dict(state_dict=weights, meta=dict(source=source)), out)
    return dict(root=root, out=out)


def test_mim_route_runs_mmsegs_own_scripts_on_cpu(tmp_path):
    """The real route: `mim train mmseg` / `mim test mmseg` (GPUS=0: one CPU
    process) run mmseg's own tools/train.py and tools/test.py, which load the
    exported weights, and pass --show-dir through to mmseg's visualiser; the
    pkg_resources deprecation warnings of the mmseg:: bases are gone."""
    from tests.fixtures.helpers import run_tool
    from tests.test_tools.test_transfer import (DEMO_SEG, PRETRAINED_LOADED,
                                                SEG_CFG)
    from tests.fixtures.transfer_data import make_photo_mosaics
    assert shutil.which('mim', path=osp.dirname(sys.executable)), \
        "openmim's mim is not installed (tools/bootstrap.sh installs it)"
    pretrained = demo_export(tmp_path)
    data = make_photo_mosaics(str(pretrained['root'] / 'mosaics'), val=4)
    path = pretrained['root'] / 'seg_mim.py'
    path.write_text(SEG_CFG.format(base=DEMO_SEG, ckpt='', data=data))
    work = str(pretrained['root'] / 'seg_mim_work')
    proc = run_tool(
        ['bash', 'tools/benchmarks/mmsegmentation/dist_train.sh', str(path),
         pretrained['out'], '0', '--work-dir', work],
        env=dict(DOWNSTREAM_LAUNCHER='mim'))
    log = proc.stdout + proc.stderr
    assert 'mmseg/.mim/tools/train.py' in log, log[-3000:]  # upstream's
    assert PRETRAINED_LOADED.search(log), log[-3000:]
    assert 'pkg_resources is deprecated' not in log
    assert osp.isfile(osp.join(work, 'iter_2.pth'))

    shown = str(pretrained['root'] / 'shown')
    proc = run_tool(
        ['bash', 'tools/benchmarks/mmsegmentation/dist_test.sh', str(path),
         osp.join(work, 'iter_2.pth'), '0', '--work-dir', work,
         '--show-dir', shown, '--cfg-options',
         'default_hooks.visualization.interval=1'],
        env=dict(DOWNSTREAM_LAUNCHER='mim'))
    log = proc.stdout + proc.stderr
    assert 'mmseg/.mim/tools/test.py' in log, log[-3000:]
    assert re.search(r'mIoU: [\d.]+', log), log[-3000:]
    # mmseg's visualiser drew the 4 validation mosaics
    pngs = glob.glob(osp.join(shown, '**', '*.png'), recursive=True)
    assert len(pngs) == 4, log[-3000:]


def test_upstream_only_test_options_on_our_route_are_refused(recorders):
    proc, calls = recorders(
        'mmsegmentation/dist_test.sh', 'cfg.py', 'ck.pth', '2', '--tta',
        DOWNSTREAM_LAUNCHER='ours')
    assert proc.returncode == 2 and not calls
    assert 'DOWNSTREAM_LAUNCHER=mim and GPUS=0' in proc.stderr
    proc, calls = recorders(
        'mmsegmentation/dist_test.sh', 'cfg.py', 'ck.pth', '2', '--out',
        'o.pkl', DOWNSTREAM_LAUNCHER='ours')
    assert proc.returncode == 0, proc.stderr
    assert calls['python'][-4:] == ['--launcher', 'pytorch', '--out',
                                    'o.pkl']

