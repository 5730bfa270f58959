"""CLS-attention and patch-similarity maps against naive recomputations."""
import math

import pytest
import torch
from mmpretrain.registry import MODELS

from tests.fixtures.a2mim_tiny import tiny_vit
from tests.fixtures.conmim_tiny import build_tiny_conmim
from mmconmim.evaluation.features import backbone_forward
from mmconmim.evaluation.maps import (attention_weights, capture_attention,
                                      check_queries, cls_attention_maps,
                                      default_queries, patch_embeddings,
                                      similarity_maps)


@torch.no_grad()
def naive_attention(attn, x, rel_pos_bias=None):
    """Head by head, token pair by token pair, in float64 from the
    module's parameters (BEiTAttention / MultiheadAttention)."""
    x = x.double()
    B, N, C = x.shape
    heads = attn.num_heads
    d = C // heads
    W = attn.qkv.weight.double()
    if getattr(attn, 'bias', None) == 'qv_bias':
        b_q, b_k = attn.q_bias.double(), torch.zeros(C, dtype=torch.float64)
    elif attn.qkv.bias is not None:
        b_q, b_k = attn.qkv.bias.double()[:C], attn.qkv.bias.double()[C:2 * C]
    else:
        b_q = b_k = torch.zeros(C, dtype=torch.float64)
    table = getattr(attn, 'relative_position_bias_table', None)
    out = torch.zeros(B, heads, N, N, dtype=torch.float64)
    for b in range(B):
        for h in range(heads):
            rows = slice(h * d, (h + 1) * d)
            q = x[b] @ W[rows].t() + b_q[rows]
            k = x[b] @ W[C:][rows].t() + b_k[rows]
            for i in range(N):
                logits = []
                for j in range(N):
                    value = float(q[i] @ k[j]) / math.sqrt(d)
                    if table is not None:
                        idx = attn.relative_position_index[i, j]
                        value += float(table[idx, h])
                    if rel_pos_bias is not None:
                        value += float(rel_pos_bias[h, i, j])
                    logits.append(value)
                top = max(logits)
                exps = [math.exp(v - top) for v in logits]
                out[b, h, i] = torch.tensor(exps) / sum(exps)
    return out


def capture_layer_io(backbone, x, layer=-1):
    """The attention module's input, its shared bias and its output."""
    attn = backbone.layers[layer].attn
    seen = {}

    def pre(module, args, kwargs):
        seen['x'] = args[0]
        seen['bias'] = kwargs.get('rel_pos_bias')

    def post(module, args, kwargs, output):
        seen['out'] = output

    handles = [attn.register_forward_pre_hook(pre, with_kwargs=True),
               attn.register_forward_hook(post, with_kwargs=True)]
    with torch.no_grad():
        backbone_forward(backbone, x)
    for h in handles:
        h.remove()
    return attn, seen


def randomise(module, seed=0):
    """Non-trivial biases and position tables (they start at zero)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if 'bias' in name or 'relative_position' in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))


def vit_backbones():
    conmim = build_tiny_conmim(img_size=32, patch_size=8)  # shared rel-pos
    randomise(conmim.backbone, 1)
    beit = MODELS.build(tiny_vit(img_size=32, patch_size=8))  # per-layer
    beit.init_weights()
    randomise(beit, 2)
    plain = MODELS.build(dict(  # mmpretrain MultiheadAttention
        type='VisionTransformer',
        arch=dict(embed_dims=64, num_layers=2, num_heads=4,
                  feedforward_channels=128),
        img_size=32, patch_size=8, out_type='raw'))
    plain.init_weights()
    randomise(plain, 3)
    backbones = dict(conmim=conmim.backbone, beit=beit, vit=plain)
    for backbone in backbones.values():
        backbone.eval()  # (some backbones' train() returns None)
    return backbones


@pytest.mark.parametrize('name', ['conmim', 'beit', 'vit'])
def test_attention_weights_match_naive_and_reproduce_the_output(name):
    backbone = vit_backbones()[name]
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    attn, seen = capture_layer_io(backbone, x)
    if name == 'conmim':
        assert seen['bias'] is not None  # the shared relative position bias
    weights = capture_attention(backbone, x, layer=-1)
    expected = naive_attention(attn, seen['x'], seen['bias'])
    assert torch.allclose(weights.double(), expected, atol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4, 17), atol=1e-5)
    # The weights are the module's own: A @ v -> proj gives its output.
    B, N, C = seen['x'].shape
    if name == 'vit':
        v = attn.qkv(seen['x'])[..., 2 * C:]
    else:
        v = torch.nn.functional.linear(
            seen['x'], attn.qkv.weight[2 * C:],
            attn.v_bias if attn.bias == 'qv_bias' else None)
    v = v.view(B, N, 4, -1).transpose(1, 2)
    out = attn.proj((weights @ v).transpose(1, 2).reshape(B, N, C))
    if name == 'vit':
        out = attn.gamma1(out)
    assert torch.allclose(out, seen['out'], atol=1e-5)


def test_cls_attention_map_is_the_head_mean_of_the_cls_row():
    backbone = vit_backbones()['conmim']
    x = torch.randn(3, 3, 32, 32)
    maps = cls_attention_maps(backbone, x, layer=0)
    attn, seen = capture_layer_io(backbone, x, layer=0)
    full = naive_attention(attn, seen['x'], seen['bias'])
    expected = full[:, :, 0, 1:].mean(1).view(3, 4, 4)
    assert maps.shape == (3, 4, 4)
    assert torch.allclose(maps.double(), expected, atol=1e-5)
    with pytest.raises(ValueError, match='does not exist'):
        cls_attention_maps(backbone, x, layer=5)


def test_attention_needs_a_vit():
    from tests.fixtures.a2mim_tiny import tiny_a2mim, tiny_resnet
    model = tiny_a2mim(tiny_resnet(), in_channels=64, encoder_stride=32)
    with pytest.raises(TypeError, match='no transformer layers'):
        cls_attention_maps(model.backbone, torch.randn(1, 3, 32, 32))
    with pytest.raises(TypeError, match='not supported'):
        attention_weights(torch.nn.Linear(2, 2), torch.randn(1, 2, 2))


def test_similarity_maps_match_a_per_patch_loop():
    gen = torch.Generator().manual_seed(0)
    grid = torch.randn(3, 5, 8, generator=gen)
    queries = [(0, 0), (2, 4), (1, 2)]
    maps = similarity_maps(grid, queries)
    assert maps.shape == (3, 3, 5)
    for q, (r, c) in enumerate(queries):
        a = grid[r, c]
        for i in range(3):
            for j in range(5):
                b = grid[i, j]
                cos = float(a @ b) / (float(a.norm()) * float(b.norm()))
                assert maps[q, i, j].item() == pytest.approx(cos, abs=1e-5)
        assert maps[q, r, c].item() == pytest.approx(1.)
    with pytest.raises(ValueError, match=r'outside the 3x5 patch grid'):
        similarity_maps(grid, [(3, 0)])
    with pytest.raises(ValueError, match='outside'):
        check_queries([(0, -1)], (3, 5))
    assert default_queries((8, 8)) == [(1, 1), (4, 4), (6, 6)]


def test_patch_embeddings_of_vits_and_cnns():
    model = build_tiny_conmim(img_size=32, patch_size=8)
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    grid = patch_embeddings(model.backbone, x)
    tokens = model.backbone(x, mask=None)[-1]
    assert grid.shape == (2, 4, 4, 64)
    assert torch.equal(grid[1, 2, 3], tokens[1, 1 + 2 * 4 + 3])  # no CLS
    projected = patch_embeddings(model.backbone, x, model.neck)
    assert projected.shape == (2, 4, 4, 32)

    from tests.fixtures.a2mim_tiny import tiny_a2mim, tiny_resnet
    a2mim = tiny_a2mim(tiny_resnet(), in_channels=64, encoder_stride=32)
    a2mim.eval()
    x = torch.randn(1, 3, 64, 64)
    grid = patch_embeddings(a2mim.backbone, x)
    fmap = a2mim.backbone(x, mask=None)[-1]
    assert grid.shape == (1, 2, 2, 64)
    assert torch.equal(grid[0, 1, 0], fmap[0, :, 1, 0])
