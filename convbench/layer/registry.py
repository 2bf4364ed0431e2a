"""The layer-mode method registry, kept apart from the plain (single image, single kernel) one.

A layer method is ``func(x, w, stride, padding) -> out`` with normalised arguments:

- ``x`` is (N, H, W, C) (NHWC) and ``w`` is (kh, kw, C, F) (HWIO);
- both have the same dtype, one of int64, float32, float64, and the result has that dtype too;
- ``stride`` and ``padding`` are ``(h, w)`` pairs of ints (stride >= 1, padding >= 0);
- the kernel fits in the zero-padded input.

It returns the valid cross-correlation (no kernel flip) of shape (N, Ho, Wo, F) with
``Ho = 1 + (H + 2 ph - kh) // sh`` and ``Wo = 1 + (W + 2 pw - kw) // sw``, and raises
:class:`convbench.Unsupported` for a case it cannot do.
"""

from __future__ import annotations

from ..methods.registry import Method, Registry

#: Every layer method, in registration order (``loops`` first).
LAYER = Registry()

__all__ = ["LAYER", "Method"]
