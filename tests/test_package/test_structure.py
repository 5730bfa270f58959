"""The package's import structure (issue 26): no module-level import cycle,
the checkpoint room at the bottom (models, tools and APIs import it, it
imports none of them), and models import nothing from the rooms above them.
Imports are read with ``ast`` (function-level imports included)."""
import ast
import os
import os.path as osp

from tests.fixtures.helpers import REPO_ROOT

PACKAGE = osp.join(REPO_ROOT, 'mmconmim')


def module_files():
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith('.py'):
                path = osp.join(folder, name)
                module = osp.relpath(path[:-3], REPO_ROOT).replace(os.sep, '.')
                if module.endswith('.__init__'):
                    module = module[:-len('.__init__')]
                yield module, path


def import_graph():
    """module -> the mmconmim modules it imports (``from a import b`` counts
    as importing ``a.b`` when that is a module, else ``a``)."""
    files = dict(module_files())
    graph = {}
    for module, path in files.items():
        package = module if path.endswith('__init__.py') else \
            module.rsplit('.', 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
            names = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ''
                if node.level:
                    parts = package.split('.')
                    parts = parts[:len(parts) - node.level + 1]
                    base = '.'.join(parts + ([base] if base else []))
                names = [f'{base}.{a.name}' if f'{base}.{a.name}' in files
                         else base for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            targets |= {n for n in names if n in files and n != module}
        graph[module] = targets
    return graph


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [
        ['a', 'b', 'c']]


def test_no_module_level_import_cycle():
    assert cycles(import_graph()) == []


def room(module):
    return '.'.join(module.split('.')[:2])


def test_checkpoint_room_is_at_the_bottom_and_models_import_nothing_above():
    graph = import_graph()
    checkpoint_deps = {t for m, ts in graph.items()
                       if room(m) == 'mmconmim.checkpoint' for t in ts
                       if room(t) != 'mmconmim.checkpoint'}
    # only the leaf argument checks (they import nothing of mmconmim)
    assert checkpoint_deps <= {'mmconmim.utils.validation'}, checkpoint_deps
    assert graph['mmconmim.utils.validation'] == set()
    upward = sorted(f'{m} -> {t}' for m, ts in graph.items()
                    if room(m) == 'mmconmim.models' for t in ts
                    if room(t) in ('mmconmim.apis', 'mmconmim.evaluation',
                                   'mmconmim.engine'))
    assert upward == []
