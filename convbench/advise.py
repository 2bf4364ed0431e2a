"""Which method to use for a case: a cost model calibrated by measurement, and its table.

For every method (and dtype) the expected time of a case is a non-negative combination of
operation counts of the case (:data:`FEATURES`: call overhead, taps, input and output sizes,
multiply-adds done and wasted, FFT work...), fitted by non-negative least squares on the *relative*
error of measured medians. The fit alone misses local effects (cache sizes, BLAS kernels), so its
log residuals at the measured cells are kept too and interpolated from the nearest cells
(inverse-distance in log-shape space): at a measured cell the prediction is the measurement.

The table (JSON, :func:`save_table` / :func:`load_table`) holds the fitted coefficients and the
residual cells. ``convbench tune`` builds one from results CSVs; the package ships a default one in
``convbench/data/``, and a table in the user cache directory takes precedence.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from .cases import Case
from .errors import ConfigError, Unsupported

if TYPE_CHECKING:
    from .methods.registry import Method

TABLE_SCHEMA = 1
TABLE_NAME = "auto_table.json"
#: Methods the table never recommends: ``auto`` itself, and ``torch``, a peer whose first call
#: imports torch (~1 s, hundreds of MiB) into the user's process.
NEVER_CHOSEN = frozenset({"auto", "torch"})
NEIGHBOURS = 4

FEATURES: tuple[str, ...] = (
    "call",  # fixed overhead per call
    "taps",  # Python-level loop iterations of tap-by-tap methods
    "taps_depth",  # per-channel loops
    "input",  # Hp * Wp * C values touched (padding, copies)
    "output",  # Ho * Wo outputs
    "tap_planes",  # T passes over the output (shift-add)
    "macs",  # useful multiply-adds: Ho * Wo * T * C
    "wide_macs",  # multiply-adds over a "wide" output of Wo + (kw - 1) // sw columns (phase grids)
    "all_macs",  # multiply-adds of every stride-1 output (compute, then sub-sample)
    "fft_full",  # C * N log2 N at the full linear-correlation size
    "fft_poly",  # sh * sw * C * N log2 N at the polyphase size
    "operator",  # (Ho * Wo) * (Hp * Wp * C): an operator matrix
)


def cost_features(case: Case) -> np.ndarray:
    """Operation counts of ``case`` (see :data:`FEATURES`), as float64 of shape (len(FEATURES),)."""
    hp, wp = case.padded_size
    ho, wo = case.output_size
    kh, kw = case.kernel_size
    sh, sw = case.stride
    c = case.channels
    taps = kh * kw
    full = (hp + kh - 1) * (wp + kw - 1)
    poly = (ho + -(-kh // sh)) * (wo + -(-kw // sw))
    return np.array(
        [
            1.0,
            taps,
            taps * c,
            hp * wp * c,
            ho * wo,
            taps * ho * wo,
            ho * wo * taps * c,
            ho * (wo + (kw - 1) // sw) * taps * c,
            (hp - kh + 1) * (wp - kw + 1) * taps * c,
            c * full * math.log2(full + 1),
            sh * sw * c * poly * math.log2(poly + 1),
            float(ho * wo) * hp * wp * c,
        ],
        dtype=np.float64,
    )


def shape_position(case: Case) -> np.ndarray:
    """Where a case lies for the residual interpolation: log2 of its sizes."""
    hp, wp = case.padded_size
    return np.log2(
        np.array([hp, wp, *case.kernel_size, case.channels, *case.stride], dtype=np.float64)
    )


@dataclass
class MethodModel:
    """The calibrated cost of one method for one dtype."""

    coef: np.ndarray  # seconds per unit of each feature
    positions: np.ndarray  # (n, 7) shape positions of the measured cells
    residuals: np.ndarray  # (n,) log(measured / fitted) at those cells

    def predict(self, case: Case) -> float:
        """Expected seconds per call."""
        return self.predict_at(cost_features(case), shape_position(case))[0]

    def predict_at(self, features: np.ndarray, position: np.ndarray) -> tuple[float, bool]:
        """Expected seconds per call at precomputed features, and whether it was measured there."""
        fitted = max(float(features @ self.coef), 1e-7)
        if len(self.residuals) == 0:
            return fitted, False
        dist = np.sqrt(((self.positions - position) ** 2).sum(axis=1))
        k = min(NEIGHBOURS, len(dist))
        nearest = np.argpartition(dist, k - 1)[:k]
        closest = nearest[np.argmin(dist[nearest])]
        if dist[closest] < 1e-9:
            return fitted * math.exp(self.residuals[closest]), True
        weights = 1.0 / dist[nearest] ** 2
        return fitted * math.exp(float(weights @ self.residuals[nearest] / weights.sum())), False


@dataclass
class Table:
    """A decision table: a calibrated model per ``(method, dtype)`` and where it came from."""

    models: dict[tuple[str, str], MethodModel]
    meta: dict = field(default_factory=dict)

    def methods(self) -> list[str]:
        return sorted({m for m, _ in self.models})

    _stacked: dict[str, tuple] = field(default_factory=dict, repr=False, compare=False)

    def model(self, method: str, dtype: str) -> MethodModel | None:
        """The model of ``method`` for ``dtype``, else its float64 one (dtypes rarely reorder)."""
        return self.models.get((method, dtype)) or self.models.get((method, "float64"))

    def _stack(self, dtype: str) -> tuple:
        # Every model of a dtype over the union of their cells: one residual row per method,
        # NaN where that method was not measured, so one pass of numpy predicts them all.
        if dtype not in self._stacked:
            names = [m for m in self.methods() if self.model(m, dtype) is not None]
            models = [self.model(m, dtype) for m in names]
            cells = np.unique(np.concatenate([m.positions for m in models]), axis=0)
            residuals = np.full((len(models), len(cells)), np.nan)
            for row, m in enumerate(models):
                for pos, r in zip(m.positions, m.residuals, strict=True):
                    residuals[row, np.argmin(((cells - pos) ** 2).sum(axis=1))] = r
            coef = np.array([m.coef for m in models])
            own = np.array([(m, dtype) in self.models for m in names])
            self._stacked[dtype] = (names, coef, cells, residuals, own)
        return self._stacked[dtype]

    def predict_all(self, case: Case) -> dict[str, tuple[float, bool]]:
        """``{method: (expected seconds, measured at this very cell)}`` for every method."""
        names, coef, cells, residuals, own = self._stack(case.dtype)
        fitted = np.maximum(coef @ cost_features(case), 1e-7)
        dist = np.sqrt(((cells - shape_position(case)) ** 2).sum(axis=1))
        order = np.argsort(dist)
        near = residuals[:, order]
        valid = ~np.isnan(near)
        take = valid & (np.cumsum(valid, axis=1) <= NEIGHBOURS)
        at_cell = valid[:, 0] & (dist[order[0]] < 1e-9)
        weights = np.where(take, 1.0 / np.maximum(dist[order], 1e-12) ** 2, 0.0)
        smooth = (weights * np.nan_to_num(near)).sum(axis=1) / np.maximum(
            weights.sum(axis=1), 1e-300
        )
        correction = np.where(at_cell, near[:, 0], smooth)
        expected = fitted * np.exp(np.nan_to_num(correction))
        return {
            n: (float(t), bool(a and o))
            for n, t, a, o in zip(names, expected, at_cell, own, strict=True)
        }


@dataclass(frozen=True)
class Candidate:
    """One ranked recommendation."""

    method: str
    expected_time_s: float
    expected_bytes: int
    measured: bool  # True when the case itself was measured (not interpolated)


# --- building a table from results ----------------------------------------------------------------


def _fit(cases: list[Case], times: np.ndarray) -> MethodModel:
    features = np.array([cost_features(c) for c in cases])
    scale = features.max(axis=0)
    scale[scale == 0] = 1.0
    # Relative error: every row divided by its own measured time.
    weighted = features / scale / times[:, None]
    scaled_coef, _ = nnls(weighted, np.ones(len(times)), maxiter=50 * features.shape[1])
    coef = scaled_coef / scale
    fitted = np.maximum(features @ coef, 1e-7)
    return MethodModel(
        coef=coef,
        positions=np.array([shape_position(c) for c in cases]),
        residuals=np.log(times / fitted),
    )


def fit_times(rows: pd.DataFrame) -> pd.Series:
    """The time a table is fitted on, per row: the median CPU time where recorded (robust to a
    busy machine with one thread), else the median wall time."""
    cpu = pd.to_numeric(rows["cpu_median_s"], errors="coerce")
    wall = pd.to_numeric(rows["time_median_s"], errors="coerce")
    return cpu.where(cpu > 0, wall)


def build_table(rows: pd.DataFrame, source: Iterable[str] = ()) -> Table:
    """Fit a table on the ``ok`` rows of plain cases in ``rows`` (a results DataFrame).

    The time of a row is its median CPU time when recorded (robust to a busy machine with one
    thread), else its median wall time; a cell measured several times counts once, by its median.

    Raises
    ------
    ConfigError
        If no row is usable.
    """
    ok = rows[(rows["status"] == "ok") & ~rows["method"].isin(NEVER_CHOSEN)].copy()
    ok = ok[(ok["batch"].fillna(0) == 0) & (ok["filters"].fillna(0) == 0)]
    ok["t"] = fit_times(ok)
    ok = ok[ok["t"] > 0]
    if ok.empty:
        raise ConfigError("no usable rows (status ok with a positive time) to build a table from")
    keys = ["method", "input_h", "input_w", "kernel_h", "kernel_w", "depth"]
    keys += ["stride_h", "stride_w", "pad_h", "pad_w", "dtype"]
    cells = ok.groupby(keys, as_index=False)["t"].median()
    models: dict[tuple[str, str], MethodModel] = {}
    for (method, dtype), group in cells.groupby(["method", "dtype"]):
        cases = [Case.from_key({**r, "batch": 0, "filters": 0}) for r in group.to_dict("records")]
        models[(str(method), str(dtype))] = _fit(cases, group["t"].to_numpy(dtype=float))
    meta = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": list(source),
        "cells": len(cells),
    }
    return Table(models, meta)


# --- choosing ------------------------------------------------------------------------------------


def choose(
    case: Case,
    methods: Mapping[str, Method],
    memory_limit: int | None = None,
    table: Table | None = None,
) -> list[Candidate]:
    """Rank the methods of ``table`` for ``case``: fastest expected first.

    Only methods in ``methods`` (name -> :class:`Method`, e.g. the registry's) that support the
    case and whose ``estimate_bytes`` fits ``memory_limit`` (bytes; ``None`` = no limit) are
    ranked. Taking them as an argument keeps this module free of the registry, which ``auto``
    (a registered method) needs to call it. Cost: one prediction per method of the table.

    Raises
    ------
    Unsupported
        If no method qualifies.
    """
    table = table or default_table()
    ranked = []
    for name, (expected, measured) in table.predict_all(case).items():
        method = methods.get(name)
        if method is None or name in NEVER_CHOSEN or method.supports(case):
            continue
        need = int(method.estimate_bytes(case))
        if memory_limit is not None and need > memory_limit:
            continue
        ranked.append(Candidate(name, expected, need, measured))
    if not ranked:
        limit = "" if memory_limit is None else f" within {memory_limit} bytes"
        raise Unsupported(f"no tuned method can do {case.label()}{limit}")
    ranked.sort(key=lambda c: c.expected_time_s)
    return ranked


# --- storage -------------------------------------------------------------------------------------


def user_table_path() -> Path:
    """``$XDG_CACHE_HOME/convbench/auto_table.json`` (``~/.cache`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "convbench" / TABLE_NAME


def save_table(table: Table, path: str | os.PathLike) -> Path:
    """Write ``table`` as JSON (atomically) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "schema": TABLE_SCHEMA,
        "features": list(FEATURES),
        "meta": table.meta,
        "models": [
            {
                "method": method,
                "dtype": dtype,
                "coef": model.coef.tolist(),
                "positions": model.positions.tolist(),
                "residuals": model.residuals.tolist(),
            }
            for (method, dtype), model in sorted(table.models.items())
        ],
    }
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(target)
    return target


def load_table(path: str | os.PathLike) -> Table:
    """Read a table written by :func:`save_table`.

    Raises
    ------
    ConfigError
        One line naming the file and what is wrong.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such decision table") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not a convbench decision table ({e})") from None
    if not isinstance(doc, dict) or doc.get("schema") != TABLE_SCHEMA:
        raise ConfigError(
            f"{p}: decision table schema {doc.get('schema') if isinstance(doc, dict) else '?'} "
            f"is unknown (expected {TABLE_SCHEMA}); run `convbench tune` again"
        )
    if doc.get("features") != list(FEATURES):
        raise ConfigError(f"{p}: decision table uses other features; run `convbench tune` again")
    try:
        models = {
            (str(m["method"]), str(m["dtype"])): MethodModel(
                coef=np.asarray(m["coef"], dtype=float),
                positions=np.asarray(m["positions"], dtype=float).reshape(-1, 7),
                residuals=np.asarray(m["residuals"], dtype=float),
            )
            for m in doc["models"]
        }
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{p}: malformed decision table entry ({e})") from None
    return Table(models, dict(doc.get("meta", {})))


def shipped_table_path() -> Path:
    return Path(str(resources.files("convbench") / "data" / TABLE_NAME))


_DEFAULT: dict[str, Table] = {}


def default_table() -> Table:
    """The user's tuned table when there is one (and it loads), else the table shipped with the
    package; a user table that does not load (e.g. tuned by an older convbench) is reported by a
    warning."""
    if "table" not in _DEFAULT:
        user = user_table_path()
        table = None
        if user.is_file():
            try:
                table = load_table(user)
            except ConfigError as e:
                # A table tuned by an older convbench (other features) must not break `auto`.
                warnings.warn(f"{e}; using the shipped table meanwhile", stacklevel=2)
        _DEFAULT["table"] = table or load_table(shipped_table_path())
    return _DEFAULT["table"]


def forget_default_table() -> None:
    """Drop the cached default table (after ``tune`` wrote a new one)."""
    _DEFAULT.clear()


def default_memory_limit() -> int:
    """Half of the memory available now: what ``auto`` may spend when the caller gives no limit."""
    import psutil

    return int(psutil.virtual_memory().available // 2)
