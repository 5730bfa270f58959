"""Crash-safe checkpointing.

mmengine 0.10.7 writes checkpoint files and the ``last_checkpoint`` pointer
in place (``open(path, 'wb')``), and deletes the oldest checkpoint *before*
writing the new one. A crash or preemption while saving can therefore leave
a truncated ``iter_N.pth``, a pointer to it, and -- with ``max_keep_ckpts=1``
-- no usable checkpoint at all.

* :class:`AtomicLocalBackend` replaces mmengine's local file backend (on
  ``import mmconmim``): every file is written to a temporary name in the same
  directory, flushed to disk and renamed over the target (atomic on POSIX).
* :class:`SafeCheckpointHook` (a ``CheckpointHook``) writes the new checkpoint
  first, then the pointer (atomically), then deletes old checkpoints, and
  refuses to save a model whose weights are no longer finite.
"""
import os
import os.path as osp
import tempfile

import torch
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.fileio import io as mmengine_io
from mmengine.hooks import CheckpointHook

from mmconmim.registry import HOOKS


def atomic_write(data, filepath: str) -> None:
    """Write bytes/str to ``filepath`` through a temp file and a rename."""
    filepath = str(filepath)
    directory = osp.dirname(osp.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    mode = 'wb' if isinstance(data, (bytes, bytearray, memoryview)) else 'w'
    fd, tmp = tempfile.mkstemp(dir=directory,
                               prefix=f'.{osp.basename(filepath)}.')
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


class AtomicLocalBackend(LocalBackend):
    """mmengine's local backend with write-then-rename ``put``/``put_text``."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), filepath)


def register_atomic_local_backend() -> None:
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    # get_file_backend caches instances; drop any created before us.
    mmengine_io.backend_instances.clear()


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that never leaves the run without a usable
    checkpoint. Same arguments as mmengine's ``CheckpointHook``."""

    def _save_checkpoint_with_step(self, runner, step, meta):
        self._check_finite(runner, step)
        expired = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                expired.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        atomic_write(self.last_ckpt, osp.join(runner.work_dir,
                                              'last_checkpoint'))
        # Only now that the new checkpoint is complete, drop old ones.
        for old_step in expired:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(old_step))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)

    @staticmethod
    def _check_finite(runner, step) -> None:
        model = runner.model.module if hasattr(runner.model,
                                               'module') else runner.model
        bad = [name for name, tensor in model.state_dict().items()
               if tensor.is_floating_point() and
               not bool(torch.isfinite(tensor).all())]
        if bad:
            raise FloatingPointError(
                f'Not saving the checkpoint at step {step}: {len(bad)} '
                f'tensors are NaN/Inf (first: {bad[0]}). The previous '
                'checkpoint is kept.')
