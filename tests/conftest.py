import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from helpers import REPO_ROOT, write_images  # noqa: E402


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


@pytest.fixture
def image_folder(tmp_path):
    return write_images(str(tmp_path / 'images'))
