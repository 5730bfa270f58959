# Runtime defaults for mmconmim configs (mmpretrain conventions).
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmconmim'], allow_failed_imports=False)
# mmengine's Runner that fails when load_from / --resume / tools/test.py /
# init_cfg=Pretrained load less than min_checkpoint_coverage of the model
# they target (a checkpoint of another model), see docs/transfer.md, and whose
# dataloader workers exit when the main process dies (after a SIGKILL they
# would otherwise block forever holding memory)
runner_type = 'mmconmim.MMConMIMRunner'
min_checkpoint_coverage = 0.5

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # writes checkpoints atomically, deletes old ones only after the new one
    # is complete, refuses non-finite weights
    checkpoint=dict(type='SafeCheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # a clear error instead of a bare StopIteration when a finite sampler
    # with drop_last=True yields no batch (batch larger than the dataset)
    train_data_check=dict(type='TrainDataCheckHook'),
)

# stops the run at the first NaN/Inf loss, naming the iteration; keeps the
# model's random stream (CIM sampling, drop path) exact across --resume
custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='TorchRNGStateHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo on machines without CUDA.
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=True, deterministic=False)
