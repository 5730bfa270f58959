"""Runners that refuse checkpoints which do not fit the model.

mmengine loads checkpoints non-strictly: ``load_from``, ``--resume``,
``tools/test.py`` and ``init_cfg=dict(type='Pretrained')`` only *log* missing
and unexpected keys. A checkpoint of another model (an A2MIM ResNet into
ConMIM, a ViT export into a ResNet config) then trains from random weights
and the run exits 0. :class:`CheckpointCoverageRunner` watches each of these
loads with :class:`~mmconmim.checkpoint.coverage.LoadWatcher` (the coverage
diagnostics of the checkpoint room) and raises
:class:`~mmconmim.checkpoint.coverage.CheckpointMismatchError` when fewer
than ``min_checkpoint_coverage`` (config key, default 0.5) of the target's
parameter values were loaded. Model-level loads first run the named
pre-load step :func:`~mmconmim.checkpoint.layout.expand_shared_tables`, so
BEiT-style fine-tuning backbones get the shared relative position table of a
pre-training checkpoint.

The runner our configs select, :class:`MMConMIMRunner`, applies the version
fixes of :mod:`mmconmim.utils.compat` and combines this check with
:class:`WorkerWatchdogRunner`: mmengine's Runner whose dataloader workers
exit with the main process. Every dataloader it builds gets
:class:`~mmconmim.datasets.worker_watchdog.ExitWithParentWorkerInit` around
mmengine's own ``worker_init_fn``, so after a SIGKILL of the main process the
workers exit within a second instead of blocking forever. Seeding and data
order are unchanged. Runners built with a plain ``Runner.from_cfg`` (other
configs) are not affected.
"""
from typing import Optional

from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from torch import nn

from mmconmim.checkpoint.coverage import (DEFAULT_MIN_COVERAGE,
                                          CheckpointMismatchError,
                                          LoadWatcher, pretrained_init_cfg)
from mmconmim.datasets.worker_watchdog import exit_workers_with_parent
from mmconmim.registry import RUNNERS
from mmconmim.utils.compat import apply_compat_fixes

__all__ = [
    'CheckpointCoverageRunner', 'CheckpointMismatchError', 'LoadWatcher',
    'DEFAULT_MIN_COVERAGE', 'WorkerWatchdogRunner', 'MMConMIMRunner'
]


@RUNNERS.register_module()
class CheckpointCoverageRunner(Runner):
    """mmengine's ``Runner`` whose checkpoint loads must cover at least
    ``cfg.min_checkpoint_coverage`` (default 0.5) of their target.

    Covers ``load_from``, ``--resume`` and ``tools/test.py`` (all go through
    :meth:`load_checkpoint`) and ``init_cfg=dict(type='Pretrained')`` of any
    module of the model (watched from :meth:`build_model` until
    :meth:`load_or_resume`, which ``train()`` calls right after initialising
    the weights). Select it with ``runner_type`` in the config; the runtime
    bases of mmconmim's configs do.
    """

    _init_watcher: Optional[LoadWatcher] = None

    @property
    def min_checkpoint_coverage(self) -> float:
        return float(self.cfg.get('min_checkpoint_coverage',
                                  DEFAULT_MIN_COVERAGE))

    def build_model(self, model) -> nn.Module:
        model = super().build_model(model)
        roots = {}
        for module in model.modules():
            cfg = pretrained_init_cfg(module)
            if cfg is not None:
                roots[module] = \
                    f"init_cfg checkpoint {cfg.get('checkpoint')!r}"
        if roots:
            self._init_watcher = LoadWatcher(
                roots, self.min_checkpoint_coverage).install()
        return model

    def load_or_resume(self) -> None:
        # Pretrained initialisation is over (train() initialises the weights
        # just before this); later loads are watched by load_checkpoint.
        if self._init_watcher is not None:
            self._init_watcher.remove()
            self._init_watcher = None
        super().load_or_resume()

    def load_checkpoint(self,
                        filename: str,
                        map_location='cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        with LoadWatcher({model: f'checkpoint {filename!r}'},
                         self.min_checkpoint_coverage,
                         expand_shared_tables=True):
            return super().load_checkpoint(
                filename, map_location=map_location, strict=strict,
                revise_keys=revise_keys)


@RUNNERS.register_module()
class WorkerWatchdogRunner(Runner):
    """:class:`mmengine.runner.Runner` + workers that exit with their parent.
    """

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        # the loops call runner.build_dataloader: this override sees every
        # train/val/test loader before its workers start
        return exit_workers_with_parent(
            Runner.build_dataloader(
                dataloader, seed=seed, diff_rank_seed=diff_rank_seed))


@RUNNERS.register_module()
class MMConMIMRunner(CheckpointCoverageRunner, WorkerWatchdogRunner):
    """The runner of mmconmim's configs: checkpoint loads must cover
    ``min_checkpoint_coverage`` of their target, dataloader workers exit
    with the main process, and the version fixes of
    :mod:`mmconmim.utils.compat` are applied before anything is built."""

    def __init__(self, *args, **kwargs):
        apply_compat_fixes()
        super().__init__(*args, **kwargs)
