"""One loader per scheme of mmengine's ``CheckpointLoader``, all ending in
the gate (:func:`~.gate.safe_torch_load`).

mmengine 0.10.7 loads local files with ``torch.load(f)`` (under torch >= 2.6
that means ``weights_only=True``, which cannot read mmengine's own runner
checkpoints: mmengine#1650, #1655) and every URL scheme -- ``http(s)://``,
``torchvision://``/``modelzoo://``, ``open-mmlab://``/``openmmlab://``,
``mmcls://`` -- with ``torch.hub.load_state_dict_from_url(weights_only=False)``,
also for a file already in the torch hub cache; ``pavi://`` and ``s3://``/
``petrel://`` with a bare ``torch.load``. :func:`install_gate` registers a
loader for every one of these prefixes that fetches the file the same way
(same URL tables, same hub cache, rank 0 downloads first) and then reads it
through the gate. A failed download names the URL
(:class:`CheckpointDownloadError`).
"""
import io
import os
import os.path as osp
import re
import sys
import urllib.error
import zipfile
from typing import Callable, Dict, Optional
from urllib.parse import urlparse

import torch

from mmconmim.utils.compat import report_outside_change
from .errors import CheckpointDownloadError, TRUST_ENV_VAR
from .gate import safe_torch_load


def load_from_local(filename, map_location=None):
    """Gate for local paths (mmengine's ``''`` scheme)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location)


def _hub_cache_file(url: str, model_dir: Optional[str]) -> str:
    """Where ``torch.hub.load_state_dict_from_url`` caches ``url``."""
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    name = osp.basename(urlparse(url).path)
    if not name:
        raise ValueError(f'{url} does not end in a file name')
    return osp.join(model_dir, name)


def _download(url: str, model_dir: Optional[str], progress: bool) -> str:
    cached = _hub_cache_file(url, model_dir)
    if not osp.exists(cached):
        os.makedirs(osp.dirname(cached), exist_ok=True)
        sys.stdout.write(f'Downloading: "{url}" to {cached}\n')
        try:
            # writes a temporary file and renames it when complete
            torch.hub.download_url_to_file(url, cached, progress=progress)
        except urllib.error.HTTPError as exc:
            raise CheckpointDownloadError(
                f'cannot download {url}: the server answered HTTP {exc.code} '
                f'{exc.reason}; check the URL') from None
        except urllib.error.URLError as exc:
            raise CheckpointDownloadError(
                f'cannot download {url}: {exc.reason}; check the URL and '
                'the network (or download the file and give its path)'
            ) from None
    return cached


def _load_cached(cached: str, url: str, map_location):
    source = (f'{url} (cached as {cached}; delete that file to download it '
              'again)')
    if zipfile.is_zipfile(cached):
        with zipfile.ZipFile(cached) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) == 1 and not members[0].filename.endswith(
                    'data.pkl'):
                # a pre-1.6 checkpoint zipped by hand, which torch.hub
                # unpacks: read the one member through the same gate
                with archive.open(members[0]) as member:
                    buffer = io.BytesIO(member.read())
                return safe_torch_load(buffer, map_location, source=source)
    return safe_torch_load(cached, map_location, source=source)


def load_from_http(filename, map_location=None, model_dir=None,
                   progress=os.isatty(0)):
    """Gate for ``http://``/``https://``: download into the torch hub cache
    like mmengine (rank 0 first), then read the file safely."""
    from mmengine.dist import get_dist_info
    rank, world_size = get_dist_info()
    if rank == 0:
        cached = _download(filename, model_dir, progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            cached = _download(filename, model_dir, progress)
    return _load_cached(cached, filename, map_location)


def load_from_torchvision(filename, map_location=None):
    """Gate for ``torchvision://``/``modelzoo://`` (mmengine's URL table)."""
    from mmengine.runner.checkpoint import get_torchvision_models
    prefix = 'modelzoo://' if filename.startswith('modelzoo://') else \
        'torchvision://'
    model_name = filename[len(prefix):]
    return load_from_http(get_torchvision_models()[model_name],
                          map_location=map_location)


def load_from_openmmlab(filename, map_location=None):
    """Gate for ``open-mmlab://``/``openmmlab://`` (mmengine's URL table,
    deprecated names and local files under the mmengine home)."""
    from mmengine.runner import checkpoint as ckpt
    prefix = 'open-mmlab://' if filename.startswith('open-mmlab://') else \
        'openmmlab://'
    model_name = filename[len(prefix):]
    deprecated = ckpt.get_deprecated_model_names()
    model_name = deprecated.get(model_name, model_name)
    model_url = ckpt.get_external_models()[model_name]
    if model_url.startswith(('http://', 'https://')):
        return load_from_http(model_url, map_location=map_location)
    return load_from_local(
        osp.join(ckpt._get_mmengine_home(), model_url), map_location)


def load_from_mmcls(filename, map_location=None):
    """Gate for ``mmcls://``: the URL table, then the ``backbone.`` keys."""
    from mmengine.runner import checkpoint as ckpt
    checkpoint = load_from_http(ckpt.get_mmcls_models()[filename[8:]],
                                map_location=map_location)
    return ckpt._process_mmcls_checkpoint(checkpoint)


def load_from_pavi(filename, map_location=None):
    """Gate for ``pavi://`` (needs the ``pavi`` package, as upstream)."""
    import tempfile
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError(
            'Please install pavi to load checkpoint from modelcloud.')
    model = modelcloud.get(filename[7:])
    with tempfile.TemporaryDirectory() as tmp_dir:
        downloaded = osp.join(tmp_dir, model.name)
        model.download(downloaded)
        return safe_torch_load(downloaded, map_location, source=filename)


def load_from_ceph(filename, map_location=None, backend='petrel'):
    """Gate for ``s3://``/``petrel://`` (needs ``petrel_client``)."""
    from mmengine.fileio import get_file_backend
    file_backend = get_file_backend(filename,
                                    backend_args={'backend': backend})
    with io.BytesIO(file_backend.get(filename)) as buffer:
        return safe_torch_load(buffer, map_location, source=filename)


#: every prefix mmengine 0.10.7 registers, with the gate that replaces it
GATED_SCHEMES: Dict[str, Callable] = {
    '': load_from_local,
    'http://': load_from_http,
    'https://': load_from_http,
    'modelzoo://': load_from_torchvision,
    'torchvision://': load_from_torchvision,
    'open-mmlab://': load_from_openmmlab,
    'openmmlab://': load_from_openmmlab,
    'mmcls://': load_from_mmcls,
    'pavi://': load_from_pavi,
    r'(\S+\:)?s3://': load_from_ceph,
    r'(\S+\:)?petrel://': load_from_ceph,
}


def scheme_loader(filename: str) -> Callable:
    """The gated loader of ``filename``'s scheme (longest matching prefix,
    as mmengine's ``CheckpointLoader`` chooses)."""
    for prefix in sorted(GATED_SCHEMES, key=len, reverse=True):
        if prefix and re.match(prefix, filename) is not None:
            return GATED_SCHEMES[prefix]
    return GATED_SCHEMES['']


_INSTALLED = []


def install_gate() -> None:
    """Put every checkpoint scheme of mmengine's ``CheckpointLoader`` behind
    the gate (what ``import mmconmim`` does)."""
    from mmengine.runner import CheckpointLoader
    for prefix, loader in GATED_SCHEMES.items():
        CheckpointLoader.register_scheme(prefixes=prefix, loader=loader,
                                         force=True)
    _INSTALLED.append(True)
    report_outside_change(gate_report)


def gate_installed() -> bool:
    """Whether :func:`install_gate` ran in this process."""
    return bool(_INSTALLED)


def gate_report() -> Optional[dict]:
    """The gate's item of :func:`mmconmim.utils.compat.applied_patches`."""
    if not gate_installed():
        return None
    return dict(
        name='checkpoint_trust_gate',
        targets=[f'mmengine CheckpointLoader scheme {p!r}'
                 for p in GATED_SCHEMES],
        reason='every checkpoint scheme goes through weights_only loading '
        f'with an allow-list; {TRUST_ENV_VAR}=1 opts in to full unpickling')

