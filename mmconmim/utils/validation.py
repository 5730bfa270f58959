"""Argument checks shared by the package's constructors and functions.

Every bad config value gets the same kind of message, in one line::

    <owner>: <field> must be <requirement>[ (<fix>)], got <value!r>

``owner`` is the class (or function) that refused the value, ``field`` the
argument, ``<requirement>`` is written from the check's own bounds or
choices, and ``fix`` (optional) says what to set or where. The helpers raise
``ValueError`` unless a call site asks for another type (``type_error``),
so each site keeps the exception it raised before these helpers existed.

``bool`` is an ``int`` subclass: the helpers refuse ``True``/``False``
unless the call site passes ``bool_ok=True`` (kept only where a site
accepted them before).
"""
import math
import numbers
from typing import Any, Collection, Optional, Type

__all__ = ['check_choice', 'check_int', 'check_number', 'check_positive']


def _fail(owner: Optional[str], field: str, requirement: str, value: Any,
          fix: Optional[str], error: Type[Exception]) -> None:
    where = f'{owner}: ' if owner else ''
    hint = f' ({fix})' if fix else ''
    raise error(f'{where}{field} must be {requirement}{hint}, got {value!r}')


def _bound(x) -> str:
    return f'{x:g}' if isinstance(x, float) else str(x)


def _range_text(low, high, low_open: bool, high_open: bool,
                finite: bool) -> str:
    """``'in (0, 1]'``, ``'>= 2'``, ``'> 0 and finite'``..."""
    if low is not None and high is not None:
        return (f"in {'(' if low_open else '['}{_bound(low)}, "
                f"{_bound(high)}{')' if high_open else ']'}")
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {_bound(low)}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {_bound(high)}")
    if finite:
        parts.append('finite')
    return ' and '.join(parts) or 'a number'


def check_number(owner: Optional[str],
                 field: str,
                 value,
                 *,
                 low=None,
                 high=None,
                 low_open: bool = False,
                 high_open: bool = False,
                 finite: bool = False,
                 noun: Optional[str] = None,
                 bool_ok: bool = False,
                 fix: Optional[str] = None,
                 error: Type[Exception] = ValueError):
    """Refuse ``value`` unless it is a real number within the bounds.

    Args:
        owner: Class or function named in the message (None: no prefix).
        field: The argument's name.
        value: What was given; returned unchanged when accepted.
        low, high: Bounds (None: unbounded), closed unless ``low_open`` /
            ``high_open``. NaN fails every bound.
        finite: Also refuse +-inf (and NaN).
        noun: Optional word before the bounds (``'a number'`` gives
            ``must be a number in [0, 1]``).
        bool_ok: Accept ``True``/``False`` as 1/0.
        fix: What to set, in parentheses after the requirement.
        error: Exception type raised.
    """
    ok = isinstance(value, numbers.Real) and (bool_ok or
                                              not isinstance(value, bool))
    if ok:
        ok = ((low is None or (value > low if low_open else value >= low))
              and (high is None or
                   (value < high if high_open else value <= high))
              and (not finite or math.isfinite(value)))
    if not ok:
        requirement = _range_text(low, high, low_open, high_open, finite)
        if noun:
            requirement = f'{noun} {requirement}'
        _fail(owner, field, requirement, value, fix, error)
    return value


def check_positive(owner: Optional[str], field: str, value, *,
                   finite: bool = False, bool_ok: bool = False,
                   fix: Optional[str] = None):
    """``value > 0`` (and finite if asked); see :func:`check_number`."""
    return check_number(owner, field, value, low=0, low_open=True,
                        finite=finite, bool_ok=bool_ok, fix=fix)


def check_int(owner: Optional[str],
              field: str,
              value,
              *,
              min: Optional[int] = None,
              max: Optional[int] = None,
              bool_ok: bool = False,
              fix: Optional[str] = None,
              type_error: Type[Exception] = ValueError) -> int:
    """Refuse ``value`` unless it is an integer in ``[min, max]``.

    Python and numpy integers are accepted and returned as ``int``.
    ``type_error`` is raised for a non-integer, ``ValueError`` for an
    integer out of range.
    """
    is_int = isinstance(value, numbers.Integral) and (
        bool_ok or not isinstance(value, bool))
    if min == 1 and max is None:
        requirement = 'a positive integer'
    elif min is None and max is None:
        requirement = 'an integer'
    else:
        bounds = _range_text(min, max, False, False, False)
        requirement = f'an integer {bounds}'
    if not is_int:
        _fail(owner, field, requirement, value, fix, type_error)
    if (min is not None and value < min) or (max is not None
                                             and value > max):
        _fail(owner, field, requirement, value, fix, ValueError)
    return int(value)


def _choices_text(choices: Collection) -> str:
    options = list(choices)
    if len(options) == 2:
        return f'{options[0]!r} or {options[1]!r}'
    return f'one of {tuple(options)}'


def check_choice(owner: Optional[str], field: str, value,
                 choices: Collection, *, fix: Optional[str] = None,
                 error: Type[Exception] = ValueError):
    """Refuse ``value`` unless it is one of ``choices`` (``in`` test; a
    mapping's keys). Two choices read ``'a' or 'b'``, more ``one of
    ('a', 'b', 'c')``."""
    try:
        ok = value in choices
    except TypeError:  # an unhashable value against a set or mapping
        ok = False
    if not ok:
        _fail(owner, field, _choices_text(choices), value, fix, error)
    return value
