"""ConMIM algorithm: gradients, EMA teacher, optimizer groups, overfitting,
input validation."""
import math

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.models.utils import CosineEMA
from torch import nn

from tests.fixtures.conmim_tiny import build_tiny_conmim, tiny_batch
from mmconmim.models import ForeachCosineEMA

init_default_scope('mmpretrain')

OPTIM = dict(
    type='OptimWrapper',
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.98),
                   weight_decay=0.05),
    paramwise_cfg=dict(
        flat_decay_mult=0.,
        custom_keys={'cls_token': dict(decay_mult=0.),
                     'pos_embed': dict(decay_mult=0.)}))


def loss_of(model, batch):
    data = model.data_preprocessor(batch, True)
    return model(**data, mode='loss')['loss']


def test_gradients_reach_only_the_student():
    torch.manual_seed(0)
    model = build_tiny_conmim()
    loss_of(model, tiny_batch()).backward()
    for name, param in model.teacher.named_parameters():
        assert not param.requires_grad and param.grad is None, name
    missing = [n for n, p in model.named_parameters()
               if p.requires_grad and (p.grad is None or
                                       not p.grad.abs().sum() > 0)]
    assert missing == []


def test_teacher_update_follows_the_scheduled_momentum():
    """After an optimizer step the next update gives
    teacher = m * teacher + (1 - m) * student, with the official
    m_k = 1 - 0.004 * (cos(pi k / N) + 1) / 2 (0.996 -> 1)."""
    torch.manual_seed(0)
    max_iters = 10
    model = build_tiny_conmim(max_iters=max_iters)
    optim = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.5)
    student = nn.Sequential(model.backbone, model.neck)

    loss_of(model, tiny_batch(seed=0)).backward()  # step 0: copy
    for (name, t), s in zip(model.teacher.module.named_parameters(),
                            student.parameters()):
        assert torch.equal(t, s), name
    optim.step()
    optim.zero_grad()
    teacher_before = [p.clone() for p in model.teacher.module.parameters()]
    student_now = [p.detach().clone() for p in student.parameters()]

    loss_of(model, tiny_batch(seed=1))  # step 1 updates the teacher first
    m = 1 - 0.004 * (math.cos(math.pi * 1 / max_iters) + 1) / 2
    moved = 0
    for t_new, t_old, s in zip(model.teacher.module.parameters(),
                               teacher_before, student_now):
        torch.testing.assert_close(t_new, m * t_old + (1 - m) * s,
                                   rtol=1e-6, atol=1e-7)
        moved += int(not torch.equal(t_new, t_old))
    assert moved > 0
    assert int(model.teacher.steps) == 2


def test_teacher_batchnorm_uses_batch_statistics():
    torch.manual_seed(0)
    model = build_tiny_conmim()
    model.train()
    captured = {}
    last_bn = model.teacher.module[1].bn2
    last_bn.register_forward_hook(
        lambda mod, inp, out: captured.update(training=mod.training, out=out))
    loss_of(model, tiny_batch())
    assert captured['training']
    out = captured['out']  # (B * L, C), affine-free BN
    # Batch statistics normalise every channel over the batch's tokens;
    # the running statistics (mean 0, var 1 at init) would not.
    torch.testing.assert_close(out.mean(0), torch.zeros(out.shape[1]),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(0, unbiased=False),
                               torch.ones(out.shape[1]), atol=1e-3, rtol=0)


def test_teacher_is_never_in_the_optimizer_and_decay_follows_the_recipe():
    model = build_tiny_conmim()
    wrapper = build_optim_wrapper(model, OPTIM)
    in_optim = {id(p): g['weight_decay']
                for g in wrapper.optimizer.param_groups for p in g['params']}
    teacher = {id(p) for p in model.teacher.parameters()}
    assert not teacher & set(in_optim)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert set(in_optim) == trainable

    named = dict(model.named_parameters())

    def decay(name):
        return in_optim[id(named[name])]

    assert decay('backbone.mask_token') == 0.05
    assert decay('backbone.rel_pos_bias.relative_position_bias_table') == 0.05
    assert decay('backbone.layers.0.attn.qkv.weight') == 0.05
    assert decay('neck.fc0.weight') == 0.05
    for name in ('backbone.cls_token', 'backbone.pos_embed',
                 'backbone.layers.0.attn.q_bias', 'backbone.layers.0.gamma_1',
                 'backbone.layers.0.ln1.weight', 'neck.bn0.weight',
                 'backbone.patch_embed.projection.bias'):
        assert decay(name) == 0., name


def test_tiny_model_overfits_one_batch():
    torch.manual_seed(0)
    # The paper's architecture: no absolute position embedding.
    model = build_tiny_conmim(max_iters=150, use_abs_pos_emb=False)
    batch = tiny_batch(batch_size=8, seed=1)
    optim = build_optim_wrapper(model, dict(OPTIM, optimizer=dict(
        type='AdamW', lr=3e-3, betas=(0.9, 0.98), weight_decay=0.05)))
    losses = []
    for _ in range(150):
        loss = loss_of(model, batch)
        optim.update_params(loss)
        losses.append(loss.item())
    assert min(losses[-10:]) < 0.5 * losses[0], losses[::10]


def test_foreach_ema_equals_the_mmpretrain_loop():
    MessageHub.get_current_instance().update_info('max_iters', 20)
    torch.manual_seed(0)
    source = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5),
                           nn.Linear(5, 3))
    ours = ForeachCosineEMA(source, momentum=0.05, end_momentum=0.)
    reference = CosineEMA(source, momentum=0.05, end_momentum=0.)
    for _ in range(5):
        with torch.no_grad():
            for p in source.parameters():
                p.add_(torch.randn_like(p))
            source[1].running_mean.add_(1.)
        ours.update_parameters(source)
        reference.update_parameters(source)
    for (name, a), b in zip(ours.state_dict().items(),
                            reference.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize('momentum', [-0.1, 1.5, 'x'])
def test_rejects_momentum_outside_unit_interval(momentum):
    with pytest.raises(ValueError, match='momentum must be a number in'):
        build_tiny_conmim(momentum=momentum)


def test_rejects_image_size_not_divisible_by_patch():
    with pytest.raises(ValueError, match='not divisible by its patch_size'):
        build_tiny_conmim(img_size=36, patch_size=8)


def test_rejects_views_or_masks_that_do_not_fit_the_backbone():
    model = build_tiny_conmim()
    batch = tiny_batch(img_size=40)
    with pytest.raises(ValueError, match=r'student view is \(40, 40\) px'):
        loss_of(model, batch)
    batch = tiny_batch(grid=5)
    with pytest.raises(ValueError, match=r'mask grid \(5, 5\)'):
        loss_of(model, batch)
