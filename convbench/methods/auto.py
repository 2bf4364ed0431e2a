"""``auto``: the method the calibrated decision table expects to be fastest, within a memory budget.

The decision for a case is cached, so after the first call of a shape it costs a dict look-up.
The budget is half of the memory available when the first decision is made
(:func:`convbench.advise.default_memory_limit`); :func:`set_memory_limit` changes it.
"""

from __future__ import annotations

import numpy as np

from .. import advise
from ..cases import Case, Pair
from .registry import MethodFunc, register, registered

_CHOICES: dict[Case, str] = {}
_LIMIT: dict[str, int] = {}
# Keyed by the raw shapes, so a repeated call skips building a Case (microseconds matter for the
# smallest cases, where the whole correlation takes ~10 us).
_DISPATCH: dict[tuple, MethodFunc] = {}


def memory_limit() -> int:
    """The budget (bytes) ``auto`` gives the chosen method."""
    if "bytes" not in _LIMIT:
        _LIMIT["bytes"] = advise.default_memory_limit()
    return _LIMIT["bytes"]


def set_memory_limit(limit_bytes: int | None) -> None:
    """Set the budget (``None``: back to half of the memory available) and forget past choices."""
    _LIMIT.clear()
    if limit_bytes is not None:
        _LIMIT["bytes"] = int(limit_bytes)
    forget_choices()


def choice(case: Case) -> str:
    """The name of the method ``auto`` runs for ``case`` (cached per case)."""
    name = _CHOICES.get(case)
    if name is None:
        name = advise.choose(case, registered(), memory_limit())[0].method
        _CHOICES[case] = name
    return name


def forget_choices() -> None:
    """Drop cached choices (after the decision table changed)."""
    _CHOICES.clear()
    _DISPATCH.clear()


def _case_of(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> Case:
    return Case(
        input_size=(x.shape[0], x.shape[1]),
        kernel_size=(kernel.shape[0], kernel.shape[1]),
        depth=x.shape[2] if x.ndim == 3 else 0,
        stride=stride,
        padding=padding,
        dtype=x.dtype.name,
    )


def _auto_bytes(case: Case) -> int:
    return int(registered()[choice(case)].estimate_bytes(case))


@register(
    "auto",
    family="auto",
    origin="convbench",
    estimate_bytes=_auto_bytes,
    summary="runs the method the calibrated table expects fastest, within a memory budget",
)
def auto(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Dispatch to :func:`choice` of the case; shapes, cost and memory are the chosen method's."""
    key = (x.shape, kernel.shape, x.dtype.char, stride, padding)
    func = _DISPATCH.get(key)
    if func is None:
        func = registered()[choice(_case_of(x, kernel, stride, padding))].func
        _DISPATCH[key] = func
    return func(x, kernel, stride, padding)
