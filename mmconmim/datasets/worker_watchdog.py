"""Dataloader workers that exit when the main process dies.

PyTorch's worker loop notices a dead parent (its ``ManagerWatchdog``) and
leaves the loop, but then exits through multiprocessing's finalizers, which
join the result queue's feeder thread. After the main process is killed with
SIGKILL nobody reads that queue any more (and the sibling workers keep its
pipe open), so a worker with a batch still in flight blocks there forever,
keeping its memory (hundreds of MB per worker in a real run).

:class:`ExitWithParentWorkerInit` wraps a DataLoader's ``worker_init_fn``: it
first runs the wrapped function unchanged (mmengine's per-worker seeding, so
the data stream stays bit-identical), then starts a daemon thread that polls
the worker's parent pid and ends the worker with ``os._exit`` once the parent
is gone. Polling ``getppid`` (as PyTorch's own watchdog does) rather than
``PR_SET_PDEATHSIG`` keeps it portable and independent of which thread
created the worker (the death signal fires when that *thread* exits).
"""
import os
import threading
import time
from typing import Callable, Optional

# Seconds between two parent checks: a worker outlives a killed main process
# by at most about this long.
POLL_INTERVAL = 0.5


def _exit_when_orphaned(parent_pid: int, interval: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(interval)
    # The parent is gone: nothing will read our results. os._exit skips the
    # finalizers that would block on the unread result queue.
    os._exit(0)


def start_parent_watchdog(interval: float = POLL_INTERVAL) -> threading.Thread:
    """In the calling (worker) process, start a daemon thread that ends the
    process as soon as its current parent process has exited."""
    thread = threading.Thread(
        target=_exit_when_orphaned, args=(os.getppid(), interval),
        name='mmconmim-parent-watchdog', daemon=True)
    thread.start()
    return thread


class ExitWithParentWorkerInit:
    """``worker_init_fn`` = the wrapped one + :func:`start_parent_watchdog`.

    Args:
        worker_init_fn (callable, optional): The DataLoader's original
            ``worker_init_fn`` (for example mmengine's seeding partial); it
            runs first, with the same argument.
        interval (float): Seconds between parent checks.
    """

    def __init__(self, worker_init_fn: Optional[Callable] = None,
                 interval: float = POLL_INTERVAL) -> None:
        self.worker_init_fn = worker_init_fn
        self.interval = interval

    def __call__(self, worker_id: int) -> None:
        if self.worker_init_fn is not None:
            self.worker_init_fn(worker_id)
        start_parent_watchdog(self.interval)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({self.worker_init_fn!r}, '
                f'interval={self.interval})')


def exit_workers_with_parent(loader):
    """Make the workers of a ``torch.utils.data.DataLoader`` exit with their
    parent (no-op without workers, or if already applied). Call it before
    the loader's first ``iter()``; workers started earlier keep the old
    function. Returns the loader."""
    if getattr(loader, 'num_workers', 0) > 0 and not isinstance(
            loader.worker_init_fn, ExitWithParentWorkerInit):
        loader.worker_init_fn = ExitWithParentWorkerInit(
            loader.worker_init_fn)
    return loader
