"""Crash-safe checkpointing, confined to :class:`SafeCheckpointHook`.

mmengine 0.10.7's ``CheckpointHook`` deletes the oldest checkpoint *before*
writing the new one, writes the checkpoint in place and then the
``last_checkpoint`` pointer in place (``open(path, 'w')``). A crash or
preemption while saving can therefore leave a truncated ``iter_N.pth``, a
pointer to it, and -- with ``max_keep_ckpts=1`` -- no usable checkpoint.

:class:`SafeCheckpointHook` (a ``CheckpointHook``, same arguments) instead

* refuses to save a model whose weights are no longer finite;
* writes the checkpoint to a temporary name in the same directory
  (``.iter_N.pth.<token>``), flushes it to disk and renames it over the
  target (atomic on POSIX), then replaces the pointer the same way, and only
  then deletes expired checkpoints;
* removes, at the start of a run, the temporary files a killed save left
  behind, logging each.

Files are created with the normal ``open`` modes, so they honour the umask
(0644 under umask 022). Nothing outside this hook changes: mmengine's file
backends, and every other hook's or library's writes, are untouched.
"""
import os
import os.path as osp
import re

import torch
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook

from mmconmim.checkpoint.writer import fsync_dir as _fsync_dir
from mmconmim.checkpoint.writer import fsync_path as _fsync_path
from mmconmim.checkpoint.writer import save_bytes, temp_name
from mmconmim.registry import HOOKS

POINTER_NAME = 'last_checkpoint'


# the one writer's temporary names, flush and atomic write
atomic_write = save_bytes


def temp_file_pattern(filename_tmpl: str) -> re.Pattern:
    """Matches the temporary files :class:`SafeCheckpointHook` writes for
    checkpoints named by ``filename_tmpl`` or by the default iteration/epoch
    names (``iter_{}.pth`` -> ``.iter_12.pth.<token>``) and for the
    pointer."""
    names = [
        re.escape(tmpl).replace(re.escape('{}'), r'\d+')
        for tmpl in sorted({filename_tmpl, 'iter_{}.pth', 'epoch_{}.pth'})
    ]
    return re.compile(
        rf'^\.(?:{"|".join(names + [POINTER_NAME])})\.[0-9A-Za-z_]+$')


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that never leaves the run without a usable
    checkpoint. Same arguments as mmengine's ``CheckpointHook``."""

    def before_run(self, runner) -> None:
        """Remove temporary files a killed save left behind (before
        ``--resume`` reads the pointer)."""
        super().before_run(runner)
        if not is_main_process():
            return
        pattern = temp_file_pattern(self.filename_tmpl)
        directories = {runner.work_dir}
        if self.out_dir is not None and self.out_dir != runner.work_dir and \
                '://' not in str(self.out_dir):
            # the directory before_train will derive, as upstream does
            directories.add(osp.join(
                self.out_dir, osp.basename(runner.work_dir.rstrip(osp.sep))))
        for directory in sorted(directories):
            if not osp.isdir(directory):
                continue
            for name in sorted(os.listdir(directory)):
                path = osp.join(directory, name)
                if pattern.match(name) and osp.isfile(path):
                    os.remove(path)
                    runner.logger.warning(
                        f'Removed {path}: a partial file left by a save that '
                        'was interrupted.')

    # Why a private method is overridden: in mmengine 0.10.7 the three steps
    # that have to be reordered and made atomic -- deleting the oldest
    # checkpoint, writing the new one, writing ``last_checkpoint`` with a bare
    # ``open(..., 'w')`` -- all happen inside ``_save_checkpoint_with_step``,
    # and no public hook method runs between them. The alternative,
    # re-implementing the public ``after_train_iter``/``after_train_epoch``/
    # ``after_val_epoch`` (save-best rules included), would copy far more
    # upstream code. The override keeps upstream's observable protocol (file
    # names, ``keep_ckpt_ids``/``last_ckpt`` in the message hub, pointer
    # content); tests/test_engine/test_safe_checkpoint_hook.py compares a run
    # with upstream's ``CheckpointHook``.
    def _save_checkpoint_with_step(self, runner, step, meta):
        self.check_finite(runner, step)
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
        local = self.file_client_args is None and isinstance(
            self.file_backend, LocalBackend)
        # elsewhere (object stores) there is no rename: write in place
        written_name = temp_name(ckpt_filename) if local else ckpt_filename
        written = self.file_backend.join_path(self.out_dir, written_name)
        try:
            runner.save_checkpoint(
                self.out_dir,
                written_name,
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
            if local and is_main_process():
                _fsync_path(written)
                os.replace(written, self.last_ckpt)
                _fsync_dir(self.out_dir)
        except BaseException:
            if local and osp.exists(written):
                os.remove(written)
            raise
        if not is_main_process():
            return
        atomic_write(self.last_ckpt, osp.join(runner.work_dir, POINTER_NAME))
        # Only now that the new checkpoint is complete, drop old ones.
        for old_step in expired:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(old_step))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)

    @staticmethod
    def check_finite(runner, step) -> None:
        """Raise ``FloatingPointError`` naming the first NaN/Inf tensor of
        the runner's model (run before every save)."""
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
