"""mmengine's Runner whose dataloader workers exit with the main process.

Selected by ``runner_type = 'mmconmim.WorkerWatchdogRunner'`` in
``configs/_base_/default_runtime.py`` (tools/train.py, tools/test.py and the
mmpretrain/mmseg/mmdet train scripts build ``runner_type`` through
``RUNNERS``). The only change: every dataloader it builds gets
:class:`~mmconmim.datasets.worker_watchdog.ExitWithParentWorkerInit` around
mmengine's own ``worker_init_fn``, so after a SIGKILL of the main process the
workers exit within a second instead of blocking forever. Seeding and data
order are unchanged. Runners built with a plain ``Runner.from_cfg`` (other
configs) are not affected.
"""
from mmengine.runner import Runner

from mmconmim.datasets.worker_watchdog import exit_workers_with_parent
from mmconmim.registry import RUNNERS

__all__ = ['WorkerWatchdogRunner']


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
