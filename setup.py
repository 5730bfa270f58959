# Metadata lives in setup.cfg. This file adds what `mim` needs, as
# OpenMMLab's setup.py files do: the configs, tools and model-index.yml in
# mmconmim/.mim, where `mim train/run/search mmconmim` and mmpretrain's
# ModelHub (mmconmim/apis/model_index.py) look for them.
#
# * `pip install .` (wheel, sdist): copies under <build_lib>/mmconmim/.mim.
# * `pip install -e .`: relative symlinks in the source package,
#   mmconmim/.mim/{configs,tools,model-index.yml} -> ../../..., like
#   OpenMMLab's develop mode (copies where symlinks are not available).
# * mim finds a package at <dist location>/mmconmim, i.e. in site-packages.
#   A PEP 660 editable install (pip >= 25.3 has no other kind) puts only an
#   import hook there, so mim cannot see it; once, after `pip install -e .`:
#       python tools/misc/mim_link.py       # --remove undoes it
#   links <site-packages>/mmconmim to this source package (mim_link() below,
#   only for an editable install of this very tree). `import mmconmim` then
#   loads the same files through that link; `pip uninstall` leaves the link:
#   remove it with --remove first.
import json
import os
import os.path as osp
import shutil
from importlib import metadata

from setuptools import setup
from setuptools.command.build_py import build_py

PACKAGE = 'mmconmim'
MIM_FILES = ('configs', 'tools', 'model-index.yml')
HERE = osp.dirname(osp.abspath(__file__))


def add_mim_files(src_root: str, mim_dir: str, mode: str) -> None:
    """Put MIM_FILES of ``src_root`` into ``mim_dir`` as copies
    (``mode='copy'``) or as relative symlinks (``'symlink'``); existing
    entries are replaced."""
    if mode not in ('copy', 'symlink'):
        raise ValueError(f"mode must be 'copy' or 'symlink', got {mode!r}")
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(src_root, name), osp.join(mim_dir, name)
        if not osp.exists(src):
            raise FileNotFoundError(
                f'{src} is missing: build from a complete source tree '
                '(the sdist includes it through MANIFEST.in)')
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns(
                '__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


def link_mode() -> str:
    return 'copy' if os.name == 'nt' else 'symlink'


class BuildPyWithMim(build_py):
    """build_py that also provides MIM_FILES under mmconmim/.mim."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            add_mim_files(HERE, osp.join(HERE, PACKAGE, '.mim'), link_mode())
        else:
            add_mim_files(HERE, osp.join(self.build_lib, PACKAGE, '.mim'),
                          'copy')


def editable_site_dir(source_root: str = HERE) -> str:
    """The directory holding the dist-info of an editable install of
    ``source_root`` (its ``direct_url.json`` says so), e.g. site-packages."""
    url = 'file://' + osp.abspath(source_root)
    found = []
    for dist in metadata.distributions(name=PACKAGE):
        info = json.loads(dist.read_text('direct_url.json') or '{}')
        if info.get('dir_info', {}).get('editable') and \
                info.get('url', '').rstrip('/') == url:
            return str(dist.locate_file(''))
        found.append(str(dist.locate_file('')))
    raise RuntimeError(
        f'no editable install of {source_root} found (installed copies of '
        f'{PACKAGE}: {found or "none"}); run `pip install -e .` in this '
        'directory first, with the Python that runs mim')


def mim_link(site_dir: str, source_root: str = HERE,
             remove: bool = False) -> str:
    """Link ``site_dir/mmconmim`` to the source package (and its .mim
    entries to the source tree) so that mim finds an editable install; with
    ``remove``, undo both. Returns the link's path."""
    link = osp.join(site_dir, PACKAGE)
    package = osp.join(source_root, PACKAGE)
    ours = osp.islink(link) and \
        osp.realpath(link) == osp.realpath(package)
    if osp.lexists(link) and not ours:
        raise FileExistsError(
            f'{link} exists and is not a link to {package}: a regular '
            f'install of {PACKAGE} is there (mim already finds it); '
            'nothing was changed')
    if remove:
        if ours:
            os.remove(link)
        shutil.rmtree(osp.join(package, '.mim'), ignore_errors=True)
        return link
    add_mim_files(source_root, osp.join(package, '.mim'), link_mode())
    if not ours:
        os.symlink(package, link, target_is_directory=True)
    return link


if __name__ == '__main__':
    setup(cmdclass={'build_py': BuildPyWithMim})
