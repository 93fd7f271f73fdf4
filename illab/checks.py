"""Argument checks shared by the public API: a wrong count or seed is an error that names the
argument and the fix, never a silent ``int()`` truncation or a bare ``int()`` traceback.

>>> count(10, "episodes")
10
>>> count(2.5, "episodes")
Traceback (most recent call last):
...
ValueError: episodes must be a whole number, got 2.5; pass an int such as 2 or 3
"""

from __future__ import annotations

import math
import numbers
from typing import Any


def count(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int`` count, checked.

    Accepts Python/numpy integers and floats with an integral value (``10.0``); rejects
    ``bool``, strings, fractional and non-finite numbers.

    Args:
        value: the user's input.
        name: the argument's name, used in the message.
        minimum: smallest allowed value.

    Returns:
        ``int(value)``.

    Raises:
        TypeError: not a number (e.g. ``"ten"``, ``None``, ``True``).
        ValueError: fractional (``2.5``), NaN/inf, or below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}; pass a number such as "
                        f"{max(minimum, 10)}")
    if isinstance(value, numbers.Integral):
        out = int(value)
    else:
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{name} must be a finite whole number, got {value!r}")
        if not v.is_integer():
            raise ValueError(f"{name} must be a whole number, got {value!r}; pass an int such as "
                             f"{math.floor(v)} or {math.ceil(v)}")
        out = int(v)
    if out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return out


def seed(value: Any, name: str = "seed") -> int:
    """A seed as a non-negative ``int`` (same rules as :func:`count` with ``minimum=0``).

    Raises:
        TypeError / ValueError: as :func:`count`, naming ``name``.
    """
    return count(value, name, minimum=0)


def real(value: Any, name: str, allow_neg_inf: bool = False) -> float:
    """``value`` as a ``float`` that is not NaN (and finite unless ``allow_neg_inf`` and it is -inf).

    Raises:
        TypeError: not a number. ValueError: NaN or an infinity that is not allowed.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not (allow_neg_inf and v < 0)):
        raise ValueError(f"{name} must be a finite number{' (or -inf)' if allow_neg_inf else ''}, got {value!r}")
    return v
