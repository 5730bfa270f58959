"""The shell launchers (tools/dist_*.sh, tools/slurm_*.sh and the downstream
benchmark wrappers) run the checkout's .venv python when it exists, $PYTHON
when set, and `python` from PATH only as the last resort.

Each case runs the real scripts, copied into a scratch checkout whose
.venv/bin/python, PATH python and `srun` are recording stubs, so nothing
heavy starts."""
import glob
import os
import os.path as osp
import shutil
import stat
import subprocess

import pytest

from tests.fixtures.helpers import REPO_ROOT

STUB = '''#!/usr/bin/env bash
echo "{name} $*" >> "$RECORD"
exit {code}
'''

# (script, arguments, the script that finally starts python)
CASES = [
    ('tools/dist_train.sh', ['cfg.py', '2', '--amp'], 'train.py'),
    ('tools/dist_test.sh', ['cfg.py', 'ckpt.pth', '2'], 'test.py'),
    ('tools/slurm_train.sh', ['part', 'job', 'cfg.py'], 'train.py'),
    ('tools/slurm_test.sh', ['part', 'job', 'cfg.py', 'ckpt.pth'],
     'test.py'),
] + [
    (f'tools/benchmarks/{lib}/{script}', args, target)
    for lib in ('mmsegmentation', 'mmdetection')
    for script, args, target in [
        ('dist_train.sh', ['cfg.py', 'pre.pth', '2'], 'train.py'),
        ('dist_test.sh', ['cfg.py', 'ckpt.pth', '2'], 'test.py'),
        ('slurm_train.sh', ['part', 'job', 'cfg.py', 'pre.pth'], 'train.py'),
        ('slurm_test.sh', ['part', 'job', 'cfg.py', 'ckpt.pth'], 'test.py'),
    ]
]


def write_stub(path, name, code=0):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(STUB.format(name=name, code=code))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


def scratch_checkout(tmp_path, with_venv):
    root = tmp_path / 'checkout'
    for path in glob.glob(osp.join(REPO_ROOT, 'tools', '**', '*.sh'),
                          recursive=True):
        dest = root / osp.relpath(path, REPO_ROOT)
        os.makedirs(dest.parent, exist_ok=True)
        shutil.copy(path, dest)
    if with_venv:
        write_stub(str(root / '.venv' / 'bin' / 'python'), 'venv-python')
    bin_dir = tmp_path / 'bin'
    # a PATH python that must not be used while a .venv exists
    write_stub(str(bin_dir / 'python'), 'path-python', code=3)
    # srun runs the command on the cluster: here it only records it
    write_stub(str(bin_dir / 'srun'), 'srun')
    write_stub(str(bin_dir / 'custom-python'), 'custom-python')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHON'}
    env['PATH'] = f'{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin'
    env['RECORD'] = str(tmp_path / 'record.txt')
    # the downstream wrappers' own route (tools/dist_*.sh, tools/slurm_*.sh);
    # their mim route is tested in test_downstream_scripts.py
    env['DOWNSTREAM_LAUNCHER'] = 'ours'
    return root, bin_dir, env


def run_script(root, script, args, env):
    proc = subprocess.run(['bash', str(root / script), *args], cwd=root,
                          env=env, capture_output=True, text=True,
                          timeout=60)
    with open(env['RECORD']) as f:
        return proc, f.read().strip()


@pytest.mark.parametrize('script,args,target', CASES)
def test_scripts_use_the_checkout_venv_python(tmp_path, script, args,
                                              target):
    root, _, env = scratch_checkout(tmp_path, with_venv=True)
    proc, record = run_script(root, script, args, env)
    assert proc.returncode == 0, proc.stderr
    assert 'path-python' not in record
    venv_python = str(root / '.venv' / 'bin' / 'python')
    if 'slurm' in script:  # srun got the venv interpreter as its command
        assert record.startswith('srun '), record
        assert f' {venv_python} -u ' in record, record
    else:
        assert record.startswith('venv-python -m torch.distributed.run'), \
            record
    assert f'tools/{target} cfg.py' in record, record
    if 'benchmarks' in script and 'train' in script:
        assert 'model.backbone.init_cfg.checkpoint=pre.pth' in record


@pytest.mark.parametrize('script,args', [
    ('tools/dist_train.sh', ['cfg.py', '2']),
    ('tools/benchmarks/mmsegmentation/slurm_train.sh',
     ['part', 'job', 'cfg.py', 'pre.pth']),
])
def test_python_env_variable_overrides_the_venv(tmp_path, script, args):
    root, bin_dir, env = scratch_checkout(tmp_path, with_venv=True)
    env['PYTHON'] = str(bin_dir / 'custom-python')
    proc, record = run_script(root, script, args, env)
    assert proc.returncode == 0, proc.stderr
    assert 'custom-python' in record and 'venv-python' not in record


def test_without_a_venv_the_path_python_is_used(tmp_path):
    root, _, env = scratch_checkout(tmp_path, with_venv=False)
    proc, record = run_script(root, 'tools/dist_train.sh', ['cfg.py', '2'],
                              env)
    assert proc.returncode == 3  # the failing PATH stub ran
    assert record.startswith('path-python -m torch.distributed.run')
