"""All convolution methods. Importing this package registers them in a stable order."""

from __future__ import annotations

from ..errors import Unsupported
from .registry import Method, register, registered

# Registration order is the order of available_methods(): reference first, then by family.
from . import reference  # noqa: F401  isort: skip
from . import direct  # noqa: F401  isort: skip
from . import views  # noqa: F401  isort: skip
from . import fft  # noqa: F401  isort: skip
from . import gemm  # noqa: F401  isort: skip
from . import library  # noqa: F401  isort: skip
from . import fast  # noqa: F401  isort: skip
from . import auto  # noqa: F401  isort: skip


def available_methods() -> list[str]:
    """Names of every registered method, in a stable order (``loops`` first)."""
    return list(registered())


def get_method(name: str) -> Method:
    """The registered method called ``name``.

    Raises
    ------
    ValueError
        If no method has that name; the message lists the known ones.
    """
    methods = registered()
    if name not in methods:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(methods)}")
    return methods[name]


__all__ = ["Method", "Unsupported", "available_methods", "get_method", "register", "registered"]
