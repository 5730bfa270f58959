"""Fixtures shared by every test directory. Helpers live in tests/fixtures
(a package: import them as ``tests.fixtures.<module>``)."""
import pytest

from tests.fixtures.helpers import REPO_ROOT, write_images


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


@pytest.fixture
def image_folder(tmp_path):
    return write_images(str(tmp_path / 'images'))
