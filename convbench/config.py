"""Sweep configs: YAML in, a frozen :class:`Sweep` out, every check done before anything runs.

A config looks like this (every key but the axes and ``methods`` is optional)::

    description: what this sweep is for
    input_size: {start: 32, stop: 256, num: 4, scale: log}   # n, list or range
    kernel_size: [3, 5, [3, 7]]                              # f, list, range; [kh, kw] in a list
    depth: 0            # 0 = 2D; C >= 1 = (n, n, C) input with (f, f, C) kernel
    stride: 1           # s or [sh, sw]
    padding: 0          # p or [ph, pw]
    dtype: float64      # int64 | float32 | float64
    batch: 0            # layer mode (issue 8) when batch or filters is given
    filters: 0
    grids:              # optional: several facets, each overriding the axes above
      - {depth: 0, stride: 1}
      - {depth: 3, stride: 2}
    methods: all        # or a list: built-in names, "module:function", {name: "module:function"}
    skip:               # explicit rules: method(s) plus axis conditions (value, list, {min, max})
      - {methods: [loops], kernel_size: {min: 9}}
    time_budget_s: 5    # per (case, method) cell; an overrunning method skips larger cells
    memory_limit: 2GiB  # methods whose estimate_bytes exceeds it are skipped, never run
    memory_pass: true   # measure peak memory of one call in a worker process
    seed: 0
    threads: 1          # BLAS/FFT threads
    allocator: default  # default (glibc as a plain program has it) | steady | [default, steady]
    processes: 3        # fresh worker processes per (case, method), visited interleaved
    cpu: auto           # pin workers: auto (the last CPUs) | none | a CPU number
    timing: {warmup: 1, min_sample_s: 0.02, repeats: 25, min_repeats: 3}

A list of integers on a pair axis is a list of square sizes (``kernel_size: [3, 5]`` is 3x3 and
5x5); a non-square size is a pair inside the list (``input_size: [[64, 128]]``).

Every error is a :class:`ConfigError` reading ``FILE: key 'x': what is wrong (line N)``.

From Python (:func:`sweep_from`, what :func:`convbench.bench` uses) the same keys come as a dict,
checked the same way (``<bench config>`` stands for the file); sequences are lists as in YAML,
and ``methods`` may also hold Python callables, sent by value to the worker processes.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .cases import Case
from .errors import ConfigError
from .measure.allocator import ALLOCATORS
from .methods.registry import Method
from .methods.resolve import (
    builtin_methods,
    callable_name,
    describe_callable,
    pickle_callable,
    resolve_method,
    user_method,
)

AXES: tuple[str, ...] = (
    "input_size",
    "kernel_size",
    "depth",
    "stride",
    "padding",
    "dtype",
    "batch",
    "filters",
)
PAIR_AXES = ("input_size", "kernel_size", "stride", "padding")
DTYPES = ("int64", "float32", "float64")
AXIS_DEFAULTS: dict[str, Any] = {
    "depth": 0,
    "stride": 1,
    "padding": 0,
    "dtype": "float64",
    "batch": 0,
    "filters": 0,
}
#: Smallest legal value of each integer axis.
AXIS_MINIMUM = {
    "input_size": 1,
    "kernel_size": 1,
    "depth": 0,
    "stride": 1,
    "padding": 0,
    "batch": 0,
    "filters": 0,
}
OTHER_KEYS = (
    "description",
    "grids",
    "methods",
    "skip",
    "time_budget_s",
    "memory_limit",
    "memory_pass",
    "seed",
    "threads",
    "timing",
    "allocator",
    "processes",
    "cpu",
)
#: Fresh worker processes each (cell, method) is timed in, by default.
DEFAULT_PROCESSES = 3
TIMING_KEYS = ("warmup", "min_sample_s", "repeats", "min_repeats")
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


@dataclass(frozen=True)
class TimingSettings:
    """How each cell is timed (see :mod:`convbench.measure.timing`).

    ``min_sample_s``: calibrate the loop count so one sample lasts at least this long (~20 ms was
    enough in the study); ``repeats``: samples per cell (20-30 were needed, 10 too few);
    ``min_repeats``: samples kept even when the cell overruns its time budget.
    """

    warmup: int = 1
    min_sample_s: float = 0.02
    repeats: int = 25
    min_repeats: int = 3


@dataclass(frozen=True)
class MethodEntry:
    """One method of a sweep: the stable ``name`` rows carry, and how to resolve it again.

    ``spec`` is a built-in name or ``module:function``; ``layer`` says which registry built-in
    names come from. A worker process rebuilds the method with :func:`resolve_method`. A Python
    callable has ``pickled`` (the function by value, cloudpickle) instead, and a ``spec`` that
    only describes it (``<callable module.name>``).
    """

    name: str
    method: Method
    spec: str
    layer: bool = False
    pickled: bytes | None = None


@dataclass(frozen=True)
class SkipRule:
    """Skip ``methods`` (all when empty) on cells matching every condition in ``where``."""

    index: int
    methods: tuple[str, ...]
    where: tuple[tuple[str, Any], ...]

    def matches(self, case: Case, method: str) -> bool:
        if self.methods and method not in self.methods:
            return False
        return all(_axis_matches(case, axis, cond) for axis, cond in self.where)

    def describe(self) -> str:
        conds = ", ".join(f"{a}={_describe_cond(c)}" for a, c in self.where)
        return f"skip rule {self.index}" + (f" ({conds})" if conds else "")


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: the expanded cases, the methods and every setting of the run."""

    name: str
    path: str
    cases: tuple[Case, ...]
    methods: tuple[MethodEntry, ...]
    timing: TimingSettings = field(default_factory=TimingSettings)
    time_budget_s: float = 10.0
    memory_limit: int = 2 * 2**30
    memory_pass: bool = True
    skip: tuple[SkipRule, ...] = ()
    seed: int = 0
    threads: int = 1
    allocators: tuple[str, ...] = ("default",)
    processes: int = DEFAULT_PROCESSES
    cpu: str | int = "auto"
    layer: bool = False
    description: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)
    config_hash: str = ""

    def skip_reason(self, case: Case, method: str) -> str | None:
        """The first explicit skip rule that applies, described; ``None`` if none does."""
        for rule in self.skip:
            if rule.matches(case, method):
                return rule.describe()
        return None


# --------------------------------------------------------------------------- loading


#: What messages call a config given as a dict instead of a file.
MAPPING_SOURCE = "<bench config>"


def load_sweep(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Sweep:
    """Read and validate a sweep config; ``overrides`` replace single top-level keys.

    Raises
    ------
    ConfigError
        ``FILE: key 'x': what is wrong (line N)`` for the first problem found (``FILE
        (override)`` and no line for a key that ``overrides`` replaced).
    """
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config ({e.strerror or e})") from None
    return load_sweep_text(text, name=p.stem, path=str(p), overrides=overrides)


def sweep_from(
    config: str | os.PathLike | Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    *,
    name: str = "bench",
) -> Sweep:
    """A sweep from a YAML file's path or from a dict of the same keys, checked the same way.

    A dict is named ``name`` and called :data:`MAPPING_SOURCE` in messages. Values may be
    tuples (read as lists), numpy scalars and arrays (as Python numbers and lists), and under
    ``methods`` Python callables: ``[f, "fft"]`` or ``{"mine": f, "fft": "fft"}``.

    Raises
    ------
    ConfigError
        As :func:`load_sweep`; also a callable without a usable name, or one that cannot be
        pickled to reach the worker processes.
    """
    if isinstance(config, (str, os.PathLike)):
        return load_sweep(config, overrides)
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"a config is a dict of sweep keys or the path of a YAML file, got {config!r}"
        )
    raw = _from_python(dict(config))
    return _build(raw, {}, MAPPING_SOURCE, name, overrides)


def load_sweep_text(
    text: str,
    name: str = "sweep",
    path: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Sweep:
    """:func:`load_sweep` on YAML text (``path`` only names it in messages)."""
    where = path or f"{name}.yaml"
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML: {problem}{line}") from None
    lines: dict[tuple, int] = {}
    raw = _plain(node, (), lines) if node is not None else None
    return _build(raw, lines, where, name, overrides)


def _build(
    raw: Any,
    lines: dict[tuple, int],
    where: str,
    name: str,
    overrides: Mapping[str, Any] | None,
) -> Sweep:
    overridden: frozenset[str] = frozenset()
    if raw is None and overrides:
        raw = {}  # an empty file: the overrides are the whole config
    if overrides and isinstance(raw, dict):  # (anything else is refused by the builder)
        raw = {**raw, **_from_python(dict(overrides))}
        overridden = frozenset(overrides)
        # The file's line numbers no longer point at these keys' values.
        lines = {k: v for k, v in lines.items() if not (k and k[0] in overridden)}
    return _Builder(where, name, raw, lines, overridden).build()


def _from_python(value: Any) -> Any:
    """A Python value as YAML would give it: lists for tuples and arrays, plain numbers."""
    if isinstance(value, Mapping):
        return {_from_python(k): _from_python(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_from_python(v) for v in value]
    if isinstance(value, np.ndarray):
        return _from_python(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _recorded(value: Any) -> Any:
    """``value`` as the sidecar keeps it: callables by description (they are not data)."""
    if isinstance(value, dict):
        return {k: _recorded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_recorded(v) for v in value]
    if callable(value):
        return describe_callable(value)
    return value


def _plain(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> Any:
    """YAML node -> Python value, recording the line of every key path in ``lines``."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for k, v in node.value:
            key = _scalar(k)
            out[key] = _plain(v, (*path, key), lines)
            lines[(*path, key)] = k.start_mark.line + 1  # a key's line, not its value's
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v, (*path, i), lines) for i, v in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


# --------------------------------------------------------------------------- validation


class _Builder:
    """Turns the plain config into a :class:`Sweep`, naming the file, key and line on errors."""

    def __init__(
        self,
        where: str,
        name: str,
        raw: Any,
        lines: dict[tuple, int],
        overridden: frozenset[str] = frozenset(),
    ) -> None:
        self.where, self.name, self.raw, self.lines = where, name, raw, lines
        self.overridden = overridden

    def error(self, key: tuple, message: str) -> ConfigError:
        dotted = ".".join(str(k) if not isinstance(k, int) else f"[{k}]" for k in key)
        dotted = dotted.replace(".[", "[")
        line = self.lines.get(key)
        suffix = f" (line {line})" if line else ""
        where = f"{self.where} (override)" if key and key[0] in self.overridden else self.where
        return ConfigError(f"{where}: key '{dotted}': {message}{suffix}")

    def build(self) -> Sweep:
        raw = self.raw
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{self.where}: a sweep config must be a mapping of keys, got {raw!r}"
            )
        for key in raw:
            if key not in AXES and key not in OTHER_KEYS:
                raise self.error(
                    (key,), f"unknown key; expected one of {', '.join(AXES + OTHER_KEYS)}"
                )
        base_axes = {a: self.axis_values((a,), raw[a], a) for a in AXES if a in raw}
        grids = self.grids(raw.get("grids"))
        layer = self.layer_mode(raw)
        cases = self.expand(base_axes, grids, layer)
        threads = self.integer(("threads",), raw.get("threads", 1), minimum=1)
        sweep = Sweep(
            name=self.name,
            path=self.where,
            cases=cases,
            methods=self.methods(raw.get("methods"), layer),
            timing=self.timing(raw.get("timing", {})),
            time_budget_s=self.number(("time_budget_s",), raw.get("time_budget_s", 10.0), 0.0),
            memory_limit=self.size(("memory_limit",), raw.get("memory_limit", "2GiB")),
            memory_pass=self.boolean(("memory_pass",), raw.get("memory_pass", True)),
            seed=self.integer(("seed",), raw.get("seed", 0), minimum=0),
            threads=threads,
            allocators=self.allocators(raw.get("allocator", "default")),
            processes=self.integer(
                ("processes",), raw.get("processes", DEFAULT_PROCESSES), minimum=1
            ),
            cpu=self.cpu(raw.get("cpu", "auto")),
            layer=layer,
            description=self.string(("description",), raw.get("description", "")),
            raw=_recorded(raw),
            config_hash=config_hash(_recorded(raw)),
        )
        names = {e.name for e in sweep.methods}
        return replace(sweep, skip=self.skip_rules(raw.get("skip", []), names))

    # -- scalars

    def integer(self, key: tuple, value: Any, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be >= {minimum}, got {value}")
        return value

    def number(self, key: tuple, value: Any, minimum: float, strict: bool = True) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise self.error(key, f"must be a number, got {value!r}")
        if value < minimum or (strict and value == minimum):
            raise self.error(key, f"must be {'>' if strict else '>='} {minimum}, got {value}")
        return float(value)

    def boolean(self, key: tuple, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {value!r}")
        return value

    def string(self, key: tuple, value: Any) -> str:
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, got {value!r}")
        return value

    def size(self, key: tuple, value: Any) -> int:
        """Bytes from an int or a string like ``2GiB`` / ``500MB``."""
        if isinstance(value, int) and not isinstance(value, bool):
            if value <= 0:
                raise self.error(key, f"must be > 0 bytes, got {value}")
            return value
        if isinstance(value, str):
            m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", value)
            if m and m.group(2).lower() in _SIZE_UNITS and float(m.group(1)) > 0:
                return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
        raise self.error(
            key, f"must be a size in bytes such as 2GiB, 500MB or 1000000, got {value!r}"
        )

    # -- axes

    def axis_values(self, key: tuple, value: Any, axis: str) -> list[Any]:
        """Scalar, list or range -> list of distinct values (in the order given)."""
        if axis == "dtype":
            items = value if isinstance(value, list) else [value]
            for i, v in enumerate(items):
                if v not in DTYPES:
                    k = (*key, i) if isinstance(value, list) else key
                    raise self.error(k, f"dtype must be one of {', '.join(DTYPES)}, got {v!r}")
            return _dedupe(items)
        if isinstance(value, dict):
            return self.axis_range(key, value, axis)
        if isinstance(value, list):  # on a pair axis too: [3, 5] is two square kernels
            if not value:
                raise self.error(key, "must not be an empty list")
            return _dedupe(self.axis_item((*key, i), v, axis) for i, v in enumerate(value))
        return [self.axis_item(key, value, axis)]

    @staticmethod
    def is_pair(value: list) -> bool:
        return len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )

    def axis_item(self, key: tuple, value: Any, axis: str) -> Any:
        lo = AXIS_MINIMUM[axis]
        if axis in PAIR_AXES:
            if isinstance(value, list):
                if not self.is_pair(value):
                    raise self.error(key, f"must be an integer or a pair [h, w], got {value!r}")
                for i, v in enumerate(value):
                    self.integer((*key, i), v, minimum=lo)
                return (value[0], value[1])
            v = self.integer(key, value, minimum=lo)
            return (v, v)
        return self.integer(key, value, minimum=lo)

    def axis_range(self, key: tuple, spec: dict, axis: str) -> list[Any]:
        for k in spec:
            if k not in ("start", "stop", "num", "scale"):
                raise self.error((*key, k), "unknown range key; expected start, stop, num, scale")
        for k in ("start", "stop", "num"):
            if k not in spec:
                raise self.error(key, f"a range needs '{k}' (keys: start, stop, num, scale)")
        lo = AXIS_MINIMUM[axis]
        start = self.integer((*key, "start"), spec["start"], minimum=lo)
        stop = self.integer((*key, "stop"), spec["stop"], minimum=start)
        num = self.integer((*key, "num"), spec["num"], minimum=1)
        scale = spec.get("scale", "linear")
        if scale not in ("log", "linear"):
            raise self.error((*key, "scale"), f"must be log or linear, got {scale!r}")
        if scale == "log" and start < 1:
            raise self.error((*key, "start"), "a log range must start at >= 1")
        values = _integer_range(start, stop, num, scale)
        return [(v, v) for v in values] if axis in PAIR_AXES else values

    def grids(self, value: Any) -> list[dict[str, list[Any]]]:
        if value is None:
            return [{}]
        if not isinstance(value, list) or not value:
            raise self.error(("grids",), "must be a non-empty list of axis mappings")
        out = []
        for i, g in enumerate(value):
            if not isinstance(g, dict):
                raise self.error(("grids", i), f"must be a mapping of axes, got {g!r}")
            for a in g:
                if a not in AXES:
                    raise self.error(
                        ("grids", i, a), f"unknown axis; expected one of {', '.join(AXES)}"
                    )
            out.append({a: self.axis_values(("grids", i, a), v, a) for a, v in g.items()})
        return out

    def layer_mode(self, raw: dict) -> bool:
        def given(v: Any) -> bool:
            return v not in (None, 0, [0])

        wanted = any(given(raw.get(a)) for a in ("batch", "filters")) or any(
            isinstance(g, dict) and any(given(g.get(a)) for a in ("batch", "filters"))
            for g in raw.get("grids") or []
        )
        if wanted and importlib.util.find_spec("convbench.layer") is None:
            key = ("batch",) if "batch" in raw else ("filters",)
            raise self.error(key, "layer mode (batch/filters) needs convbench.layer, not installed")
        return wanted

    def expand(self, base: dict, grids: list[dict], layer: bool) -> tuple[Case, ...]:
        cases: dict[Case, None] = {}
        for i, grid in enumerate(grids):
            axes = {**base, **grid}
            for a in ("input_size", "kernel_size"):
                if a not in axes:
                    where = (a,) if "grids" not in self.raw else ("grids", i)
                    raise self.error(where, f"{a} is required (at top level or in every grid)")
            for a, d in AXIS_DEFAULTS.items():
                if a not in axes:
                    if layer and a in ("batch", "filters"):
                        d = 1
                    axes[a] = [(d, d)] if a in PAIR_AXES else [d]
            for values in itertools.product(*(axes[a] for a in AXES)):
                kw = dict(zip(AXES, values, strict=True))
                if layer and (kw["batch"] < 1 or kw["filters"] < 1):
                    raise self.error(("batch",), "layer mode needs batch >= 1 and filters >= 1")
                case = Case(**kw)
                if case.feasible:
                    cases[case] = None
        if not cases:
            raise self.error(
                ("kernel_size",), "nothing to run: every kernel is larger than its input"
            )
        return tuple(cases)

    # -- methods

    def methods(self, value: Any, layer: bool) -> tuple[MethodEntry, ...]:
        if value is None:
            raise self.error(("methods",), "is required: 'all', or a list of method names")
        if isinstance(value, dict):  # {name: spec, ...}: one named method per entry
            keyed = [(("methods",), {name: spec}) for name, spec in value.items()]
        elif isinstance(value, list):
            keyed = [(("methods", i), item) for i, item in enumerate(value)]
        else:
            keyed = [(("methods",), value)]
        if not keyed:
            raise self.error(("methods",), "nothing to run: the list is empty")
        entries: dict[str, MethodEntry] = {}
        for key, item in keyed:
            for entry in self.method_item(key, item, layer):
                if entry.name in entries:
                    raise self.error(key, f"method name {entry.name!r} appears twice")
                entries[entry.name] = entry
        if not entries:
            raise self.error(("methods",), "nothing to run: no method is registered")
        return tuple(entries.values())

    def method_item(self, key: tuple, item: Any, layer: bool) -> list[MethodEntry]:
        if isinstance(item, dict):
            if len(item) != 1:
                raise self.error(key, 'a named method is one mapping {name: "module:function"}')
            ((name, spec),) = item.items()
            if isinstance(name, str) and callable(spec):
                return [self.callable_entry((*key, name), name, spec, layer)]
            if isinstance(name, str) and spec == name:  # {"fft": "fft"}: a built-in, as is
                return self.method_item((*key, name), name, layer)
            if not isinstance(name, str) or not isinstance(spec, str) or ":" not in spec:
                raise self.error(
                    key, 'a named method is {name: "module:function"} (from Python: {name: f})'
                )
            key = (*key, name)
        elif isinstance(item, str):
            name, spec = item, item
        elif callable(item):
            name = callable_name(item)
            if name is None:
                raise self.error(
                    key,
                    f"{describe_callable(item)} has no name for its rows: "
                    "pass it as {name: function}",
                )
            return [self.callable_entry(key, name, item, layer)]
        else:
            raise self.error(
                key,
                f"must be a method name, 'all', 'module:function' or a function, got {item!r}",
            )
        if spec == "all":
            return [MethodEntry(n, m, n, layer) for n, m in builtin_methods(layer).items()]
        try:
            method = resolve_method(spec, layer, name=name)
        except ConfigError as e:
            raise self.error(key, str(e)) from None
        return [MethodEntry(name, method, spec, layer)]

    def callable_entry(
        self, key: tuple, name: str, func: Callable[..., Any], layer: bool
    ) -> MethodEntry:
        """A Python function as a method: a user method, sent to the workers by value."""
        try:
            pickled = pickle_callable(func, name)
        except ConfigError as e:
            raise self.error(key, str(e)) from None
        spec = describe_callable(func)
        return MethodEntry(name, user_method(func, name, spec), spec, layer, pickled)

    def cpu(self, value: Any) -> str | int:
        if value in ("auto", "none"):
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.error(("cpu",), f"must be auto, none or a CPU number >= 0, got {value!r}")
        return value

    def allocators(self, value: Any) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise self.error(("allocator",), f"must be one of {' / '.join(ALLOCATORS)}, or a list")
        for i, item in enumerate(items):
            if item not in ALLOCATORS:
                key = ("allocator", i) if isinstance(value, list) else ("allocator",)
                raise self.error(key, f"must be one of {', '.join(ALLOCATORS)}, got {item!r}")
        return tuple(dict.fromkeys(items))

    def timing(self, value: Any) -> TimingSettings:
        if not isinstance(value, dict):
            raise self.error(("timing",), f"must be a mapping ({', '.join(TIMING_KEYS)})")
        for k in value:
            if k not in TIMING_KEYS:
                raise self.error(
                    ("timing", k), f"unknown key; expected one of {', '.join(TIMING_KEYS)}"
                )
        d = TimingSettings()
        t = TimingSettings(
            warmup=self.integer(("timing", "warmup"), value.get("warmup", d.warmup), minimum=0),
            min_sample_s=self.number(
                ("timing", "min_sample_s"), value.get("min_sample_s", d.min_sample_s), 0.0
            ),
            repeats=self.integer(("timing", "repeats"), value.get("repeats", d.repeats), minimum=1),
            min_repeats=self.integer(
                ("timing", "min_repeats"), value.get("min_repeats", d.min_repeats), minimum=1
            ),
        )
        if t.min_repeats > t.repeats:
            raise self.error(("timing", "min_repeats"), f"must be <= repeats ({t.repeats})")
        return t

    def skip_rules(self, value: Any, names: set[str]) -> tuple[SkipRule, ...]:
        if not isinstance(value, list):
            raise self.error(
                ("skip",), "must be a list of rules like {methods: [loops], kernel_size: {min: 9}}"
            )
        rules = []
        for i, rule in enumerate(value):
            key = ("skip", i)
            if not isinstance(rule, dict) or not rule:
                raise self.error(key, "a rule is a mapping: methods plus axis conditions")
            methods = rule.get("methods", [])
            methods = [methods] if isinstance(methods, str) else methods
            if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
                raise self.error((*key, "methods"), "must be a method name or a list of names")
            for m in methods:
                if m not in names:
                    raise self.error(
                        (*key, "methods"), f"method {m!r} is not in this sweep's methods"
                    )
            where = []
            for axis, cond in rule.items():
                if axis == "methods":
                    continue
                if axis not in AXES:
                    raise self.error(
                        (*key, axis),
                        f"unknown key; expected methods or an axis ({', '.join(AXES)})",
                    )
                where.append((axis, self.condition((*key, axis), cond, axis)))
            rules.append(SkipRule(i, tuple(methods), tuple(where)))
        return tuple(rules)

    def condition(self, key: tuple, cond: Any, axis: str) -> Any:
        if isinstance(cond, dict):
            for k in cond:
                if k not in ("min", "max"):
                    raise self.error((*key, k), "a condition range has only min and max")
            for k, v in cond.items():
                self.integer((*key, k), v)
            return ("range", cond.get("min"), cond.get("max"))
        return ("in", tuple(self.axis_values(key, cond, axis)))


def _axis_matches(case: Case, axis: str, cond: Any) -> bool:
    value = getattr(case, axis)
    kind = cond[0]
    if kind == "in":
        return value in cond[1]
    lo, hi = cond[1], cond[2]
    parts = value if isinstance(value, tuple) else (value,)
    return all((lo is None or v >= lo) and (hi is None or v <= hi) for v in parts)


def _describe_cond(cond: Any) -> str:
    if cond[0] == "in":
        vals = [v[0] if isinstance(v, tuple) and v[0] == v[1] else v for v in cond[1]]
        return "|".join(map(str, vals))
    lo, hi = cond[1], cond[2]
    return f"{'' if lo is None else lo}..{'' if hi is None else hi}"


def _integer_range(start: int, stop: int, num: int, scale: str) -> list[int]:
    if num == 1:
        return [start]
    if scale == "log":
        vals = [start * (stop / start) ** (i / (num - 1)) for i in range(num)]
    else:
        vals = [start + (stop - start) * i / (num - 1) for i in range(num)]
    return _dedupe(round(v) for v in vals)


def _dedupe(values: Any) -> list[Any]:
    return list(dict.fromkeys(values))


def config_hash(raw: Any) -> str:
    """Stable hash of a parsed config (key order and formatting do not matter)."""
    text = json.dumps(raw, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- methods


def with_methods(sweep: Sweep, names: Sequence[str]) -> Sweep:
    """``sweep`` restricted to (or extended with) ``names``: entries of the sweep, or any spec."""
    own = {e.name: e for e in sweep.methods}
    entries = []
    for n in names:
        if n in own:
            entries.append(own[n])
        elif n == "all":
            entries.extend(
                MethodEntry(k, m, k, sweep.layer) for k, m in builtin_methods(sweep.layer).items()
            )
        else:
            try:
                entries.append(MethodEntry(n, resolve_method(n, sweep.layer), n, sweep.layer))
            except ConfigError as e:
                raise ConfigError(f"--methods: {e}") from None
    unique = tuple({e.name: e for e in entries}.values())
    if not unique:
        raise ConfigError("--methods: nothing to run")
    return replace(sweep, methods=unique)
