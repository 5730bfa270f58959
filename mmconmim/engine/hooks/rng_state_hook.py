"""Checkpoint the main process's torch random state, for exact resume.

mmengine re-seeds on resume and replays the dataloader, which reproduces
the data order and the augmentation/mask streams (also in workers), but not
the random numbers the *model* drew in the main process -- CIM samples its
corrupted tokens, drop-path draws its masks. This hook stores the torch RNG
state with every checkpoint and restores it right before the first
iteration after ``--resume`` (after mmengine's dataloader replay, which
itself uses the generator), so the resumed run draws the same numbers as an
uninterrupted one. Iteration-based loops restore it before the first
resumed iteration (after the replay); epoch-based loops before the first
resumed epoch (before its dataloader iterator is created, as in the
uninterrupted run). Plain ``load_from`` (no resume) restores nothing.
"""
import torch
from mmengine.hooks import Hook
from mmengine.runner import IterBasedTrainLoop

from mmconmim.registry import HOOKS


@HOOKS.register_module()
class TorchRNGStateHook(Hook):
    """Save and restore ``torch``'s CPU (and CUDA) random state."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(cpu=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint['torch_rng_state'] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False):
            self._pending = checkpoint.get('torch_rng_state')

    def before_train_epoch(self, runner) -> None:
        if not isinstance(runner.train_loop, IterBasedTrainLoop):
            self._restore()

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._pending is None:
            return
        torch.set_rng_state(self._pending['cpu'])
        if 'cuda' in self._pending and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self._pending['cuda'])
        self._pending = None
