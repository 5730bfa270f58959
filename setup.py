# Metadata lives in setup.cfg. This file adds one build step, as mmpretrain's
# setup.py does: the configs, tools and model-index.yml are installed with the
# package under mmconmim/.mim, where `mim train/run/search mmconmim` and
# mmpretrain's ModelHub (mmconmim/apis/model_index.py) look for them. An
# editable install reads them from the source tree instead.
import os
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

MIM_FILES = ('configs', 'tools', 'model-index.yml')
HERE = osp.dirname(osp.abspath(__file__))


class BuildPyWithMim(build_py):
    """build_py that also copies MIM_FILES into <build_lib>/mmconmim/.mim."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        mim_dir = osp.join(self.build_lib, 'mmconmim', '.mim')
        for name in MIM_FILES:
            src, dst = osp.join(HERE, name), osp.join(mim_dir, name)
            if not osp.exists(src):
                raise FileNotFoundError(
                    f'{src} is missing: build from a complete source tree '
                    '(the sdist includes it through MANIFEST.in)')
            if osp.isdir(dst):
                shutil.rmtree(dst)
            os.makedirs(osp.dirname(dst), exist_ok=True)
            if osp.isdir(src):
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns(
                    '__pycache__', '*.pyc'))
            else:
                shutil.copyfile(src, dst)


setup(cmdclass={'build_py': BuildPyWithMim})
