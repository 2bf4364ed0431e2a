"""One benchmark case: the shapes, stride, padding and dtype of a single correlation call."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Pair = tuple[int, int]

#: Columns of a results row that identify a case (see :mod:`convbench.results`).
CASE_KEYS: tuple[str, ...] = (
    "input_h",
    "input_w",
    "kernel_h",
    "kernel_w",
    "depth",
    "stride_h",
    "stride_w",
    "pad_h",
    "pad_w",
    "dtype",
    "batch",
    "filters",
)

#: Case keys that split a sweep into facets: everything but the input and kernel sizes.
FACET_KEYS: tuple[str, ...] = CASE_KEYS[4:]


def as_pair(value: int | Pair | list[int], name: str) -> Pair:
    """Return ``value`` as an ``(h, w)`` pair of Python ints.

    Raises
    ------
    ValueError
        If ``value`` is neither an integer nor a sequence of two integers; names ``name``.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        return int(value[0]), int(value[1])
    raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")


@dataclass(frozen=True)
class Case:
    """The parameters of one correlation call.

    ``depth == 0`` means plain 2D data: ``x`` is (H, W) and the kernel (kh, kw).
    ``depth == C >= 1`` means ``x`` is (H, W, C) and the kernel (kh, kw, C), summed over C.
    ``batch`` and ``filters`` are 0 outside layer mode (see issue 8).
    """

    input_size: Pair
    kernel_size: Pair
    depth: int = 0
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    dtype: str = "float64"
    batch: int = 0
    filters: int = 0

    @property
    def padded_size(self) -> Pair:
        """(H + 2 ph, W + 2 pw)."""
        return (
            self.input_size[0] + 2 * self.padding[0],
            self.input_size[1] + 2 * self.padding[1],
        )

    @property
    def feasible(self) -> bool:
        """Whether the kernel fits in the padded input."""
        ph, pw = self.padded_size
        return self.kernel_size[0] <= ph and self.kernel_size[1] <= pw

    @property
    def output_size(self) -> Pair:
        """(1 + (H + 2 ph - kh) // sh, 1 + (W + 2 pw - kw) // sw)."""
        ph, pw = self.padded_size
        return (
            1 + (ph - self.kernel_size[0]) // self.stride[0],
            1 + (pw - self.kernel_size[1]) // self.stride[1],
        )

    @property
    def channels(self) -> int:
        """Depth summed over (1 for plain 2D data)."""
        return max(self.depth, 1)

    @property
    def flops(self) -> int:
        """Useful floating-point operations: 2 per multiply-add of the direct definition."""
        ho, wo = self.output_size
        kh, kw = self.kernel_size
        return 2 * ho * wo * kh * kw * self.channels * max(self.batch, 1) * max(self.filters, 1)

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    def key(self) -> dict[str, object]:
        """The case's identifying columns, as in a results row (see ``CASE_KEYS``)."""
        return {
            "input_h": self.input_size[0],
            "input_w": self.input_size[1],
            "kernel_h": self.kernel_size[0],
            "kernel_w": self.kernel_size[1],
            "depth": self.depth,
            "stride_h": self.stride[0],
            "stride_w": self.stride[1],
            "pad_h": self.padding[0],
            "pad_w": self.padding[1],
            "dtype": self.dtype,
            "batch": self.batch,
            "filters": self.filters,
        }

    @classmethod
    def from_key(cls, row: dict) -> Case:
        """Inverse of :meth:`key` (accepts a results row or any mapping with ``CASE_KEYS``)."""
        return cls(
            input_size=(int(row["input_h"]), int(row["input_w"])),
            kernel_size=(int(row["kernel_h"]), int(row["kernel_w"])),
            depth=int(row["depth"]),
            stride=(int(row["stride_h"]), int(row["stride_w"])),
            padding=(int(row["pad_h"]), int(row["pad_w"])),
            dtype=str(row["dtype"]),
            batch=int(row.get("batch", 0) or 0),
            filters=int(row.get("filters", 0) or 0),
        )

    def label(self) -> str:
        """Short human-readable description, e.g. ``128x128x5 * 9x9 s2 p0 float64``."""
        h, w = self.input_size
        kh, kw = self.kernel_size
        d = f"x{self.depth}" if self.depth else ""
        s = f"s{self.stride[0]}" if self.stride[0] == self.stride[1] else f"s{self.stride}"
        p = f"p{self.padding[0]}" if self.padding[0] == self.padding[1] else f"p{self.padding}"
        n = f"N{self.batch} " if self.batch else ""
        f = f" F{self.filters}" if self.filters else ""
        return f"{n}{h}x{w}{d} * {kh}x{kw}{f} {s} {p} {self.dtype}"


def random_operands(
    x_shape: tuple[int, ...], k_shape: tuple[int, ...], dtype: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random ``(x, kernel)`` of the given shapes and dtype.

    Integers are drawn from [-9, 9] (unsigned: [0, 9]) so that sums stay exact; floats from
    U(-1, 1).
    """
    kind = np.dtype(dtype)
    if kind.kind in "iu":
        lo = 0 if kind.kind == "u" else -9
        return (
            rng.integers(lo, 10, size=x_shape).astype(kind),
            rng.integers(lo, 10, size=k_shape).astype(kind),
        )
    return (
        rng.uniform(-1, 1, size=x_shape).astype(kind),
        rng.uniform(-1, 1, size=k_shape).astype(kind),
    )


def make_inputs(case: Case, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random ``(x, kernel)`` for a plain (non-layer) case (see :func:`random_operands`)."""
    depth = (case.depth,) if case.depth else ()
    return random_operands(case.input_size + depth, case.kernel_size + depth, case.dtype, rng)
