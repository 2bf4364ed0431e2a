"""Method lookup: a built-in name or a ``module:function`` path -> :class:`Method`.

The one place that turns what a config, the CLI or a worker process names into a method; every
failure is a :class:`ConfigError` saying what could not be found.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from .registry import Method


def builtin_methods(layer: bool = False) -> dict[str, Method]:
    """The registered methods: plain ones, or layer-mode ones from :mod:`convbench.layer`."""
    if layer:
        layer_mod = importlib.import_module("convbench.layer")
        return dict(layer_mod.registered())
    from . import registered

    return registered()


def resolve_method(spec: str, layer: bool = False, name: str | None = None) -> Method:
    """A built-in method name or a ``module:function`` path -> :class:`Method`.

    A user function gets family ``user``, ``estimate_bytes`` 0 (never refused by the memory limit)
    and the same verification as built-in methods. The current directory is importable (like
    pytest and uvicorn: user modules beside the config work).

    Raises
    ------
    ConfigError
        Unknown name, or an import path that cannot be imported or is not callable.
    """
    if ":" not in spec:
        known = builtin_methods(layer)
        if spec not in known:
            raise ConfigError(f"unknown method {spec!r}; known: {', '.join(known) or '(none)'}")
        return known[spec]
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        func: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    except Exception as e:  # any import failure is the user's config problem
        msg = str(e).splitlines()[0] if str(e) else ""
        raise ConfigError(f"cannot import {spec!r} ({type(e).__name__}: {msg})") from None
    if not callable(func):
        raise ConfigError(f"{spec!r} is not callable")
    return Method(
        name=name or spec,
        family="user",
        origin=spec,
        func=func,
        estimate_bytes=lambda case: 0,
        summary=(func.__doc__ or spec).strip().splitlines()[0],
    )
