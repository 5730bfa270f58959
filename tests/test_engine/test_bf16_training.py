"""bf16 training on CPU: autocast steps keep fp32 loss math and fp32
weights; tools/train.py --amp runs bf16."""
import re

import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from tests.fixtures.conmim_tiny import build_tiny_conmim, tiny_batch
from tests.fixtures.helpers import run_tool

init_default_scope('mmpretrain')


def test_bf16_training_steps_run_with_fp32_loss_math():
    torch.manual_seed(0)
    model = build_tiny_conmim()
    optim = build_optim_wrapper(model, dict(
        type='MixedPrecisionOptimWrapper', dtype='bfloat16',
        constructor='TrainableParamsOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-3, fused=True)))
    assert optim.cast_dtype == torch.bfloat16
    before = model.backbone.layers[0].attn.qkv.weight.detach().clone()
    seen = {}

    def record_dtype(module, inputs, output):
        seen.setdefault('projector_dtype', output.dtype)

    model.neck.fc0.register_forward_hook(record_dtype)
    losses = [model.train_step(tiny_batch(seed=s), optim)['loss']
              for s in range(3)]
    assert seen['projector_dtype'] == torch.bfloat16  # autocast is active
    assert all(loss.dtype == torch.float32 and torch.isfinite(loss)
               for loss in losses)
    assert model.backbone.layers[0].attn.qkv.weight.dtype == torch.float32
    assert not torch.equal(model.backbone.layers[0].attn.qkv.weight, before)


def test_train_script_amp_flag_runs_bf16_on_cpu(tmp_path):
    proc = run_tool([
        'tools/train.py', 'configs/demo/conmim_demo.py', '--amp',
        '--work-dir', str(tmp_path), '--cfg-options',
        'train_cfg.max_iters=2', 'train_dataloader.num_workers=0',
        'train_dataloader.batch_size=4', 'default_hooks.logger.interval=1'
    ])
    log = proc.stdout + proc.stderr
    assert "type='MixedPrecisionOptimWrapper'" in log
    assert re.search(r'Iter\(train\) \[2/2\].*loss: [\d.]+', log)
