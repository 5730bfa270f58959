"""What a checkpoint file is, in one line, for the titles of the PNGs the
visualisation tools write (every figure names the weights it shows)."""
import os.path as osp
from typing import Optional

from .reader import read_meta

RANDOM_INIT = ('none', 'random')


def checkpoint_meta(path: str) -> dict:
    """The ``meta`` dict of a runner checkpoint or an export ({} if none)."""
    return read_meta(path)


def checkpoint_label(path: Optional[str], meta: Optional[dict] = None) -> str:
    """E.g. ``'iter_300.pth (iteration 300)'``, ``'vit.pth (exported teacher,
    iteration 800)'``, or ``'no checkpoint (random initialisation)'``."""
    if path is None or str(path).lower() in RANDOM_INIT:
        return 'no checkpoint (random initialisation)'
    if meta is None:
        meta = checkpoint_meta(path)
    parts = []
    if 'source' in meta and 'source_checkpoint' in meta:  # export_backbone
        parts.append(f'exported {meta["source"]}')
        iteration = meta.get('iteration', -1)
    else:
        iteration = meta.get('iter', -1)
    if iteration is not None and int(iteration) >= 0:
        parts.append(f'iteration {int(iteration)}')
    else:
        parts.append('iteration unknown')
    return f'{osp.basename(path)} ({", ".join(parts)})'
