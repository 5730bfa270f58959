"""The fast attention paths (FastBEiTAttention, FusedBEiTAttention) equal
mmpretrain's BEiTAttention and backbone, values and gradients."""
import copy

import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.models.backbones.beit import RelativePositionBias
from mmpretrain.models.utils.attention import BEiTAttention

from mmconmim.models import ConMIMViT
from mmconmim.models.utils import (FastBEiTAttention, FusedBEiTAttention,
                                   set_attention_impl)

init_default_scope('mmpretrain')


@pytest.mark.parametrize('impl,cls', [('matmul', FastBEiTAttention),
                                      ('sdpa', FusedBEiTAttention)])
@pytest.mark.parametrize('per_layer_bias', [False, True])
def test_fast_attention_equals_mmpretrain_with_relative_bias(
        per_layer_bias, impl, cls):
    torch.manual_seed(0)
    plain = BEiTAttention(embed_dims=32, num_heads=4, window_size=(4, 4),
                          use_rel_pos_bias=per_layer_bias, bias='qv_bias')
    with torch.no_grad():
        for p in plain.parameters():
            p.normal_(0, 0.3)
    fused = copy.deepcopy(plain)
    assert set_attention_impl(fused, impl) == 1
    assert type(fused) is cls
    shared = RelativePositionBias(window_size=(4, 4), num_heads=4)
    with torch.no_grad():
        shared.relative_position_bias_table.normal_()
    x = torch.randn(3, 17, 32)

    def run(module):
        module.zero_grad()
        shared.zero_grad()
        inp = x.clone().requires_grad_(True)
        out = module(inp, rel_pos_bias=shared())
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum() \
            .backward()
        grads = {n: p.grad.clone() for n, p in module.named_parameters()}
        grads['shared_table'] = shared.relative_position_bias_table.grad
        return out, inp.grad, grads

    out_p, dx_p, g_p = run(plain)
    out_f, dx_f, g_f = run(fused)
    torch.testing.assert_close(out_f, out_p, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(dx_f, dx_p, rtol=1e-5, atol=1e-5)
    for name in g_p:
        torch.testing.assert_close(g_f[name], g_p[name], rtol=1e-5,
                                   atol=1e-5, msg=name)


@pytest.mark.parametrize('impl', ['matmul', 'sdpa'])
def test_fast_backbone_equals_mmpretrain_backbone(impl):
    arch = dict(embed_dims=32, num_layers=2, num_heads=4,
                feedforward_channels=64)
    torch.manual_seed(0)
    plain = ConMIMViT(arch=arch, img_size=32, patch_size=8, out_type='raw',
                      attention_impl='mmpretrain')
    plain.init_weights()
    with torch.no_grad():
        plain.rel_pos_bias.relative_position_bias_table.normal_()
    fused = ConMIMViT(arch=arch, img_size=32, patch_size=8, out_type='raw',
                      attention_impl=impl)
    fused.load_state_dict(plain.state_dict())
    assert set(fused.state_dict()) == set(plain.state_dict())
    img = torch.randn(2, 3, 32, 32)
    mask = torch.rand(2, 4, 4) < 0.5
    out_p, out_f = plain(img, mask)[0], fused(img, mask)[0]
    torch.testing.assert_close(out_f, out_p, rtol=1e-5, atol=1e-5)
    out_p.square().mean().backward()
    out_f.square().mean().backward()
    for (name, p), q in zip(plain.named_parameters(), fused.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6,
                                   msg=name)
