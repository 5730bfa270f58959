# Runtime shared by the CPU demos (configs/demo/*.py): the project runtime
# with iteration-based logging and checkpoints for short runs and gloo for
# machines without CUDA. It inherits default_runtime.py rather than sitting
# beside it in a demo's _base_ list, because mmengine refuses two bases that
# define the same key (default_hooks, env_cfg, log_processor). Schedule keys
# (train_cfg, param_scheduler) stay in each demo: their schedule base
# defines them.
_base_ = '../../_base_/default_runtime.py'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(
        type='SafeCheckpointHook', by_epoch=False, interval=100,
        max_keep_ckpts=2))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
log_processor = dict(by_epoch=False)
