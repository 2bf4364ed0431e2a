"""Scratch buffers that a method reuses from call to call, per thread and per shape.

glibc maps a large block that a plain program allocates with ``mmap`` and unmaps it on ``free``
(or trims it off the heap), so a method whose temporaries are fresh on every call pays a page
fault per 4 KiB of them on every call: up to three times its time in a process whose allocator
keeps them (``allocator: steady``). A method that takes its temporaries from here touches the
same resident pages each call instead.

Buffers are keyed by ``(name, shape, dtype)`` in a cache of the calling thread (threads never
share a buffer), at most :func:`limit_bytes` per thread: the least recently used buffers are
dropped to make room, and a buffer larger than the limit is handed out fresh and not kept.
A buffer holds whatever the last call left in it; a method must never return it, or a view of
it, to its caller (the next call would overwrite the caller's result).

Memory: what stays resident between calls is the buffers of the last shapes used, up to the
limit per thread; :func:`clear` drops the calling thread's buffers.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

import numpy as np

from ..cases import Pair

#: Default bound on the bytes the buffers of one thread may hold.
DEFAULT_LIMIT_BYTES = 64 * 2**20

_LIMIT = {"bytes": DEFAULT_LIMIT_BYTES}
_local = threading.local()

Key = tuple[str, tuple[int, ...], np.dtype]


def _cache() -> OrderedDict[Key, np.ndarray]:
    cache = getattr(_local, "buffers", None)
    if cache is None:
        cache = _local.buffers = OrderedDict()
    return cache


def limit_bytes() -> int:
    """The bound on the bytes of buffers each thread keeps."""
    return _LIMIT["bytes"]


def set_limit(limit: int | None) -> None:
    """Bound each thread's buffers to ``limit`` bytes (``None``: the default); evicts at once
    in the calling thread, and in other threads at their next request."""
    _LIMIT["bytes"] = DEFAULT_LIMIT_BYTES if limit is None else int(limit)
    _evict(_cache(), 0)


def held_bytes() -> int:
    """Bytes the calling thread's buffers hold now."""
    return sum(a.nbytes for a in _cache().values())


def clear() -> None:
    """Drop every buffer of the calling thread (its memory goes back to the allocator)."""
    _cache().clear()


def _evict(cache: OrderedDict[Key, np.ndarray], room: int) -> None:
    total = sum(a.nbytes for a in cache.values())
    while cache and total + room > limit_bytes():
        total -= cache.popitem(last=False)[1].nbytes


def empty(name: str, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """A C-contiguous ``shape`` buffer of ``dtype`` for ``name``, contents left from its last use.

    The same ``(name, shape, dtype)`` gets the same buffer on every call in a thread, so two
    buffers a method needs at once must differ in ``name``. Cost: a dict look-up, or one
    ``np.empty`` when the buffer is new (or larger than the limit, then not kept).
    """
    dtype = np.dtype(dtype)
    key = (name, tuple(shape), dtype)
    cache = _cache()
    buf = cache.get(key)
    if buf is not None:
        cache.move_to_end(key)
        return buf
    nbytes = math.prod(key[1]) * dtype.itemsize
    if nbytes > limit_bytes():
        return np.empty(key[1], dtype)
    _evict(cache, nbytes)
    buf = cache[key] = np.empty(key[1], dtype)
    return buf


def zeros(name: str, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """:func:`empty`, filled with zeros (cost: one pass over the buffer)."""
    buf = empty(name, shape, dtype)
    buf.fill(0)
    return buf


def padded(name: str, x: np.ndarray, padding: Pair) -> np.ndarray:
    """``x`` with ``padding`` zeros on each side of its first two axes, in a buffer of ``name``.

    Returns ``x`` itself when the padding is zero. Cost: a copy of ``x`` and zeros written on
    the border only.
    """
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    h, w = x.shape[:2]
    buf = empty(name, (h + 2 * ph, w + 2 * pw, *x.shape[2:]), x.dtype)
    buf[:ph] = 0
    buf[ph + h :] = 0
    buf[ph : ph + h, :pw] = 0
    buf[ph : ph + h, pw + w :] = 0
    buf[ph : ph + h, pw : pw + w] = x
    return buf
