"""Deterministic inputs of a case, so any process can rebuild them from (case, seed) alone."""

from __future__ import annotations

import importlib
import zlib

import numpy as np

from ..cases import Case, make_inputs


def case_rng(case: Case, seed: int) -> np.random.Generator:
    """A generator that depends only on the sweep seed and the case (not on run order)."""
    tag = zlib.crc32(repr(sorted(case.key().items())).encode())
    return np.random.default_rng([seed, tag])


def case_inputs(case: Case, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, kernel)`` for a plain case, or ``(x, w)`` from :mod:`convbench.layer` in layer mode."""
    rng = case_rng(case, seed)
    if case.batch or case.filters:
        layer = importlib.import_module("convbench.layer")
        return layer.make_inputs(case, rng)
    return make_inputs(case, rng)
