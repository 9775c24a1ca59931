"""One exception type for the whole package, and the checks that raise it early.

Every bad argument raises :class:`LotteryLabError` (a ``ValueError``) whose message names
the argument, the value it got and the values it allows.

Example:
    >>> from lotterylab.errors import check_choice
    >>> check_choice("scope", "layerwise", ("layerwise", "global"))
    'layerwise'
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["LotteryLabError", "check_choice", "check_fraction", "check_positive_float", "check_positive_int"]


class LotteryLabError(ValueError):
    """Raised for bad input to any lotterylab function; the message names the argument."""


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise naming ``name`` and the choices."""
    allowed = tuple(allowed)
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise LotteryLabError(f"{name}={value!r} is not allowed; choose one of {choices}.")
    return value


def check_fraction(name: str, value: Any, *, low_inclusive: bool = True, high: float = 1.0,
                   high_inclusive: bool = False) -> float:
    """Return ``value`` as a float if it lies in [0, high) (bounds configurable), else raise."""
    lo_br = "[" if low_inclusive else "("
    hi_br = "]" if high_inclusive else ")"
    interval = f"{lo_br}0, {high:g}{hi_br}"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise LotteryLabError(f"{name}={value!r} must be a number in {interval}.") from None
    ok_lo = v >= 0 if low_inclusive else v > 0
    ok_hi = v <= high if high_inclusive else v < high
    if not (math.isfinite(v) and ok_lo and ok_hi):
        raise LotteryLabError(f"{name}={value!r} must be a number in {interval}.")
    return v


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer >= ``minimum``, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LotteryLabError(f"{name}={value!r} must be an integer >= {minimum}.")
    return value


def check_positive_float(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is finite and > 0 (>= 0 with ``allow_zero``), else raise.

    Example:
        >>> check_positive_float("lr", 0.1)
        0.1
    """
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool):
        raise LotteryLabError(f"{name}={value!r} must be a finite number {bound}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise LotteryLabError(f"{name}={value!r} must be a finite number {bound}.") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise LotteryLabError(f"{name}={value!r} must be a finite number {bound}.")
    return v
