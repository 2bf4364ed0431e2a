"""All convolution methods. Importing this package registers them in a stable order."""

from __future__ import annotations

from ..errors import Unsupported
from .registry import PLAIN, Method, register, registered

# Registration order is the order of available_methods(): reference first, then by family.
from . import reference  # noqa: F401  isort: skip
from . import direct  # noqa: F401  isort: skip
from . import views  # noqa: F401  isort: skip
from . import fft  # noqa: F401  isort: skip
from . import gemm  # noqa: F401  isort: skip
from . import library  # noqa: F401  isort: skip
from . import fast  # noqa: F401  isort: skip
from . import jit  # noqa: F401  isort: skip
from . import auto  # noqa: F401  isort: skip


def available_methods() -> list[str]:
    """Names of every registered method, in a stable order (``loops`` first)."""
    return list(registered())


def get_method(name: str) -> Method:
    """The registered method called ``name``.

    Raises
    ------
    ValueError
        If no method has that name; the message lists the known ones, or says what to install
        for an optional method that is absent here.
    """
    methods = registered()
    if name not in methods:
        raise ValueError(PLAIN.unknown(name))
    return methods[name]


__all__ = [
    "PLAIN",
    "Method",
    "Unsupported",
    "available_methods",
    "get_method",
    "register",
    "registered",
]
