"""Stop training as soon as the loss is NaN or infinite."""
import math

import torch
from mmengine.hooks import Hook

from mmconmim.registry import HOOKS
from mmconmim.utils.validation import check_number


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise ``FloatingPointError`` naming the iteration when a loss is NaN
    or Inf.

    It runs before the checkpoint hook of the same iteration, so the run
    stops before a broken model is saved and the last checkpoint stays good
    (``SafeCheckpointHook`` also refuses non-finite weights).

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1
            (the runner already reads the loss on every iteration for
            logging, so checking adds no device synchronisation of note).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1) -> None:
        check_number('NonFiniteLossHook', 'interval', interval, low=1,
                     bool_ok=True)
        self.interval = interval

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if outputs is None or not self.every_n_train_iters(
                runner, self.interval):
            return
        bad = {}
        for name, value in outputs.items():
            if not name.startswith('loss'):
                continue
            number = float(value.detach()) if isinstance(
                value, torch.Tensor) else float(value)
            if not math.isfinite(number):
                bad[name] = number
        if bad:
            last = runner.message_hub.get_info('last_ckpt')
            raise FloatingPointError(
                f'Non-finite loss at iteration {runner.iter + 1}: {bad}. '
                f'Training stopped; the last checkpoint is '
                f'{last or "(none saved yet)"}.')
