"""How much of a module a checkpoint load filled: coverage diagnostics.

mmengine loads checkpoints non-strictly: ``load_from``, ``--resume``,
``tools/test.py`` and ``init_cfg=dict(type='Pretrained')`` only *log* missing
and unexpected keys. :class:`LoadWatcher` watches such loads and raises
:class:`CheckpointMismatchError` when fewer than ``min_coverage`` of the
target's parameter values were loaded; the message gives the counts,
examples of missing / unexpected / mis-shaped keys and the likely cause.
(:class:`mmconmim.engine.runner.CheckpointCoverageRunner` installs it.)

The *target* of a load is the module the checkpoint goes into: the whole
model for ``load_from`` / ``--resume`` / ``tools/test.py``, the module that
carries the ``init_cfg`` for ``Pretrained`` initialisation. When every key of
the checkpoint lies under one child of the target (an exported
``backbone.*`` file loaded into a whole model), the target is that child.

What counts as loaded is observed, not predicted: a load-state-dict pre-hook
on every module records each parameter whose key is in the state dict with
the module's shape when that module loads, i.e. after the modules' own load
hooks (BEiTViT's table expansion and resizing) have run. Model-level loads
run the named pre-load step :func:`~.layout.expand_shared_tables` first.
"""
from collections import Counter, OrderedDict, defaultdict
from typing import Dict, List, Optional

from mmengine.logging import MMLogger
from mmengine.model.weight_init import PretrainedInit
from torch import nn

from mmconmim.utils.validation import check_number
from .layout import SHARED_REL_POS_TABLE, expand_shared_tables

__all__ = [
    'CheckpointMismatchError', 'LoadWatcher', 'DEFAULT_MIN_COVERAGE',
    'check_coverage', 'pretrained_init_cfg'
]

DEFAULT_MIN_COVERAGE = 0.5
EXAMPLES = 5


class CheckpointMismatchError(RuntimeError):
    """A checkpoint loaded too little of the module it was meant for."""


class _Load:
    """What one ``load_state_dict`` call into ``root`` copied."""

    def __init__(self, root: nn.Module, source: str, state_dict,
                 unexpected_keys: List[str]):
        self.root = root
        self.source = source
        self.checkpoint_keys = list(state_dict)
        self.unexpected_keys = unexpected_keys  # torch fills it in place
        self.loaded = set()
        self.mismatched = OrderedDict()


def pretrained_init_cfg(module: nn.Module) -> Optional[dict]:
    """The module's own ``Pretrained`` init config, if any."""
    cfgs = getattr(module, 'init_cfg', None)
    if isinstance(cfgs, dict):
        cfgs = [cfgs]
    for cfg in cfgs or []:
        if isinstance(cfg, dict) and cfg.get('type') in ('Pretrained',
                                                         PretrainedInit):
            return cfg
    return None


class LoadWatcher:
    """Records what every ``load_state_dict`` into one of ``roots`` copies
    and raises :class:`CheckpointMismatchError` at the end of a load that
    covers less than ``min_coverage`` of its target.

    Args:
        roots: module -> description of the checkpoint loaded into it (used
            in messages). A load counts when the root itself is loaded (key
            prefix ``''``), e.g. by ``PretrainedInit`` or
            ``Runner.load_checkpoint``.
        min_coverage: smallest accepted fraction of the target's parameter
            values; 0 only reports.
        expand_shared_tables: give per-layer relative position tables of
            BEiT-style backbones below the root the checkpoint's shared
            table (model-level loads).

    Use as a context manager, or ``install()`` / ``remove()``.
    """

    def __init__(self, roots: Dict[nn.Module, str],
                 min_coverage: float = DEFAULT_MIN_COVERAGE,
                 expand_shared_tables: bool = False):
        check_number(None, 'min_checkpoint_coverage', min_coverage, low=0,
                     high=1, bool_ok=True)
        self.roots = {id(m): (m, source) for m, source in roots.items()}
        self.min_coverage = min_coverage
        self.expand_shared_tables = expand_shared_tables
        self.loads: List[_Load] = []  # finished loads, for reports/tests
        self._active: List[_Load] = []
        self._direct: Dict[int, list] = {}
        self._handles = []

    # -- installation -----------------------------------------------------
    def install(self) -> 'LoadWatcher':
        for root, _ in self.roots.values():
            by_path = defaultdict(list)
            for key, value in root.state_dict(keep_vars=True).items():
                path, _, name = key.rpartition('.')
                if hasattr(value, 'shape'):
                    by_path[path].append((name, tuple(value.shape)))
            for path, module in root.named_modules():
                if id(module) in self._direct:
                    continue
                self._direct[id(module)] = by_path.get(path, [])
                self._handles.append(
                    module.register_load_state_dict_pre_hook(self._pre_hook))
            self._handles.append(
                root.register_load_state_dict_post_hook(self._post_hook))
        return self

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._active.clear()

    def __enter__(self) -> 'LoadWatcher':
        return self.install()

    def __exit__(self, *exc_info) -> None:
        self.remove()

    # -- hooks ------------------------------------------------------------
    def _pre_hook(self, module, state_dict, prefix, local_metadata, strict,
                  missing_keys, unexpected_keys, error_msgs) -> None:
        if prefix == '' and id(module) in self.roots:
            if self.expand_shared_tables:
                self._expand_shared_tables(module, state_dict)
            self._active.append(
                _Load(module, self.roots[id(module)][1], state_dict,
                      unexpected_keys))
        if not self._active:
            return
        load = self._active[-1]
        for name, shape in self._direct.get(id(module), ()):
            key = prefix + name
            if key not in state_dict:
                continue
            given = tuple(getattr(state_dict[key], 'shape', ()))
            if given == shape:
                load.loaded.add(key)
            else:
                load.mismatched[key] = (given, shape)

    def _post_hook(self, module, incompatible_keys) -> None:
        if not self._active or self._active[-1].root is not module:
            return  # the module was loaded as part of a larger load
        load = self._active.pop()
        self.loads.append(load)
        check_coverage(load, self.min_coverage)

    @staticmethod
    def _expand_shared_tables(root, state_dict) -> None:
        copied = expand_shared_tables(root, state_dict)
        logger = MMLogger.get_current_instance()
        for prefix, count in copied.items():
            logger.info(
                f'Copied the shared relative position table '
                f'{prefix}{SHARED_REL_POS_TABLE} into the {count} layers of '
                f'{prefix[:-1]}.')


def _target_prefix(load: _Load) -> str:
    """``'child.'`` when every checkpoint key lies under one child of the
    root (an exported backbone loaded into a whole model), else ``''``."""
    firsts = {k.split('.', 1)[0] for k in load.checkpoint_keys}
    if len(firsts) == 1:
        (first, ) = firsts
        child = getattr(load.root, first, None)
        if isinstance(child, nn.Module) and any(
                k.startswith(first + '.') for k in load.checkpoint_keys):
            return first + '.'
    return ''


def _examples(keys, limit=EXAMPLES) -> str:
    keys = list(keys)
    if not keys:
        return 'none'
    shown = ', '.join(keys[:limit])
    return shown + (', ...' if len(keys) > limit else '')


def _by_module(keys) -> str:
    """'neck.* 8, head.* 2' -- where the keys are, then examples."""
    keys = list(keys)
    if not keys:
        return 'none'
    groups = Counter(k.split('.', 1)[0] + ('.*' if '.' in k else '')
                     for k in keys)
    where = ', '.join(f'{name} {count}' for name, count in
                      groups.most_common(4))
    return f'{where}; e.g. {_examples(keys)}'


def _likely_cause(load: _Load, params: List[tuple], prefix: str) -> str:
    ckpt = set(load.checkpoint_keys)
    wanted = {name[len(prefix):] for name, _ in params}
    enough = max(1, len(wanted) // 2)
    heads = Counter(k.split('.', 1)[0] for k in ckpt if '.' in k)
    for head, _ in heads.most_common(3):
        stripped = {k[len(head) + 1:] for k in ckpt
                    if k.startswith(head + '.')}
        if len(stripped & wanted) >= enough:
            return (f"the checkpoint's keys carry a '{head}.' prefix that the "
                    f"target's keys lack: load it with init_cfg=dict(type="
                    f"'Pretrained', checkpoint=..., prefix='{head}.') on the "
                    'module it belongs to')
    root_keys = set(load.root.state_dict())
    own_heads = Counter(k.split('.', 1)[0] for k in root_keys if '.' in k)
    for head, count in own_heads.most_common(3):
        prefixed = {f'{head}.{k}' for k in ckpt}
        if len(prefixed & root_keys) >= max(1, count // 2):
            return (f"the checkpoint holds bare keys of the model's "
                    f"'{head}' (e.g. exported with --no-prefix): load it "
                    f'into model.{head} with init_cfg=dict(type='
                    "'Pretrained', checkpoint=...) and no prefix, or "
                    're-export it with the '
                    "'backbone.' prefix")
    if load.mismatched and len(load.mismatched) >= len(load.loaded):
        return ('the key names match but the shapes do not: the checkpoint is '
                'of the same architecture family at another size (width, '
                'depth, patch or image size); use the config it was '
                'trained with')
    # which parts of the target the checkpoint fills, by parameter values
    parts = OrderedDict()
    for name, numel in params:
        part = parts.setdefault(name[len(prefix):].split('.', 1)[0], [0, 0])
        part[0] += numel if name in load.loaded else 0
        part[1] += numel
    empty = [name for name, (done, _) in parts.items() if done == 0]
    filled = [f'{name} {done / total:.1%}'
              for name, (done, total) in parts.items() if done]
    return ('the checkpoint belongs to another model or algorithm: nothing '
            f'of {_examples(empty, 4)} was loaded'
            + (f' (loaded: {_examples(filled, 4)})' if filled else '')
            + '; check load_from / --resume / init_cfg.checkpoint')


def check_coverage(load: _Load, min_coverage: float) -> float:
    """Log how much of the target ``load`` covered; raise
    :class:`CheckpointMismatchError` below ``min_coverage``. Returns the
    covered fraction of the target's parameter values."""
    prefix = _target_prefix(load)
    params = [(name, p.numel())
              for name, p in load.root.named_parameters()
              if name.startswith(prefix)]
    total = sum(n for _, n in params)
    if total == 0:
        return 1.0
    loaded = [(name, n) for name, n in params if name in load.loaded]
    fraction = sum(n for _, n in loaded) / total
    root_name = type(load.root).__name__
    if prefix:
        child = type(getattr(load.root, prefix[:-1])).__name__
        target = f'{root_name}.{prefix[:-1]} ({child})'
    else:
        target = root_name
    summary = (f'{load.source}: loaded {len(loaded)} of {len(params)} '
               f'parameter tensors of {target} ({fraction:.1%} of its '
               'parameter values)')
    logger = MMLogger.get_current_instance()
    logger.info(summary)
    if fraction >= min_coverage:
        return fraction
    missing = [name for name, _ in params if name not in load.loaded]
    own = set(load.root.state_dict())
    unexpected = [k for k in load.unexpected_keys] or [
        k for k in load.checkpoint_keys if k not in own]
    mismatched = [f'{k} {given} vs {shape}'
                  for k, (given, shape) in load.mismatched.items()]
    raise CheckpointMismatchError(
        f'{summary}, below the threshold of {min_coverage:.0%} '
        '(min_checkpoint_coverage): the checkpoint does not fit this model, '
        'so training or testing would start from random weights.\n'
        f'  missing ({len(missing)}): {_by_module(missing)}\n'
        f'  unexpected ({len(unexpected)}): {_by_module(unexpected)}\n'
        f'  shape mismatches ({len(mismatched)}): {_examples(mismatched, 3)}'
        f'\n  likely cause: '
        f'{_likely_cause(load, params, prefix)}.\n'
        '  (To load such a checkpoint anyway, set min_checkpoint_coverage=0 '
        'in the config; see docs/transfer.md.)')
