"""Scaling switches (issue 18): activation checkpointing on our backbones,
the FlexibleRunner/FSDP config for ConMIM ViT-L, and a FlexibleRunner run
with the DDP strategy on gloo."""
import copy
import os.path as osp
import re
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.models.backbones.beit import BEiTTransformerEncoderLayer
from mmpretrain.registry import MODELS

from tests.fixtures.a2mim_tiny import (cell_mask, data_samples, tiny_a2mim,
                                       tiny_convnext, tiny_resnet, tiny_vit)
from tests.fixtures.conmim_tiny import (build_tiny_conmim, tiny_batch,
                                        tiny_conmim_cfg)
from tests.fixtures.helpers import REPO_ROOT, free_port, run_tool, write_images
from mmconmim.engine.optimizers import MixedPrecisionOptimWrapper
from mmconmim.models.utils.checkpointing import (CheckpointedBEiTLayer,
                                                 checkpoint_beit_layers)

init_default_scope('mmpretrain')

FSDP_CONFIG = osp.join(
    REPO_ROOT, 'configs/conmim/'
    'fsdp/conmim_vit-large-p16_fsdp-32xb64-amp-coslr-800e_in1k.py')
BASE_CONFIG = FSDP_CONFIG.replace('fsdp/conmim_vit-large-p16_fsdp-',
                                  'conmim_vit-large-p16_')


def loss_and_grads(model, data):
    model.zero_grad()
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in
                           model.named_parameters() if p.grad is not None}


def count_calls(module):
    calls = []
    module.register_forward_hook(lambda *args: calls.append(1))
    return calls


def assert_same_training_step(plain, checkpointed, data, layer_of):
    """Equal loss and gradients; the checkpointed layers ran twice (the
    recomputation in backward), the plain ones once."""
    assert checkpointed.state_dict().keys() == plain.state_dict().keys()
    checkpointed.load_state_dict(plain.state_dict())
    plain_calls = count_calls(layer_of(plain).attn)
    cp_calls = count_calls(layer_of(checkpointed).attn)
    torch.manual_seed(1)  # drop path draws the same masks in both
    loss_p, grads_p = loss_and_grads(plain, data)
    torch.manual_seed(1)
    loss_c, grads_c = loss_and_grads(checkpointed, data)
    torch.testing.assert_close(loss_c, loss_p, rtol=0, atol=0)
    assert grads_c.keys() == grads_p.keys() and len(grads_p) > 10
    for name in grads_p:
        torch.testing.assert_close(grads_c[name], grads_p[name], rtol=1e-6,
                                   atol=1e-7, msg=name)
    assert (len(plain_calls), len(cp_calls)) == (1, 2)


@pytest.mark.parametrize('drop_path_rate', [0., 0.2])
def test_conmim_vit_with_cp_same_loss_and_gradients(drop_path_rate):
    def build(with_cp):
        cfg = tiny_conmim_cfg()
        cfg['backbone'].update(with_cp=with_cp, drop_path_rate=drop_path_rate)
        torch.manual_seed(0)
        model = MODELS.build(cfg)
        model.init_weights()
        return model

    build_tiny_conmim()  # sets max_iters for the EMA teacher
    plain, checkpointed = build(False), build(True)
    assert all(type(layer) is CheckpointedBEiTLayer
               for layer in checkpointed.backbone.layers)
    # the EMA teacher runs without grad: nothing to checkpoint there
    teacher_calls = count_calls(checkpointed.teacher.module[0].layers[0].attn)
    data = checkpointed.data_preprocessor(tiny_batch(), True)
    assert_same_training_step(plain, checkpointed, data,
                              lambda m: m.backbone.layers[0])
    assert len(teacher_calls) == 1


def test_a2mim_vit_with_cp_same_loss_and_gradients():
    plain = tiny_a2mim(tiny_vit(0, drop_path_rate=0.1), 64, 8)
    checkpointed = tiny_a2mim(tiny_vit(0, drop_path_rate=0.1, with_cp=True),
                              64, 8)
    data = plain.data_preprocessor(dict(
        inputs=torch.randint(0, 256, (2, 3, 32, 32)).float(),
        data_samples=data_samples(cell_mask(2, 2))), True)
    assert_same_training_step(plain, checkpointed, data,
                              lambda m: m.backbone.layers[0])


@pytest.mark.parametrize('backbone,channels,stride', [
    (tiny_resnet, 64, 32), (tiny_convnext, 64, 32)])
def test_cnn_backbones_pass_with_cp_to_their_blocks(backbone, channels,
                                                    stride):
    plain = tiny_a2mim(backbone(), channels, stride)
    checkpointed = tiny_a2mim(backbone(with_cp=True), channels, stride)
    blocks = [m for m in checkpointed.backbone.modules()
              if hasattr(m, 'with_cp') and m is not checkpointed.backbone]
    assert blocks and all(block.with_cp for block in blocks)
    data = plain.data_preprocessor(dict(
        inputs=torch.randint(0, 256, (2, 3, 64, 64)).float(),
        data_samples=data_samples(cell_mask(2, 2))), True)
    checkpointed.load_state_dict(plain.state_dict())
    loss_p, grads_p = loss_and_grads(plain, data)
    loss_c, grads_c = loss_and_grads(checkpointed, data)
    torch.testing.assert_close(loss_c, loss_p, rtol=0, atol=0)
    for name in grads_p:
        torch.testing.assert_close(grads_c[name], grads_p[name], rtol=1e-6,
                                   atol=1e-7, msg=name)


def test_with_cp_keeps_eval_and_state_dict_unchanged():
    build_tiny_conmim()
    cfg = tiny_conmim_cfg()
    cfg['backbone']['with_cp'] = True
    model = MODELS.build(cfg)
    backbone = model.backbone
    backbone.eval()  # mmpretrain's ViT.train() returns None
    calls = count_calls(backbone.layers[0].attn)
    img = torch.randn(2, 3, 32, 32, requires_grad=True)
    backbone(img, None)[0].sum().backward()
    assert len(calls) == 1  # eval: no recomputation
    # switching back gives the plain mmpretrain layer; subclasses are refused
    assert checkpoint_beit_layers(backbone.layers, enable=False) == 2
    assert all(type(layer) is BEiTTransformerEncoderLayer
               for layer in backbone.layers)

    class Custom(BEiTTransformerEncoderLayer):
        pass

    backbone.layers[0].__class__ = Custom
    with pytest.raises(TypeError, match='Custom subclasses'):
        checkpoint_beit_layers(backbone.layers)


def test_fsdp_config_builds_for_flexible_runner():
    cfg = Config.fromfile(FSDP_CONFIG)
    base = Config.fromfile(BASE_CONFIG)
    assert cfg.runner_type == 'FlexibleRunner'
    assert cfg.strategy.type == 'FSDPStrategy'
    wrapper = cfg.strategy.model_wrapper
    assert wrapper.type == 'ReplicatedModulesFSDP'
    assert wrapper.replicated == ['teacher']
    assert wrapper.use_orig_params is True
    assert 'auto_wrap_policy' not in wrapper  # one unit: names unchanged
    assert cfg.strategy.state_dict_cfg.state_dict_type == 'FULL_STATE_DICT'
    assert cfg.model.backbone.with_cp is True
    assert cfg.model.backbone.arch == 'large'
    # everything else is the ViT-L recipe
    for key in ('param_scheduler', 'train_cfg', 'train_dataloader'):
        assert cfg[key] == base[key], key
    for key in ('type', 'optimizer', 'clip_grad', 'constructor'):
        assert cfg.optim_wrapper[key] == base.optim_wrapper[key], key
    assert cfg.optim_wrapper.use_fsdp is True
    from mmengine.registry import STRATEGIES

    from mmconmim.engine import ReplicatedModulesFSDP
    from mmconmim.registry import MODEL_WRAPPERS
    assert MODEL_WRAPPERS.get(wrapper.type) is ReplicatedModulesFSDP
    strategy = STRATEGIES.build(copy.deepcopy(cfg.strategy))
    assert strategy.state_dict_type.name == 'FULL_STATE_DICT'
    optim = MixedPrecisionOptimWrapper(
        optimizer=torch.optim.SGD(torch.nn.Linear(2, 2).parameters(),
                                  lr=0.1),
        device='cpu', dtype='float16', use_fsdp=True)
    from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler
    assert isinstance(optim.loss_scaler, ShardedGradScaler)


def decay_by_name(model, paramwise_cfg):
    from mmengine.optim import build_optim_wrapper
    optim = build_optim_wrapper(model, dict(
        type='OptimWrapper',
        constructor='TrainableParamsOptimWrapperConstructor',
        paramwise_cfg=copy.deepcopy(paramwise_cfg),
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)))
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: group['weight_decay']
            for group in optim.optimizer.param_groups
            for p in group['params']}


def test_fsdp_weight_decay_by_name_selects_the_recipes_parameters():
    """FSDP hands the constructor flattened shards (all 1-D): the config's
    name rule on flattened parameters must give every parameter the decay
    the recipe's ndim rule gives it on the real shapes."""
    cfg = Config.fromfile(FSDP_CONFIG)
    base = Config.fromfile(BASE_CONFIG)
    model = build_tiny_conmim()  # abs. position embedding on: all kinds
    expected = decay_by_name(model, base.optim_wrapper.paramwise_cfg)
    assert sorted(set(expected.values())) == [0., 0.05]
    flat = copy.deepcopy(model)
    with torch.no_grad():
        for param in flat.parameters():
            param.data = param.data.reshape(-1)
    assert decay_by_name(flat, cfg.optim_wrapper.paramwise_cfg) == expected
    # the recipe's rule on flattened shards would drop decay everywhere
    assert set(decay_by_name(flat, base.optim_wrapper.paramwise_cfg)
               .values()) == {0.}


def test_fsdp_two_processes_equal_one_process(tmp_path):
    """The FSDP config's wrapper (replicated EMA teacher), name-based decay
    and sharded clipping, 2 gloo processes x 4 images, against one plain
    process with 8 images and the DDP recipe's rules: same student and
    teacher after 3 clipped SGD steps."""
    plain, fsdp = str(tmp_path / 'plain.pth'), str(tmp_path / 'fsdp.pth')
    script = 'tests/fixtures/fsdp_equivalence.py'
    run_tool([script, plain])
    run_tool([sys.executable, '-m', 'torch.distributed.run',
              '--nproc_per_node', '2', '--master_port', free_port(),
              script, fsdp])
    one, two = torch.load(plain), torch.load(fsdp)
    assert one.keys() == two.keys()
    assert int(two['teacher.steps']) == 3
    for key, value in one.items():
        assert two[key].shape == value.shape, key
        if value.is_floating_point():
            torch.testing.assert_close(two[key], value, rtol=1e-5,
                                       atol=1e-5, msg=key)


RUN_CFG = '''
_base_ = '{base}'
runner_type = 'FlexibleRunner'
strategy = dict(
    type='DDPStrategy',
    # CPU/gloo: torch's DDP takes no device_ids for CPU modules; on GPUs
    # leave model_wrapper out (MMDistributedDataParallel)
    model_wrapper=dict(type='mmconmim.CPUDistributedDataParallel',
                       broadcast_buffers=False))
custom_imports = dict(imports=['mmconmim', 'tests.fixtures.dist_probe'],
                      allow_failed_imports=False)
model = dict(backbone=dict(with_cp=True))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        drop_last=False,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(data_root='{data}'))
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=1)
param_scheduler = []
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=True, interval=1))
log_processor = dict(by_epoch=False, window_size=1)
custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='TorchRNGStateHook'),
                dict(type='RankProbeHook')]
'''


def test_flexible_runner_ddp_strategy_two_processes_on_gloo(tmp_path):
    data = write_images(str(tmp_path / 'images'), num=8, size=72)
    cfg = tmp_path / 'flexible_ddp.py'
    cfg.write_text(RUN_CFG.format(
        base=osp.join(REPO_ROOT, 'configs/demo/conmim_demo.py'), data=data))
    work = str(tmp_path / 'work')
    proc = run_tool(
        ['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir', work],
        env=dict(PORT=free_port()))
    log = proc.stdout + proc.stderr
    assert 'FlexibleRunner' in log or "runner_type = 'FlexibleRunner'" in log
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    probes = [torch.load(osp.join(work, f'probe_rank{r}.pth'),
                         weights_only=False) for r in (0, 1)]
    # 8 images, 2 per rank per step: 2 steps, each rank its own half
    seen = [probes[r]['seen'][0] for r in (0, 1)]
    assert sorted(seen[0] + seen[1]) == list(range(8))
    assert set(seen[0]).isdisjoint(seen[1])
    state0, state1 = probes[0]['state_dict'], probes[1]['state_dict']
    assert int(state0['teacher.steps']) == 2
    compared = 0
    for key, value in state0.items():
        if key.rsplit('.', 1)[-1] in ('running_mean', 'running_var',
                                      'num_batches_tracked'):
            continue  # plain BN: per-rank statistics
        assert torch.equal(value, state1[key]), key
        compared += 1
    assert compared > 50
    saved = torch.load(osp.join(work, 'epoch_1.pth'), weights_only=False)
    # mmengine's DDPStrategy saves the wrapper's state dict ('module.'
    # prefix, which mmengine's load_checkpoint strips by default)
    saved = {key[len('module.'):]: value
             for key, value in saved['state_dict'].items()
             if key.startswith('module.')}
    assert saved.keys() == state0.keys()
    for key in ('backbone.layers.0.attn.qkv.weight', 'teacher.steps'):
        assert torch.equal(saved[key], state0[key]), key


FSDP_RUN_CFG = '''
_base_ = '{base}'
# the ViT-L FSDP config with a tiny ViT, fp32, on the generated images
model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=64, num_layers=2,
                            num_heads=4, feedforward_channels=128)),
    neck=dict(in_channels=64, hid_channels=96, out_channels=32))
optim_wrapper = dict(cpu_bf16='off')
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(_delete_=True, type='CustomDataset', data_root='{data}',
                 with_label=False, pipeline={{{{_base_.train_pipeline}}}}))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=2)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=2))
log_processor = dict(by_epoch=False, window_size=1)
'''


def test_flexible_runner_fsdp_config_two_processes_on_gloo(tmp_path):
    """The FSDP config itself (FlexibleRunner, FSDPStrategy, replicated
    teacher, with_cp, sharded clipping) through tools/dist_train.sh on CPU,
    with a tiny ViT; the checkpoint holds full, gathered weights."""
    data = write_images(str(tmp_path / 'images'), num=4, size=240)
    cfg = tmp_path / 'fsdp_tiny.py'
    cfg.write_text(FSDP_RUN_CFG.format(base=FSDP_CONFIG, data=data))
    work = str(tmp_path / 'work')
    proc = run_tool(
        ['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir', work],
        env=dict(PORT=free_port()))
    log = proc.stdout + proc.stderr
    losses = [float(v) for v in re.findall(
        r'Iter\(train\) \[\d/2\].*?loss: ([\d.]+)', log)]
    assert len(losses) == 2, log[-3000:]
    saved = torch.load(osp.join(work, 'iter_2.pth'), weights_only=False)
    state = saved['state_dict']
    assert int(state['teacher.steps']) == 2
    for prefix in ('backbone.', 'teacher.module.0.'):
        assert state[prefix + 'layers.0.attn.qkv.weight'].shape == (192, 64)
    assert state['neck.fc0.weight'].shape == (96, 64)
    assert all(bool(torch.isfinite(v).all()) for v in state.values()
               if v.is_floating_point())
