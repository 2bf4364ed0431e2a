"""Layer mode (issue 8): batched, multi-filter convolution, x (N, H, W, C) with w (kh, kw, C, F).

The runner uses :func:`registered`, :func:`make_inputs` and :func:`reference` for cases whose
``batch`` and ``filters`` are set; users call :func:`conv2d_layer`.
"""

# Register every method first, in a stable order, whatever submodule a caller imports.
from . import methods  # noqa: F401  isort: skip
from .api import (
    available_layer_methods,
    conv2d_layer,
    get_layer_method,
    make_inputs,
    normalize_layer,
    reference,
    registered,
)
from .registry import LAYER

__all__ = [
    "LAYER",
    "available_layer_methods",
    "conv2d_layer",
    "get_layer_method",
    "make_inputs",
    "normalize_layer",
    "reference",
    "registered",
]
