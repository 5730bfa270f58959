"""``import mmconmim`` changes nothing outside mmconmim except the checkpoint
gate; ``mmconmim.apply_compat_fixes()`` then changes exactly the documented
items of ``mmconmim.utils.compat.applied_patches()`` (issue 12 section 3,
issue 26 item 3).

A fresh interpreter imports the upstream stack, records every function,
class and setting its modules expose, imports mmconmim, records again,
applies the fixes, records again, and reports what differs. Registering
modules into registries mutates registry objects in place and is not a
difference here.
"""
import json
import os.path as osp
import subprocess
import sys

from tests.fixtures.helpers import REPO_ROOT, tool_env

PROBE = r'''
import json, os, sys, types
import numpy as np
import torch, torch.hub, torch.serialization
import PIL.Image
import mmcv, mmcv.image
import mmengine
from mmengine.fileio.backends import registry_utils
from mmengine.runner import CheckpointLoader
import mmpretrain, mmpretrain.models, mmpretrain.datasets, mmpretrain.engine

PACKAGES = ('mmengine', 'mmcv', 'mmpretrain', 'torch', 'numpy', 'PIL',
            'cv2', 'scipy')


def name_of(obj):
    return f'{getattr(obj, "__module__", "?")}.{getattr(obj, "__qualname__", obj)}'


def snapshot():
    attrs = {}
    for mod_name, module in list(sys.modules.items()):
        if module is None or mod_name.split('.')[0] not in PACKAGES:
            continue
        try:
            items = list(vars(module).items())
        except TypeError:
            continue
        for attr, value in items:
            if isinstance(value, types.ModuleType):
                continue  # new submodules appear when they are imported
            attrs[f'{mod_name}.{attr}'] = id(value)
    umask = os.umask(0o022)
    os.umask(umask)
    return dict(
        attrs=attrs,
        file_backends={k: name_of(v) for k, v in registry_utils.backends.items()},
        file_prefixes={k: name_of(v)
                       for k, v in registry_utils.prefix_to_backends.items()},
        # private read kept on purpose: mmengine has no public accessor for
        # its registered checkpoint schemes, and they are what is compared
        ckpt_schemes={k: name_of(v) for k, v in CheckpointLoader._schemes.items()},
        safe_globals=sorted(map(str, torch.serialization.get_safe_globals())),
        max_image_pixels=PIL.Image.MAX_IMAGE_PIXELS,
        np_err=np.geterr(), umask=umask,
        default_dtype=str(torch.get_default_dtype()),
        threads=torch.get_num_threads())


def compare(before, after):
    return dict(
        changed_attrs=sorted(k for k, v in before['attrs'].items()
                             if k in after['attrs'] and after['attrs'][k] != v),
        removed_attrs=sorted(k for k in before['attrs'] if k not in after['attrs']),
        changed_schemes=sorted(
            k for k in set(before['ckpt_schemes']) | set(after['ckpt_schemes'])
            if before['ckpt_schemes'].get(k) != after['ckpt_schemes'].get(k)),
        new_schemes={k: after['ckpt_schemes'][k] for k in after['ckpt_schemes']},
        same={key: before[key] == after[key]
              for key in before if key not in ('attrs', 'ckpt_schemes')})


before = snapshot()
# old objects stay alive, so a replacement cannot reuse an id
keep_alive = [sys.modules[m].__dict__.copy() for m in list(sys.modules)
              if sys.modules[m] is not None and hasattr(sys.modules[m], '__dict__')]
import mmconmim
from mmconmim.utils.compat import applied_patches
imported = snapshot()
report = dict(on_import=compare(before, imported),
              applied_on_import=applied_patches())
mmconmim.apply_compat_fixes()
report['on_fixes'] = compare(imported, snapshot())
report['applied'] = applied_patches()
print('REPORT' + json.dumps(report))
'''


def run_probe():
    proc = subprocess.run([sys.executable, '-c', PROBE], cwd=REPO_ROOT,
                          env=tool_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith('REPORT'))
    return json.loads(line[len('REPORT'):])


def test_import_changes_only_the_gate_and_fixes_only_the_documented():
    from mmconmim.checkpoint import GATED_SCHEMES
    report = run_probe()
    on_import, on_fixes = report['on_import'], report['on_fixes']
    # import mmconmim: settings, file backends, every function and class of
    # the other libraries untouched; only the checkpoint schemes are gated
    assert all(on_import['same'].values()), on_import['same']
    assert on_import['changed_attrs'] == [], on_import['changed_attrs']
    assert on_import['removed_attrs'] == []
    assert on_import['changed_schemes'] == sorted(GATED_SCHEMES)
    assert all(on_import['new_schemes'][p].startswith('mmconmim.checkpoint.')
               for p in GATED_SCHEMES)
    assert [i['name'] for i in report['applied_on_import']] == [
        'checkpoint_trust_gate']
    # apply_compat_fixes(): exactly the documented version fixes
    assert all(on_fixes['same'].values()), on_fixes['same']
    documented = sorted(t for item in report['applied']
                        if item['name'] != 'checkpoint_trust_gate'
                        for t in item['targets'])
    assert on_fixes['changed_attrs'] == documented, on_fixes['changed_attrs']
    assert on_fixes['removed_attrs'] == [] and on_fixes['changed_schemes'] == []
    # every applied item is documented with its reason in docs/compat.md
    with open(osp.join(REPO_ROOT, 'docs', 'compat.md')) as f:
        doc = f.read()
    for item in report['applied']:
        assert f'`{item["name"]}`' in doc, item['name']
        for target in item['targets']:
            if target.startswith('mmengine CheckpointLoader'):
                continue
            assert target in doc, target
