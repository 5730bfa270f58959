"""Teacher or student: the one rule every tool follows.

ConMIM trains a student and keeps a momentum (EMA) teacher; the official
recipe (Yi et al., ICLR 2023) fine-tunes from the **teacher**. A2MIM and CIM
have one network, ``backbone``. So, for features, exports, kNN / linear
probes and maps:

* ``source='auto'`` (the default everywhere) is the teacher when the model
  or file has one that holds weights, else the student (``backbone``). A
  ConMIM model whose teacher was never updated (freshly built, not loaded)
  has an independently initialised teacher, not a copy of the student: the
  student is used then, and reported as such.
* ``'teacher'`` asks for the teacher and fails clearly where there is none;
  ``'student'`` asks for the online backbone.
* An exported file holds one backbone and records which one in
  ``meta['source']``; it is reported as that network, and asking for the
  other one fails.

The choice has one name everywhere: ``source`` (the tools' ``--source``,
an export's ``meta['source']``, ``load_backbone(source=)``; ``network=`` is
its deprecated old keyword).

One resolution per call: :func:`choose` applies the rule and returns a
:class:`Network`, the resolved choice. Every function that takes ``source``
uses a :class:`Network` as it is, without consulting the rule again, so a
tool's entry point (``load_model``, ``load_backbone``) resolves once and
passes the result down (``select_backbone``, ``extract_splits``, ...).

The teacher is reached only through the algorithm's ``teacher_backbone`` /
``teacher_projector`` / ``teacher_updated`` accessors, and its place in a
state dict only through :data:`TEACHER_BACKBONE_PREFIX` /
:data:`TEACHER_PROJECTOR_PREFIX` here (:class:`mmconmim.models.ConMIM` keeps
its teacher as ``teacher = EMA(Sequential(backbone, projector))``; a test
checks that its state dict uses these prefixes). This module imports nothing
of mmconmim's models, so models, tools and the checkpoint code can all use
it without import cycles.
"""
from typing import Dict, Mapping, Optional, Tuple

from mmengine.model import is_model_wrapper
from torch import nn

from mmconmim.utils.validation import check_choice

NETWORKS = ('auto', 'teacher', 'student')
STUDENT_BACKBONE_PREFIX = 'backbone.'
STUDENT_PROJECTOR_PREFIX = 'neck.'
# ConMIM's ``teacher = EMA(Sequential(backbone, projector))``: mmengine's
# averaged model keeps the copy under ``module``
TEACHER_ATTRIBUTE = 'teacher'
TEACHER_BACKBONE_PREFIX = f'{TEACHER_ATTRIBUTE}.module.0.'
TEACHER_PROJECTOR_PREFIX = f'{TEACHER_ATTRIBUTE}.module.1.'


class Network(str):
    """A choice the rule has resolved: ``'teacher'`` or ``'student'``.

    A ``str`` (it prints, compares and JSON-serialises as its name), so
    callers that print the resolved ``source`` see what they saw before.
    It lives within a call: what is written to a checkpoint or a feature
    file is ``str(network)`` (the weights-only gate reads plain types only).
    """

    def __new__(cls, name: str) -> 'Network':
        check_choice(None, 'source', name, ('teacher', 'student'))
        return super().__new__(cls, name)

    @property
    def backbone_prefix(self) -> str:
        """Where this network's backbone lives in a training state dict."""
        return backbone_prefix(self)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def teacher_prefixes() -> Tuple[str, str]:
    """(backbone, projector) state-dict prefixes of ConMIM's teacher."""
    return TEACHER_BACKBONE_PREFIX, TEACHER_PROJECTOR_PREFIX


def check_network(source: str) -> str:
    return check_choice(None, 'source', source, NETWORKS)


def choose(source: str, has_teacher: bool, teacher_ready: bool = True,
           owner: str = 'the model') -> Network:
    """The rule of the module docstring: ``'teacher'`` or ``'student'``
    (the one place it is applied: every resolution comes here).

    Args:
        source: the request, one of :data:`NETWORKS`.
        has_teacher: whether ``owner`` has a momentum teacher at all.
        teacher_ready: whether that teacher holds weights (updated or
            loaded); a never-updated teacher gives way to the student.
    """
    check_network(source)
    if source == 'teacher' and not has_teacher:
        raise ValueError(
            f'source=teacher, but {owner} has no momentum teacher (only '
            'ConMIM has one); use source=student or auto')
    if source == 'student' or not has_teacher or not teacher_ready:
        return Network('student')
    return Network('teacher')


# --------------------------------------------------------------- models
def has_teacher(model: nn.Module) -> bool:
    """Whether ``model`` (possibly DDP-wrapped) keeps a momentum teacher."""
    return hasattr(unwrap(model), 'teacher_backbone')


def model_network(model: nn.Module, source: str = 'auto') -> Network:
    """The network of ``model`` that ``source`` names under the rule (a
    resolved :class:`Network` is taken as it is)."""
    model = unwrap(model)
    teacher = has_teacher(model)
    if isinstance(source, Network):
        if source == 'teacher' and not teacher:
            raise ValueError(f'source=teacher was resolved for another '
                             f'model: {type(model).__name__} has no '
                             'momentum teacher')
        return source
    return choose(source, teacher,
                  teacher and bool(model.teacher_updated),
                  type(model).__name__)


def select_backbone(model: nn.Module, source: str = 'auto'
                    ) -> Tuple[nn.Module, str]:
    """(backbone module, ``'teacher'`` / ``'student'``)."""
    model = unwrap(model)
    chosen = model_network(model, source)
    if chosen == 'teacher':
        return model.teacher_backbone, chosen
    if not hasattr(model, 'backbone'):
        raise AttributeError(
            f'{type(model).__name__} has no backbone attribute')
    return model.backbone, chosen


def select_projector(model: nn.Module, source: str = 'auto'
                     ) -> Tuple[nn.Module, str]:
    """(projector of the chosen network, its name): ConMIM's
    ``teacher_projector`` or ``neck``. Models without a projector (A2MIM,
    CIM: their necks decode pixels) raise ``ValueError``."""
    model = unwrap(model)
    chosen = model_network(model, source)
    if not has_teacher(model) or getattr(model, 'neck', None) is None:
        raise ValueError(
            f'{type(model).__name__} has no token projector (only ConMIM '
            'projects tokens); use the backbone embedding')
    if chosen == 'teacher':
        return model.teacher_projector, chosen
    return model.neck, chosen


# ----------------------------------------------------------- state dicts
def state_has_teacher(state_dict: Mapping[str, object]) -> bool:
    prefix = teacher_prefixes()[0]
    return any(k.startswith(prefix) for k in state_dict)


def backbone_prefix(source: str) -> str:
    """Where ``source``'s backbone lives in a training state dict."""
    check_choice(None, 'source', source, ('teacher', 'student'))
    if source == 'teacher':
        return teacher_prefixes()[0]
    return STUDENT_BACKBONE_PREFIX


def exported_network(meta: Optional[Mapping]) -> Optional[str]:
    """The network an exported backbone file says it holds, or None for a
    training checkpoint (its meta has no ``source``)."""
    source = (meta or {}).get('source')
    return source if source in ('teacher', 'student') else None


def state_network(state_dict: Mapping[str, object],
                  meta: Optional[Mapping] = None,
                  source: str = 'auto',
                  owner: str = 'the checkpoint') -> Tuple[str, Network]:
    """(prefix of the chosen backbone's keys in ``state_dict``, its name).

    A training checkpoint of ConMIM holds both networks; one of A2MIM/CIM
    holds ``backbone.*`` only (the student, the only network). An exported
    file holds the network its ``meta['source']`` names, under
    ``meta['prefix']`` (``'backbone.'`` unless exported with
    ``--no-prefix``).
    """
    check_network(source)
    exported = exported_network(meta)
    if exported is not None and not state_has_teacher(state_dict):
        if source not in ('auto', exported):
            raise KeyError(
                f'{owner} is an exported {exported} backbone; it holds no '
                f'{source} weights. Use source=auto (or {exported}), or '
                f'export the {source} from the training checkpoint')
        prefix = str((meta or {}).get('prefix', STUDENT_BACKBONE_PREFIX))
        if isinstance(source, Network):
            return prefix, source
        # the rule for an export: it is the network it records
        return prefix, choose(exported, exported == 'teacher', owner=owner)
    teacher = state_has_teacher(state_dict)
    if source == 'teacher' and not teacher:
        raise KeyError(
            f'{owner} holds no teacher weights ({teacher_prefixes()[0]}* '
            'keys): it is not a ConMIM training checkpoint (A2MIM/CIM '
            'checkpoints and exported student backbones have one network);'
            ' use source=student or auto')
    chosen = source if isinstance(source, Network) else \
        choose(source, teacher, owner=owner)
    return backbone_prefix(chosen), chosen


def strip_prefix(state_dict: Mapping[str, object], prefix: str
                 ) -> Dict[str, object]:
    """The entries under ``prefix``, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state_dict.items()
            if k.startswith(prefix)}
