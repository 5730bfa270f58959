"""Training-time budget of a method comparison (``tools/compare_methods.py``,
docs/compare_methods.md).

:class:`CompareBudgetHook` counts the time of the training iterations only
(data loading, forward, backward, optimizer step), not the kNN evaluations,
logging and checkpoints that run in ``after_train_iter`` hooks, and with
``minutes`` stops the run when the budget is spent. :class:`CompareIterEndHook`
runs last in every iteration and marks where the hooks end: the time from
that mark to the next ``after_train_iter`` is training. The count at each
checkpoint is kept in ``budget.json`` in the work dir, so a resumed run
continues from its checkpoint's count.
"""
import json
import os
import os.path as osp
import time
from typing import Optional

from mmengine.hooks import Hook

from mmconmim.registry import HOOKS
from mmconmim.utils.validation import check_int, check_positive

BUDGET_FILE = 'budget.json'


@HOOKS.register_module()
class CompareBudgetHook(Hook):
    """Count training seconds and stop at ``minutes`` (None: count only).

    Args:
        minutes: Training-time budget; None or 0 counts without stopping.
        checkpoint_interval: The runner's checkpoint interval (iterations):
            the count is saved at these iterations, where a resume starts.
    """

    priority = 'HIGHEST'

    def __init__(self, minutes: Optional[float] = None,
                 checkpoint_interval: int = 1) -> None:
        if minutes:
            check_positive('CompareBudgetHook', 'minutes', minutes,
                           finite=True)
        self.limit = None if not minutes else float(minutes) * 60.
        self.checkpoint_interval = check_int(
            'CompareBudgetHook', 'checkpoint_interval', checkpoint_interval,
            min=1)
        self.elapsed = 0.
        self.iter_end = None
        self.start_iter = 0
        self.record = {}

    def _path(self, runner) -> str:
        return osp.join(runner.work_dir, BUDGET_FILE)

    def before_train(self, runner) -> None:
        path = self._path(runner)
        if osp.isfile(path):
            with open(path) as f:
                self.record = {int(k): v for k, v in
                               json.load(f)['elapsed_at_iter'].items()}
        self.start_iter = runner.iter
        self.elapsed = self.record.get(runner.iter, 0.)

    @property
    def spent(self) -> bool:
        return self.limit is not None and self.elapsed >= self.limit

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        now = time.perf_counter()
        if self.iter_end is not None:
            self.elapsed += now - self.iter_end
        step = runner.iter + 1
        if step % self.checkpoint_interval == 0 or self.spent:
            self.record[step] = self.elapsed
            path = self._path(runner)
            with open(path + '.tmp', 'w') as f:
                json.dump(dict(elapsed_at_iter=self.record), f)
            os.replace(path + '.tmp', path)
        if self.spent:
            runner.logger.info(
                f'CompareBudgetHook: {self.elapsed:.1f} s of training >= '
                f'{self.limit:.0f} s budget; stopping after iteration {step}')
            runner.train_loop.stop_training = True


@HOOKS.register_module()
class CompareIterEndHook(Hook):
    """Marks the end of an iteration's hooks for :class:`CompareBudgetHook`
    (it runs last; the time until the next ``after_train_iter`` is
    training)."""

    priority = 'LOWEST'

    def _budget(self, runner) -> CompareBudgetHook:
        for hook in runner.hooks:
            if isinstance(hook, CompareBudgetHook):
                return hook
        raise RuntimeError('CompareIterEndHook needs a CompareBudgetHook in '
                           'custom_hooks (it marks where that hook\'s '
                           'training time resumes)')

    def before_train_epoch(self, runner) -> None:
        self._budget(runner).iter_end = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self._budget(runner).iter_end = time.perf_counter()
