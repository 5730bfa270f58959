"""Fixtures shared by every test directory. Helpers live in tests/fixtures
(a package: import them as ``tests.fixtures.<module>``)."""
import pytest

import mmconmim
from tests.fixtures.helpers import (REPO_ROOT, default_scope_snapshot,
                                    restore_default_scope, write_images)

# The suite exercises pipelines and models directly, as our runner and tools
# do after applying the version fixes; import alone applies none of them
# (tests/test_utils/test_import_side_effects.py checks that in a fresh
# interpreter).
mmconmim.apply_compat_fixes()


@pytest.fixture(autouse=True, scope='module')
def keep_module_default_scope():
    """Give the next test file the default scope this one started with
    (module-scoped fixtures such as checkpoint builders set a scope before
    the first test's own snapshot is taken)."""
    snapshot = default_scope_snapshot()
    yield
    restore_default_scope(snapshot)


@pytest.fixture(autouse=True)
def keep_default_scope():
    """Give the next test the default scope state this one started with,
    "no scope yet" included (the first test of a session).

    mmengine keeps one process-wide current scope and builds every config
    through its registries, so a test that builds an mmseg/mmdet model
    (scope ``mmseg``) would otherwise make the following tests look up
    ``ConMIM`` in mmseg's registry: results would depend on the order of the
    test files."""
    snapshot = default_scope_snapshot()
    yield
    restore_default_scope(snapshot)


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


@pytest.fixture
def image_folder(tmp_path):
    return write_images(str(tmp_path / 'images'))


def fake_cpu_bf16_support(native):
    from mmconmim.engine.optimizers import mixed_precision_optim_wrapper
    return mixed_precision_optim_wrapper.CpuBf16Support(
        native=native, cpu='Test CPU 9000', required='avx512_bf16 or '
        'amx_bf16', evidence='no avx512_bf16 / amx_bf16 in the CPU flags')


@pytest.fixture
def cpu_capability(monkeypatch):
    """Mock the CPU bf16 check of ``MixedPrecisionOptimWrapper``:
    ``cpu_capability(native)`` makes it answer ``native`` and returns the
    list of calls made to it. Tests that expect bf16 autocast on CPU use it,
    so that they assert the same thing on every CPU (an AVX2 machine has no
    native bf16 and trains in fp32)."""
    from mmconmim.engine.optimizers import mixed_precision_optim_wrapper
    calls = []

    def use(native):
        def detect():
            calls.append(native)
            return fake_cpu_bf16_support(native)
        monkeypatch.setattr(mixed_precision_optim_wrapper, 'detect_cpu_bf16',
                            detect)
        return calls
    return use
