"""MixedPrecisionOptimWrapper: the CPU bf16 decision (issue 19) and the
behaviour it shares with mmengine's AmpOptimWrapper (issue 15)."""
import copy
import functools
import warnings

import pytest
import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper, build_optim_wrapper
from mmengine.optim.optimizer import amp_optimizer_wrapper as upstream_amp
from mmengine.registry import init_default_scope
from torch import nn

from tests.fixtures.conmim_tiny import build_tiny_conmim, tiny_batch
from mmconmim.engine.optimizers import MixedPrecisionOptimWrapper
from mmconmim.engine.optimizers import mixed_precision_optim_wrapper as mpw

init_default_scope('mmpretrain')

AVX2_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz
flags\t\t: fpu vme sse sse2 avx avx2 fma bmi2

processor\t: 1
model name\t: Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz
flags\t\t: fpu vme sse sse2 avx avx2 fma bmi2
"""
SPR_CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile
"""
GRAVITON3_CPUINFO = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd sve svebf16 bf16 i8mm
CPU implementer\t: 0x41
"""
GRAVITON2_CPUINFO = """processor\t: 0
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics
"""


def tiny_optim_cfg(**wrapper):
    wrapper.setdefault('device', 'cpu')
    return dict(type='MixedPrecisionOptimWrapper',
                optimizer=dict(type='SGD', lr=0.1), **wrapper)


def build(model, **wrapper):
    return build_optim_wrapper(model, tiny_optim_cfg(**wrapper))


def fallback_warnings(record):
    return [w for w in record if w.category is mpw.CpuBf16FallbackWarning]


@pytest.mark.parametrize('text,arch,native,required', [
    (AVX2_CPUINFO, 'x86_64', False, 'avx512_bf16 or amx_bf16'),
    (SPR_CPUINFO, 'x86_64', True, 'avx512_bf16 or amx_bf16'),
    (GRAVITON3_CPUINFO, 'aarch64', True, 'FEAT_BF16'),
    (GRAVITON2_CPUINFO, 'aarch64', False, 'FEAT_BF16'),
])
def test_detection_reads_the_cpu_flags(tmp_path, monkeypatch, text, arch,
                                       native, required):
    path = tmp_path / 'cpuinfo'
    path.write_text(text)
    monkeypatch.setattr(mpw.platform, 'machine', lambda: arch)
    monkeypatch.setattr(mpw, 'probe_bf16', lambda: pytest.fail(
        'no timed probe where the flags are readable'))
    mpw.detect_cpu_bf16.cache_clear()
    try:
        support = mpw.detect_cpu_bf16(str(path))
    finally:
        mpw.detect_cpu_bf16.cache_clear()
    assert support.native is native
    assert required in support.required
    if arch == 'x86_64':
        assert support.cpu.startswith('Intel(R)')
    if not native:
        assert 'no ' in support.evidence


@pytest.mark.parametrize('bf16,fp32,native', [(0.3, 126., False),
                                              (410., 180., True)])
def test_detection_times_a_gemm_where_flags_are_unknown(
        tmp_path, monkeypatch, bf16, fp32, native):
    monkeypatch.setattr(mpw.platform, 'machine', lambda: 'arm64')  # macOS
    monkeypatch.setattr(mpw, 'probe_bf16', lambda: (bf16, fp32))
    mpw.detect_cpu_bf16.cache_clear()
    try:
        support = mpw.detect_cpu_bf16(str(tmp_path / 'missing'))
    finally:
        mpw.detect_cpu_bf16.cache_clear()
    assert support.native is native
    assert f'bf16 {bf16:.1f} GFLOP/s vs fp32 {fp32:.1f}' in support.evidence


def test_probe_gemm_is_small_and_measures_both_dtypes():
    bf16, fp32 = mpw.probe_bf16(size=32)
    assert bf16 > 0 and fp32 > 0


def test_native_cpu_uses_bf16_without_warning(cpu_capability):
    calls = cpu_capability(True)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        optim = build(nn.Linear(4, 4))
    assert calls == [True]
    assert optim.cast_dtype == torch.bfloat16 and optim.autocast_enabled
    assert not fallback_warnings(record)
    assert not optim.loss_scaler.is_enabled()
    with optim.optim_context(nn.Linear(4, 4)):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16


def test_non_native_cpu_falls_back_to_fp32_with_one_warning(cpu_capability):
    cpu_capability(False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        optim = build(nn.Linear(4, 4))
    assert optim.cast_dtype == torch.float32 and not optim.autocast_enabled
    assert not optim.loss_scaler.is_enabled()
    [warning] = fallback_warnings(record)
    text = str(warning.message)
    # names the CPU, the missing feature, what happens, and how to force
    for part in ('Test CPU 9000', 'avx512_bf16 or amx_bf16',
                 'Training in fp32', "cpu_bf16='force'",
                 'optim_wrapper.cpu_bf16=force', "cpu_bf16='off'"):
        assert part in text, (part, text)
    with optim.optim_context(nn.Linear(4, 4)):
        assert not torch.is_autocast_enabled('cpu')


def test_force_and_off_skip_the_check(cpu_capability):
    calls = cpu_capability(False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        forced = build(nn.Linear(4, 4), cpu_bf16='force')
        off = build(nn.Linear(4, 4), cpu_bf16='off')
    assert calls == []
    assert forced.cast_dtype == torch.bfloat16
    assert off.cast_dtype == torch.float32 and not off.autocast_enabled
    assert not fallback_warnings(record)


def test_explicit_bf16_is_honoured_with_a_cost_warning(cpu_capability):
    cpu_capability(False)
    with pytest.warns(mpw.CpuBf16FallbackWarning, match='emulated'):
        optim = build(nn.Linear(4, 4), dtype='bfloat16')
    assert optim.cast_dtype == torch.bfloat16


def test_cuda_and_fp16_choices_do_not_consult_the_cpu(cpu_capability):
    calls = cpu_capability(False)
    cpu_fp16 = build(nn.Linear(4, 4), dtype='float16')
    assert cpu_fp16.cast_dtype == torch.float16
    assert cpu_fp16.loss_scaler.is_enabled()
    assert calls == []


@pytest.mark.parametrize('kwargs,match', [
    (dict(cpu_bf16='yes'), "cpu_bf16 must be one of"),
    (dict(dtype='fp16'), "dtype must be 'auto'"),
    (dict(device='mps'), "device must be 'cuda' or 'cpu'"),
])
def test_bad_settings_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(nn.Linear(4, 4), **kwargs)


def test_fp32_fallback_trains_exactly_like_an_fp32_config(cpu_capability):
    cpu_capability(False)
    torch.manual_seed(0)
    model_amp = build_tiny_conmim()
    model_fp32 = copy.deepcopy(model_amp)
    optim_cfg = dict(constructor='TrainableParamsOptimWrapperConstructor',
                     optimizer=dict(type='AdamW', lr=1e-3))
    with pytest.warns(mpw.CpuBf16FallbackWarning):
        optim_amp = build_optim_wrapper(model_amp, dict(
            type='MixedPrecisionOptimWrapper', **optim_cfg))
    optim_fp32 = build_optim_wrapper(model_fp32, dict(
        type='OptimWrapper', **optim_cfg))
    for seed in range(3):
        loss_amp = model_amp.train_step(tiny_batch(seed=seed), optim_amp)
        loss_fp32 = model_fp32.train_step(tiny_batch(seed=seed), optim_fp32)
        assert torch.equal(loss_amp['loss'], loss_fp32['loss'])
    for (name, p), q in zip(model_amp.state_dict().items(),
                            model_fp32.state_dict().values()):
        assert torch.equal(p, q), name


# --- the same behaviour as mmengine's AmpOptimWrapper ---------------------

def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 4))


def batches(num=4):
    gen = torch.Generator().manual_seed(1)
    return [(torch.randn(16, 8, generator=gen),
             torch.randn(16, 4, generator=gen)) for _ in range(num)]


@pytest.fixture
def upstream_on_cpu(monkeypatch):
    """Let AmpOptimWrapper be built on this CPU-only machine (its only
    obstacle is the accelerator assert) with a CPU GradScaler."""
    monkeypatch.setattr(upstream_amp, 'is_cuda_available', lambda: True)
    monkeypatch.setattr(upstream_amp, 'GradScaler',
                        functools.partial(torch.amp.GradScaler, 'cpu'))


def test_is_a_subclass_that_keeps_upstream_methods():
    assert issubclass(MixedPrecisionOptimWrapper, AmpOptimWrapper)
    for name in ('backward', 'step', 'state_dict', 'load_state_dict'):
        assert name not in MixedPrecisionOptimWrapper.__dict__, name


def test_bf16_training_equals_upstream_amp_wrapper(upstream_on_cpu):
    """Full path including optim_context: upstream autocasts on
    mmengine's default device (CPU here), ours on the configured one."""
    def train(wrapper_cls, **kwargs):
        model = mlp()
        optim = wrapper_cls(
            optimizer=torch.optim.AdamW(model.parameters(), lr=1e-2),
            clip_grad=dict(max_norm=0.5), accumulative_counts=2, **kwargs)
        losses = []
        for x, y in batches():
            with optim.optim_context(model):
                loss = (model(x).float() - y).square().mean()
            optim.update_params(loss)
            losses.append(loss.detach())
        return model, optim, losses

    ours, ours_optim, ours_losses = train(
        MixedPrecisionOptimWrapper, dtype='bfloat16', device='cpu',
        cpu_bf16='force')
    ref, ref_optim, ref_losses = train(AmpOptimWrapper, dtype='bfloat16')
    for a, b in zip(ours_losses, ref_losses):
        assert torch.equal(a, b)
    for p, q in zip(ours.parameters(), ref.parameters()):
        assert torch.equal(p, q)
    ours_state, ref_state = ours_optim.state_dict(), ref_optim.state_dict()
    assert ours_state.keys() == ref_state.keys()
    assert ours_state['param_groups'] == ref_state['param_groups']


@pytest.mark.parametrize('loss_scale', [
    'dynamic', 512.0, dict(init_scale=2.**60, growth_interval=1)])
def test_fp16_loss_scaling_equals_upstream(upstream_on_cpu, loss_scale):
    """backward/step/update and the scaler state are upstream's: same
    skipped steps (the 2**60 scale overflows fp16 at first), same scale,
    same parameters, same state dict, and a state dict that loads."""
    def train(wrapper_cls, **kwargs):
        model = mlp()
        optim = wrapper_cls(
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            loss_scale=copy.deepcopy(loss_scale), dtype='float16', **kwargs)
        scales = []
        for x, y in batches(6):
            # upstream's autocast refuses fp16 on CPU, so both get the same
            # explicit context here; optim_context is compared above
            with torch.autocast('cpu', dtype=torch.float16):
                loss = (model(x).float() - y).square().mean()
            optim.update_params(loss)
            scales.append(optim.loss_scaler.get_scale())
        return model, optim, scales

    ours, ours_optim, ours_scales = train(MixedPrecisionOptimWrapper,
                                          device='cpu')
    ref, ref_optim, ref_scales = train(AmpOptimWrapper)
    assert ours_scales == ref_scales
    if isinstance(loss_scale, dict):
        assert ours_scales[0] < 2.**60  # the overflow was seen and backed off
    if isinstance(loss_scale, float):
        assert set(ours_scales) == {512.0}  # static, as upstream
    for p, q in zip(ours.parameters(), ref.parameters()):
        assert torch.equal(p, q)
    ours_state = ours_optim.state_dict()
    assert ours_state['loss_scaler'] == ref_optim.state_dict()['loss_scaler']
    fresh = MixedPrecisionOptimWrapper(
        optimizer=torch.optim.SGD(mlp().parameters(), lr=0.1),
        dtype='float16', device='cpu')
    fresh.load_state_dict(copy.deepcopy(ours_state))
    assert fresh.loss_scaler.get_scale() == ours_scales[-1]


def test_optim_context_autocasts_on_the_wrapper_device():
    optim = MixedPrecisionOptimWrapper(
        optimizer=torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1),
        device='cpu', cpu_bf16='force')
    assert isinstance(optim, OptimWrapper)
    with optim.optim_context(nn.Linear(2, 2)):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == \
            torch.bfloat16
    assert not torch.is_autocast_enabled('cpu')


# --- gradient clipping over FSDP shards -----------------------------------

def full_gradients():
    gen = torch.Generator().manual_seed(0)
    # sizes that split unevenly over 2 ranks, one leaving a rank empty
    return [torch.randn(10, generator=gen) * 3, torch.randn(7, generator=gen),
            torch.randn(1, generator=gen) * 5]


def shard_params(grads, rank, world):
    params = []
    for grad in grads:
        shard = torch.tensor_split(grad, world)[rank].clone()
        param = nn.Parameter(torch.zeros_like(shard))
        param.grad = shard
        params.append(param)
    return params


NORM_TYPES = (2.0, float('inf'))


def sharded_clip_worker(rank, world, port, out_dir):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=world)
    results = {}
    for norm_type in NORM_TYPES:
        params = shard_params(full_gradients(), rank, world)
        total = mpw.sharded_clip_grad_norm_(params, max_norm=1.5,
                                            norm_type=norm_type)
        results[norm_type] = dict(total=total,
                                  grads=[p.grad for p in params])
    torch.save(results, f'{out_dir}/rank{rank}.pt')
    dist.destroy_process_group()


def test_sharded_clip_equals_clipping_the_whole_gradient(tmp_path):
    from tests.fixtures.helpers import free_port
    world = 2
    torch.multiprocessing.spawn(
        sharded_clip_worker, args=(world, free_port(), str(tmp_path)),
        nprocs=world)
    ranks = [torch.load(tmp_path / f'rank{r}.pt') for r in range(world)]
    for norm_type in NORM_TYPES:
        reference = _with_grads(full_gradients())
        total = torch.nn.utils.clip_grad_norm_(reference, max_norm=1.5,
                                               norm_type=norm_type)
        assert total > 1.5  # the clip is active
        for result in ranks:
            torch.testing.assert_close(result[norm_type]['total'], total)
        for i, param in enumerate(reference):
            joined = torch.cat([r[norm_type]['grads'][i] for r in ranks])
            torch.testing.assert_close(joined, param.grad)


def test_fsdp_wrapper_clips_with_the_sharded_rule_only_under_fsdp():
    def wrapper(**kwargs):
        return MixedPrecisionOptimWrapper(
            optimizer=torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1),
            device='cpu', cpu_bf16='off', **kwargs)

    assert wrapper(use_fsdp=True, clip_grad=dict(max_norm=1.)).clip_func \
        is mpw.sharded_clip_grad_norm_
    assert wrapper(clip_grad=dict(max_norm=1.)).clip_func \
        is torch.nn.utils.clip_grad_norm_
    assert wrapper(use_fsdp=True, clip_grad=dict(
        type='value', clip_value=1.)).clip_func \
        is torch.nn.utils.clip_grad_value_
    # one process, no group: the same as torch's clip
    params = shard_params(full_gradients(), 0, 1)
    reference = _with_grads([p.grad.clone() for p in params])
    total = mpw.sharded_clip_grad_norm_(params, max_norm=1.5)
    assert torch.equal(total, torch.nn.utils.clip_grad_norm_(reference,
                                                             max_norm=1.5))
    for param, ref in zip(params, reference):
        assert torch.equal(param.grad, ref.grad)


def _with_grads(grads):
    params = []
    for grad in grads:
        param = nn.Parameter(torch.zeros_like(grad))
        param.grad = grad
        params.append(param)
    return params
