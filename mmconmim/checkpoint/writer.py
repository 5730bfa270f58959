"""The one writer: output paths are checked once (:func:`check_output_path`)
and files are written atomically with the permissions of the umask
(:func:`atomic_output`, :func:`save_file`, :func:`save_safetensors`).

Atomic: the data goes to a temporary name in the output's folder
(:func:`temp_name`: ``.NAME.<token>``), is flushed to disk and renamed over
the output only when complete, so a killed run never leaves a half-written
file under the final name (``SafeCheckpointHook`` writes its checkpoints and
``last_checkpoint`` the same way). Umask: the temporary file is given
``0o666 & ~umask`` before the rename, like a file created with ``open``
(``safetensors`` and ``tempfile`` create theirs 0600).
"""
import os
import os.path as osp
import uuid
from contextlib import contextmanager
from typing import Dict, Iterable, Optional

import torch

from .errors import OutputPathError
from .reader import is_url


def current_umask() -> int:
    """The process umask (read by setting it and restoring it at once)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def same_file(path_a: str, path_b: str) -> bool:
    """Whether two paths name the same file (``..``, symlinks and hard
    links included); a path that does not exist yet names no file."""
    if osp.exists(path_a) and osp.exists(path_b):
        return osp.samefile(path_a, path_b)
    return osp.realpath(path_a) == osp.realpath(path_b)


def check_output_path(output: str, inputs: Iterable[str] = (),
                      force: bool = False) -> None:
    """Refuse to write ``output`` over one of ``inputs`` (always, even with
    ``force``), over a folder, to a URL, or over an existing file unless
    ``force``.

    Raises:
        OutputPathError: naming the file and the way out.
    """
    if is_url(output):
        raise OutputPathError(f'the output {output!r} is a URL; URLs are not '
                              'taken here: give a local file path')
    for src in inputs:
        if src is not None and not is_url(src) and same_file(output, src):
            raise OutputPathError(
                f'refusing to write the output over the input {src!r}: that '
                'would destroy the source (even with --force); choose another '
                'output path')
    if osp.isdir(output):
        raise OutputPathError(f'the output {output!r} is a directory; give '
                              'a file path')
    if osp.lexists(output) and not force:
        raise OutputPathError(
            f'the output {output!r} already exists; pass --force to '
            'overwrite it, or choose another path')


def temp_name(filename: str) -> str:
    """The temporary name a file is written under before the rename."""
    return f'.{filename}.{uuid.uuid4().hex[:12]}'


def fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: str) -> None:
    try:  # makes the rename itself durable; not supported everywhere
        fsync_path(directory)
    except OSError:
        pass


@contextmanager
def atomic_output(path: str):
    """Yield a temporary path next to ``path``; when the block succeeds,
    flush it to disk, give it the umask's permissions and rename it to
    ``path`` (it is removed if the block fails)."""
    path = str(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, temp_name(osp.basename(path)))
    try:
        yield tmp
        fsync_path(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    fsync_dir(folder)


def save_bytes(data, path: str) -> None:
    """Bytes (or text, UTF-8) to ``path``, atomically, with the umask's
    mode."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    with atomic_output(path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)


def save_file(obj, path: str) -> None:
    """``torch.save(obj, path)``, atomically, with the umask's mode."""
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def save_safetensors(tensors: Dict[str, torch.Tensor], path: str,
                     metadata: Optional[Dict[str, str]] = None) -> None:
    """A ``.safetensors`` file, atomically, with the umask's mode."""
    from safetensors.torch import save_file as save_tensors
    with atomic_output(path) as tmp:
        save_tensors({k: v.contiguous() for k, v in tensors.items()}, tmp,
                     metadata=metadata)


def save_text(text: str, path: str) -> None:
    """A text file (a report, ``metrics.json``...), atomically, with the
    umask's mode."""
    save_bytes(text, path)


def save_json(obj, path: str, **dump_kwargs) -> None:
    """``json.dump(obj)`` to ``path`` through :func:`save_text`."""
    import json
    save_text(json.dumps(obj, **dump_kwargs), path)
