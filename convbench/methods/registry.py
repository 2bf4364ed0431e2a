"""The method registry: every convolution method with the metadata the runner and docs need.

A method is one function ``func(x, kernel, stride, padding) -> out`` with the contract of
:func:`convbench.correlate`, except that its arguments are already checked and normalised:

- ``x`` is (H, W) with ``kernel`` (kh, kw), or ``x`` (H, W, C) with ``kernel`` (kh, kw, C);
- both have the same dtype, one of int64, float32, float64, and the result has that dtype too;
- ``stride`` and ``padding`` are ``(h, w)`` pairs of ints (stride >= 1, padding >= 0);
- the kernel fits in the zero-padded input.

It returns the valid cross-correlation (no kernel flip) of shape
``(1 + (H + 2 ph - kh) // sh, 1 + (W + 2 pw - kw) // sw)``, and raises
:class:`convbench.Unsupported` for a case it cannot do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..cases import Case, Pair
from ..errors import Unsupported

MethodFunc = Callable[[np.ndarray, np.ndarray, Pair, Pair], np.ndarray]

FAMILIES = ("direct", "view", "fft", "gemm", "library", "auto", "user")


def _always(case: Case) -> str | None:
    return None


@dataclass(frozen=True)
class Method:
    """A registered method.

    Attributes
    ----------
    name : stable name used in configs and CSVs.
    family : one of ``FAMILIES``.
    origin : where it comes from (the seed answer, a library, or ``convbench``).
    func : the implementation (see the module docstring for its contract).
    supports : ``supports(case)`` returns ``None`` or the reason the case is not supported.
    estimate_bytes : ``estimate_bytes(case)`` predicts the peak extra memory of one call, in bytes.
    summary : one line for the method table ("what it supports" and how it works).
    """

    name: str
    family: str
    origin: str
    func: MethodFunc
    estimate_bytes: Callable[[Case], int]
    supports: Callable[[Case], str | None] = field(default=_always)
    summary: str = ""

    def check(self, case: Case) -> None:
        """Raise :class:`Unsupported` when this method cannot do ``case``."""
        reason = self.supports(case)
        if reason:
            raise Unsupported(f"{self.name}: {reason}")

    def __call__(
        self, x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair
    ) -> np.ndarray:
        return self.func(x, kernel, stride, padding)


class Registry:
    """An ordered set of methods: one for plain cases, another for layer mode (issue 8)."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}
        self._missing: dict[str, str] = {}

    def note_missing(self, name: str, why: str) -> None:
        """Record that optional method ``name`` is not registered here, and ``why`` (what to
        install): naming it then says so instead of "unknown method"."""
        self._missing[name] = why

    def unknown(self, name: str) -> str:
        """The one-line message for a name that is not registered (what to install, if known)."""
        if name in self._missing:
            return f"method {name!r} is not available here: {self._missing[name]}"
        return f"unknown method {name!r}; known: {', '.join(self._methods) or '(none)'}"

    def register(
        self,
        name: str,
        *,
        family: str,
        origin: str,
        estimate_bytes: Callable[[Case], int],
        supports: Callable[[Case], str | None] = _always,
        summary: str = "",
    ) -> Callable[[MethodFunc], MethodFunc]:
        """Decorator that registers ``func`` under ``name`` (names must be unique)."""
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")

        def decorate(func: MethodFunc) -> MethodFunc:
            if name in self._methods:
                raise ValueError(f"method {name!r} is registered twice")
            doc = summary or (func.__doc__ or "").strip().splitlines()[0]
            self._methods[name] = Method(name, family, origin, func, estimate_bytes, supports, doc)
            return func

        return decorate

    def registered(self) -> dict[str, Method]:
        """All registered methods, in registration order (a copy)."""
        return dict(self._methods)


#: The registry of plain (single image, single kernel) methods.
PLAIN = Registry()
register = PLAIN.register
registered = PLAIN.registered
note_missing = PLAIN.note_missing
