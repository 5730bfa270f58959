"""A config stored in a checkpoint is data: read its fields as literals.

Runner checkpoints keep the training config as Python text
(``meta['cfg']``, exports copy it to ``meta['config']``). Parsing that text
with ``Config.fromstring`` executes it, so a file that passes the pickle gate
could still run code. :func:`config_field` reads one field (e.g.
``model.objective``, ``model.backbone.arch``) from the syntax tree without
running anything: only literals, ``dict(...)`` calls with keyword arguments
and dict/list/tuple displays are understood; anything else reads as unknown.
:func:`trusted_config` is the one place that parses such text as a config,
and only with ``MMCONMIM_TRUST_CHECKPOINTS=1``.
"""
import ast
from typing import Any

from .errors import TRUST_ENV_VAR, UntrustedTextError
from .gate import trusted


class _Unknown:
    """A value that is not a literal (a call, a name, an expression)."""

    def __repr__(self):
        return '<not a literal>'


UNKNOWN = _Unknown()


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(
            node.op, (ast.USub, ast.UAdd)) and isinstance(
                node.operand, ast.Constant) and isinstance(
                    node.operand.value, (int, float)):
        value = node.operand.value
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):  # {**other}
            return UNKNOWN
        return {_literal(k): _literal(v)
                for k, v in zip(node.keys, node.values)}
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and not node.args
            and all(kw.arg is not None for kw in node.keywords)):
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    return UNKNOWN


def literal_config(text: str) -> dict:
    """Top-level ``name = value`` assignments of a config text, with every
    value read as a literal (:data:`UNKNOWN` where it is not one). Text that
    is not valid Python gives ``{}``."""
    try:
        tree = ast.parse(str(text))
    except (SyntaxError, ValueError):
        return {}
    fields = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and \
                isinstance(stmt.targets[0], ast.Name):
            fields[stmt.targets[0].id] = _literal(stmt.value)
    return fields


def config_field(text: str, dotted: str, default: Any = None) -> Any:
    """The literal value of ``dotted`` (e.g. ``'model.objective'``) in a
    config text, or ``default`` when it is absent or not a literal."""
    value: Any = literal_config(text)
    for key in dotted.split('.'):
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return default if value is UNKNOWN or _holds_unknown(value) else value


def _holds_unknown(value) -> bool:
    if isinstance(value, dict):
        return any(_holds_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_unknown(v) for v in value)
    return value is UNKNOWN


def trusted_config(text: str, owner: str, fix: str):
    """Parse config text stored in ``owner`` as an mmengine ``Config``.

    This runs the text as Python, so it needs ``MMCONMIM_TRUST_CHECKPOINTS=1``
    (gated call site: the only ``Config.fromstring`` in mmconmim).

    Raises:
        UntrustedTextError: without the opt-in; the message gives ``fix``.
    """
    if not trusted():
        raise UntrustedTextError(
            f'reading the config stored in {owner} would run Python code '
            f'from that file. {fix}, or set {TRUST_ENV_VAR}=1 if you trust '
            'the file')
    from mmengine.config import Config
    return Config.fromstring(str(text), '.py')
