"""Fixtures shared by every test directory. Helpers live in tests/fixtures
(a package: import them as ``tests.fixtures.<module>``)."""
import pytest
from mmengine.registry import DefaultScope

import mmconmim
from tests.fixtures.helpers import REPO_ROOT, write_images

# The suite exercises pipelines and models directly, as our runner and tools
# do after applying the version fixes; import alone applies none of them
# (tests/test_utils/test_import_side_effects.py checks that in a fresh
# interpreter).
mmconmim.apply_compat_fixes()


@pytest.fixture(autouse=True)
def keep_default_scope():
    """Give the next test the default scope this one started with.

    mmengine keeps one process-wide current scope and builds every config
    through its registries, so a test that builds an mmseg/mmdet model
    (scope ``mmseg``) would otherwise make the following tests look up
    ``ConMIM`` in mmseg's registry: results would depend on the order of the
    test files."""
    before = DefaultScope.get_current_instance()
    yield
    after = DefaultScope.get_current_instance()
    if before is not None and after.scope_name != before.scope_name:
        # the latest created instance is the current one (mmengine has no
        # public way to make an older one current again)
        global _restored
        _restored += 1
        DefaultScope.get_instance(f'tests-restored-{_restored}',
                                  scope_name=before.scope_name)


_restored = 0


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


@pytest.fixture
def image_folder(tmp_path):
    return write_images(str(tmp_path / 'images'))
