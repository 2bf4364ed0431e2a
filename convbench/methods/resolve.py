"""Method lookup: a built-in name, a ``module:function`` path or a callable -> :class:`Method`.

The one place that turns what a config, the CLI or a worker process names into a method; every
failure is a :class:`ConfigError` saying what could not be found. A callable reaches a worker
process by value (cloudpickle): the worker was started before it existed, and a function defined
in ``__main__`` or a notebook cell cannot be imported there.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from .registry import Method, Registry


def _registry(layer: bool) -> Registry:
    if layer:
        return importlib.import_module("convbench.layer.registry").LAYER
    from . import PLAIN

    return PLAIN


def builtin_methods(layer: bool = False) -> dict[str, Method]:
    """The registered methods: plain ones, or layer-mode ones from :mod:`convbench.layer`."""
    if layer:
        importlib.import_module("convbench.layer")  # registers them
    return _registry(layer).registered()


def resolve_method(spec: str, layer: bool = False, name: str | None = None) -> Method:
    """A built-in method name or a ``module:function`` path -> :class:`Method`.

    A user function gets family ``user``, ``estimate_bytes`` 0 (never refused by the memory limit)
    and the same verification as built-in methods. The current directory is importable (like
    pytest and uvicorn: user modules beside the config work).

    Raises
    ------
    ConfigError
        Unknown name (for an optional method that is not installed: what to install), or an
        import path that cannot be imported or is not callable.
    """
    if ":" not in spec:
        known = builtin_methods(layer)
        if spec not in known:
            raise ConfigError(_registry(layer).unknown(spec))
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
    return user_method(func, name or spec, spec)


def _no_estimate(case: object) -> int:
    return 0


def user_method(func: Callable[..., Any], name: str, origin: str) -> Method:
    """A user's function as a :class:`Method` of family ``user``: never refused by the memory
    limit (``estimate_bytes`` 0), verified like every built-in method."""
    doc = (getattr(func, "__doc__", None) or "").strip()
    return Method(
        name=name,
        family="user",
        origin=origin,
        func=func,
        estimate_bytes=_no_estimate,
        summary=doc.splitlines()[0] if doc else origin,
    )


def callable_name(func: Callable[..., Any]) -> str | None:
    """The name a function's rows get (its ``__name__``); ``None`` for a lambda or an object
    without one."""
    name = getattr(func, "__name__", None)
    return name if isinstance(name, str) and name and not name.startswith("<") else None


def describe_callable(func: Callable[..., Any]) -> str:
    """``<callable module.qualname>``: what a sidecar records of a function passed by value."""
    module = getattr(func, "__module__", None) or "?"
    qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
    return f"<callable {module}.{qualname}>"


def pickle_callable(func: Callable[..., Any], name: str) -> bytes:
    """``func`` by value (cloudpickle), for a worker process to rebuild with
    :func:`unpickle_method`. Functions of importable modules travel by reference.

    Raises
    ------
    ConfigError
        ``func`` (or something it refers to, e.g. a lock or an open file) cannot be pickled.
    """
    import cloudpickle

    try:
        return cloudpickle.dumps(func)
    except Exception as e:  # whatever the object graph raises, it is the user's method
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ConfigError(
            f"method {name!r} cannot be sent to a worker process: it cannot be pickled "
            f"({type(e).__name__}: {text})"
        ) from None


def unpickle_method(data: bytes, name: str) -> Method:
    """The :class:`Method` of a function pickled by :func:`pickle_callable` (in a worker)."""
    func = pickle.loads(data)  # cloudpickle writes plain pickle; loading imports cloudpickle
    return user_method(func, name, describe_callable(func))
