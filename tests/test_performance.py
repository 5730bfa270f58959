"""Fast paths equal the plain ones; bf16 training runs; the benchmark
scripts produce their figures (never asserting on time)."""
import copy
import re

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.models.backbones.beit import RelativePositionBias
from mmpretrain.models.utils.attention import BEiTAttention

from conmim_tiny import build_tiny_conmim, tiny_batch
from helpers import run_tool
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


@pytest.mark.parametrize('dtype', ['fp32', 'bf16'])
def test_train_throughput_benchmark_prints_its_figures(dtype):
    args = ['benchmarks/train_throughput.py', '--config',
            'configs/demo/conmim_demo.py', '--batch-size', '2', '--iters',
            '1', '--warmup', '1', '--workers', '0', '--matmul-size', '256',
            '--dtype', dtype]
    proc = run_tool(args + (['--skip-loop'] if dtype == 'bf16' else []))
    out = proc.stdout
    assert re.search(r'machine: CPU .+: bf16 autocast (NOT )?native \[', out)
    assert re.search(r'matmul peak: fp32 [\d.]+ GFLOP/s \(256\^3\), bf16 '
                     r'([\d.]+ GFLOP/s|skipped \(.*no native bf16)', out), out
    if 'bf16 skipped' in out and dtype == 'bf16':
        # a CPU without native bf16: no model step in bf16, and it says so
        assert 'model steps in bf16 skipped' in out
        assert 'model step (ours)' not in out
        return
    assert re.search(r'FLOPs per image .*: [\d.]+ GFLOP', out)
    rows = ['model step (ours)'] + (['full train loop'] if dtype == 'fp32'
                                    else [])
    for row in rows:
        assert re.search(re.escape(row) + r'.*\s[\d.]+\s+[\d.]+\s+[\d.]+\s+'
                         r'[\d.]+%\s+\d+MB', out), out


def fake_gemm(rates, calls):
    def gemm(dtype, size, repeats=3):
        calls.append((dtype, size))
        return rates[dtype]
    return gemm


def test_peak_measurement_skips_a_dtype_far_below_fp32():
    from benchmarks.train_throughput import format_peaks, measure_peaks
    calls = []
    # the AVX2 CPU of issue 19: bf16 0.3 GFLOP/s, fp32 126 GFLOP/s
    peaks = measure_peaks(2048, budget_s=0.5, gemm=fake_gemm(
        {torch.float32: 126., torch.bfloat16: 0.3}, calls))
    assert [size for dtype, size in calls if dtype == torch.bfloat16] == [256]
    assert '0.3 GFLOP/s vs 126.0 in fp32' in peaks['bf16']['skipped']
    # fp32: one GEMM at 126 GFLOP/s may be 3159^3 in 0.5 s; capped at 2048
    assert peaks['fp32'] == dict(gflops=126., size=2048)
    assert format_peaks(peaks).startswith(
        'matmul peak: fp32 126.0 GFLOP/s (2048^3), bf16 skipped (a 256^3')


def test_peak_gemm_is_sized_to_the_time_budget():
    from benchmarks.train_throughput import measure_peaks
    calls = []
    rates = {torch.float32: 10., torch.bfloat16: 25.}
    peaks = measure_peaks(4096, budget_s=0.5, gemm=fake_gemm(rates, calls))
    for name, dtype in (('fp32', torch.float32), ('bf16', torch.bfloat16)):
        size = peaks[name]['size']
        seconds = 2 * size**3 / (rates[dtype] * 1e9)
        assert 0.45 < seconds <= 0.5, (name, size, seconds)


def test_benchmark_stops_before_model_steps_in_a_skipped_dtype(
        monkeypatch, capsys):
    from benchmarks import train_throughput as bench
    monkeypatch.setattr(bench, 'measure_peaks', lambda *a: dict(
        fp32=dict(gflops=126., size=2048),
        bf16=dict(skipped='a 256^3 GEMM runs at 0.3 GFLOP/s')))
    monkeypatch.setattr(bench, 'run_child', lambda *a: pytest.fail(
        'a model step ran in a skipped dtype'))
    rows = bench.main(['--dtype', 'bf16', '--threads',
                       str(torch.get_num_threads())])
    assert rows == []
    assert 'model steps in bf16 skipped' in capsys.readouterr().out


def test_data_throughput_benchmark_prints_its_figures():
    proc = run_tool(['benchmarks/data_throughput.py', '--config',
                     'configs/demo/conmim_demo.py', '--images', '4',
                     '--repeats', '1'])
    assert re.search(r'data pipeline: [\d.]+ images/s per worker',
                     proc.stdout)
    assert 'RobustLoadImageFromFile' in proc.stdout
