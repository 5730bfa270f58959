"""benchmarks/train_throughput.py and benchmarks/data_throughput.py print
their figures (never asserting on time); the peak-GEMM sizing and the
skipping of a dtype far below fp32."""
import re

import pytest
import torch

from tests.fixtures.helpers import run_tool


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
