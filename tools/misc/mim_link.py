"""Make an editable install of this source tree visible to ``mim``.

``mim search/train/run mmconmim`` look for ``<dist location>/mmconmim/.mim``,
i.e. in site-packages. A PEP 660 editable install (``pip install -e .``; pip
>= 25.3 makes no other kind) puts only an import hook there. This links
``<site-packages>/mmconmim`` to the source package (whose ``.mim`` holds
relative links to ``configs/``, ``tools/`` and ``model-index.yml``), for an
editable install of this very tree only; ``import mmconmim`` then loads the
same source files through the link. ``--remove`` undoes it (do that before
``pip uninstall mmconmim``, which does not know the link). The logic lives
in setup.py, next to the build step that writes ``.mim`` for regular
installs.
"""
import argparse
import importlib.util
import os.path as osp

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_setup_py():
    """setup.py as a module (its ``setup()`` only runs as __main__)."""
    spec = importlib.util.spec_from_file_location(
        'mmconmim_setup', osp.join(REPO_ROOT, 'setup.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--remove', action='store_true',
                        help='remove the link (and mmconmim/.mim) again')
    args = parser.parse_args()
    setup_py = load_setup_py()
    link = setup_py.mim_link(setup_py.editable_site_dir(REPO_ROOT),
                             source_root=REPO_ROOT, remove=args.remove)
    print(('removed ' if args.remove else 'linked ') + link)


if __name__ == '__main__':
    main()
