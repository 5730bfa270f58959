"""Every shell command in the documentation refers to files that exist, and
every Python entry point it names answers ``--help``.

The fenced ``bash``/``sh``/``shell`` blocks of README.md, docs/*.md,
benchmarks/*.md and configs/**/README.md are parsed into simple commands.
Nothing is run for real (most need GPUs, ImageNet or a pre-trained
checkpoint: docs-only); instead

* every argument that names a file of this repository (``configs/``,
  ``tools/``, ``benchmarks/``, ``docs/``, ``data/demo/``) must exist;
* ``python SCRIPT ...``: SCRIPT exists and ``SCRIPT --help`` exits 0 with
  argparse's usage text (all scripts in one fresh interpreter, each with its
  own directory first on ``sys.path`` as for ``python SCRIPT``);
* ``python -m MODULE``: MODULE is importable;
* ``bash SCRIPT ...``: SCRIPT exists and parses (``bash -n``); the
  downstream wrappers answer a call without arguments with their usage.
"""
import glob
import json
import os.path as osp
import re
import shlex
import subprocess
import sys

import pytest

from tests.fixtures.helpers import REPO_ROOT, tool_env

DOC_FILES = sorted(
    {osp.join(REPO_ROOT, 'README.md'), *glob.glob(
        osp.join(REPO_ROOT, 'docs', '*.md')), *glob.glob(
            osp.join(REPO_ROOT, 'benchmarks', '*.md')), *glob.glob(
                osp.join(REPO_ROOT, 'configs', '**', 'README.md'),
                recursive=True)})
SHELL_LANGS = ('bash', 'sh', 'shell', 'console')
# Arguments under these folders are files the repository ships; other
# arguments are placeholders (CONFIG, CKPT), outputs of earlier commands
# (work_dirs/..., vit-b.pth) or user data.
REPO_PATH_PREFIXES = ('configs/', 'tools/', 'benchmarks/', 'docs/',
                      'data/demo/')
SEPARATORS = ('&&', '||', ';', '|')


def shell_blocks(path):
    text = open(path, encoding='utf-8').read()
    for match in re.finditer(r'^```(\w*)[^\n]*\n(.*?)^```', text,
                             re.S | re.M):
        if match.group(1) in SHELL_LANGS:
            yield match.group(2)


def simple_commands(block):
    """Lists of words, one per simple command (continuation lines joined,
    comments dropped, split at && || ; |, leading VAR=value removed)."""
    joined = re.sub(r'\\\n', ' ', block)
    for line in joined.splitlines():
        words = [w.strip('()') for w in shlex.split(line, comments=True)]
        command = []
        for word in words + [';']:
            if word in SEPARATORS:
                while command and re.match(r'^[A-Za-z_]\w*=', command[0]):
                    command.pop(0)
                if command:
                    yield command
                command = []
            elif word:
                command.append(word)


def documented_commands():
    commands = []
    for path in DOC_FILES:
        for block in shell_blocks(path):
            for words in simple_commands(block):
                commands.append((osp.relpath(path, REPO_ROOT), words))
    return commands


COMMANDS = documented_commands()


def repo_paths(words):
    for word in words:
        value = word.split('=', 1)[1] if word.startswith('--') and \
            '=' in word else word
        if value.startswith(REPO_PATH_PREFIXES) and '{' not in value:
            yield value


def python_scripts():
    scripts, modules = set(), set()
    for _, words in COMMANDS:
        prog = osp.basename(words[0])
        if not re.fullmatch(r'python(3(\.\d+)?)?', prog):
            continue
        if words[1:2] == ['-m']:
            modules.add(words[2])
        elif len(words) > 1 and words[1].endswith('.py'):
            scripts.add(words[1])
    return sorted(scripts), sorted(modules)


def bash_scripts():
    return sorted({words[1] for _, words in COMMANDS
                   if words[0] == 'bash' and len(words) > 1})


def test_the_docs_have_commands():
    """The parser finds the documented commands (guards against a parser
    that silently finds nothing)."""
    scripts, _ = python_scripts()
    assert 'tools/train.py' in scripts
    assert 'tools/model_converters/export_backbone.py' in scripts
    assert 'tools/model_converters/mmconmim_to_timm.py' in scripts
    assert 'tools/benchmarks/mmsegmentation/dist_train.sh' in bash_scripts()
    assert len(COMMANDS) > 30


def test_readme_activates_the_environment_before_python_commands():
    text = open(osp.join(REPO_ROOT, 'README.md'), encoding='utf-8').read()
    activate = text.index('source .venv/bin/activate')
    first_python = re.search(r'^python ', text, re.M).start()
    assert activate < first_python


@pytest.mark.parametrize('doc,words', COMMANDS,
                         ids=lambda v: v if isinstance(v, str) else
                         ' '.join(v)[:60])
def test_referenced_repo_files_exist(doc, words):
    missing = [p for p in repo_paths(words)
               if not osp.exists(osp.join(REPO_ROOT, p))]
    assert not missing, f'{doc}: `{" ".join(words)}` names missing ' \
        f'{missing}'


HELP_DRIVER = r'''
import contextlib, io, json, os, runpy, sys
results = {}
for script in sys.argv[1:]:
    out = io.StringIO()
    sys.argv = [script, '--help']
    # in this child interpreter only: what `python SCRIPT` does (its folder
    # first on sys.path), so each script finds its sibling modules
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    code = 'no exit'
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            runpy.run_path(script, run_name='__main__')
    except SystemExit as exc:
        code = exc.code or 0
    except BaseException as exc:
        code = f'{type(exc).__name__}: {exc}'
    finally:
        sys.path.pop(0)
    text = out.getvalue()
    results[script] = dict(code=code, usage=text.startswith('usage:'),
                           output=text[:1500])
print('RESULTS' + json.dumps(results))
'''


def test_python_entry_points_answer_help():
    scripts, modules = python_scripts()
    absent = [s for s in scripts if not osp.isfile(osp.join(REPO_ROOT, s))]
    assert not absent, f'documented scripts that do not exist: {absent}'
    proc = subprocess.run(
        [sys.executable, '-c', HELP_DRIVER, *scripts], cwd=REPO_ROOT,
        env=tool_env(), capture_output=True, text=True, timeout=300)
    assert 'RESULTS' in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(proc.stdout.split('RESULTS', 1)[1])
    failed = {s: r for s, r in results.items()
              if r['code'] != 0 or not r['usage']}
    assert not failed, json.dumps(failed, indent=1)[:6000]
    import importlib.util
    for module in modules:
        assert importlib.util.find_spec(module) is not None, module


def test_bash_entry_points_parse():
    for script in bash_scripts():
        path = osp.join(REPO_ROOT, script)
        if script.startswith('.venv/'):
            continue  # created by the bootstrap
        assert osp.isfile(path), f'documented script {script} is missing'
        proc = subprocess.run(['bash', '-n', path], capture_output=True,
                              text=True)
        assert proc.returncode == 0, f'{script}: {proc.stderr}'
        if script.startswith('tools/benchmarks/'):
            proc = subprocess.run(['bash', path], capture_output=True,
                                  text=True, timeout=60, cwd=REPO_ROOT)
            assert proc.returncode == 2, (script, proc.stderr)
            assert proc.stderr.startswith(f'usage: bash {script} '), \
                proc.stderr
