"""Helpers shared by the tests (imported as a plain module)."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def write_images(folder, num=8, size=48, seed=0, ext='.png'):
    """Random RGB images with some structure, for runner-level tests."""
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(num):
        base = rng.integers(0, 256, 3)
        img = (base + 40 * np.sin((xx * (i + 1) + yy) / 7.)[..., None]
               + rng.normal(0, 10, (size, size, 3)))
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(
            osp.join(folder, f'img_{i:03d}{ext}'))
    return folder


def free_port() -> str:
    """A TCP port nothing listens on now (for torchrun's rendezvous), so
    concurrent test runs on one machine do not collide."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


def tool_env(env=None):
    """The environment tools run in: the test interpreter first on PATH, the
    repo importable, and the same thread count for every run (runs whose
    float results are compared must not differ in OMP_NUM_THREADS, which
    changes GEMM summation order)."""
    full_env = dict(os.environ)
    full_env.setdefault('OMP_NUM_THREADS', '1')
    full_env['PYTHON'] = sys.executable
    full_env['PATH'] = osp.dirname(sys.executable) + os.pathsep + \
        full_env.get('PATH', '')
    full_env['PYTHONPATH'] = REPO_ROOT
    if env:
        full_env.update(env)
    return full_env


def run_tool(args, cwd=REPO_ROOT, timeout=600, env=None):
    """Run a command with the test interpreter; fail with its output."""
    full_env = tool_env(env)
    cmd = [sys.executable, *args] if args[0].endswith('.py') else list(args)
    proc = subprocess.run(
        cmd, cwd=cwd, env=full_env, capture_output=True, text=True,
        timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f'{" ".join(cmd)} failed ({proc.returncode}):\n'
            f'--- stdout ---\n{proc.stdout[-6000:]}\n'
            f'--- stderr ---\n{proc.stderr[-6000:]}')
    return proc
