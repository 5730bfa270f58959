"""``import mmconmim`` changes nothing outside mmconmim except the documented
items of ``mmconmim.utils.compat.applied_patches()`` (issue 12, section 3).

A fresh interpreter imports the upstream stack, records every function,
class and setting its modules expose, imports mmconmim, and reports what
differs. Registering modules into registries mutates registry objects in
place and is not a difference here.
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


before = snapshot()
# old objects stay alive, so a replacement cannot reuse an id
keep_alive = [sys.modules[m].__dict__.copy() for m in list(sys.modules)
              if sys.modules[m] is not None and hasattr(sys.modules[m], '__dict__')]
import mmconmim
from mmconmim.utils.compat import applied_patches
after = snapshot()
changed_attrs = sorted(k for k, v in before['attrs'].items()
                       if k in after['attrs'] and after['attrs'][k] != v)
removed_attrs = sorted(k for k in before['attrs'] if k not in after['attrs'])
report = dict(
    changed_attrs=changed_attrs, removed_attrs=removed_attrs,
    changed_schemes=sorted(k for k in set(before['ckpt_schemes']) | set(after['ckpt_schemes'])
                           if before['ckpt_schemes'].get(k) != after['ckpt_schemes'].get(k)),
    new_schemes={k: after['ckpt_schemes'][k] for k in after['ckpt_schemes']},
    same={key: before[key] == after[key] for key in before if key not in ('attrs', 'ckpt_schemes')},
    applied=applied_patches())
print('REPORT' + json.dumps(report))
'''


def run_probe():
    proc = subprocess.run([sys.executable, '-c', PROBE], cwd=REPO_ROOT,
                          env=tool_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith('REPORT'))
    return json.loads(line[len('REPORT'):])


def test_import_changes_only_the_documented_patches():
    from mmconmim.checkpoint import GATED_SCHEMES
    report = run_probe()
    # settings and mmengine's file backends are untouched
    assert all(report['same'].values()), report['same']
    # functions and classes: exactly the documented version fixes
    documented = sorted(t for item in report['applied']
                        if item['name'] != 'checkpoint_trust_gate'
                        for t in item['targets'])
    assert report['changed_attrs'] == documented, report['changed_attrs']
    assert report['removed_attrs'] == []
    # checkpoint schemes: exactly the gated ones, each now ours
    assert report['changed_schemes'] == sorted(GATED_SCHEMES)
    assert all(report['new_schemes'][p].startswith('mmconmim.checkpoint.')
               for p in GATED_SCHEMES)
    # every applied item is documented with its reason in docs/compat.md
    with open(osp.join(REPO_ROOT, 'docs', 'compat.md')) as f:
        doc = f.read()
    for item in report['applied']:
        assert f'`{item["name"]}`' in doc, item['name']
        for target in item['targets']:
            if target.startswith('mmengine CheckpointLoader'):
                continue
            assert target in doc, target
