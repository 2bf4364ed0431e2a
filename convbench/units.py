"""The one set of formatters for sizes, times and ratios that tables and messages print.

Pure functions of a number; ``missing`` is what an unknown value (None, nan) prints as.
"""

from __future__ import annotations

import math

_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def _unknown(x: float | None) -> bool:
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def format_bytes(n: float | None, missing: str = "") -> str:
    """``1.5 MiB``-style text of a byte count (powers of 1024; whole bytes below 1 KiB)."""
    if _unknown(n):
        return missing
    x = float(n)  # type: ignore[arg-type]
    for unit in _BYTE_UNITS:
        if abs(x) < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return missing  # pragma: no cover  (the loop always returns)


def format_seconds(s: float | None, missing: str = "") -> str:
    """``12.3 µs`` / ``4.56 ms`` / ``1.23 s``: a duration with three significant figures."""
    if _unknown(s):
        return missing
    x = float(s)  # type: ignore[arg-type]
    if abs(x) < 1e-3:
        return f"{x * 1e6:.1f} µs"
    if abs(x) < 1:
        return f"{x * 1e3:.2f} ms"
    return f"{x:.2f} s"


def format_ratio(x: float | None, missing: str = "") -> str:
    """``x1.234``: a ratio of two times or sizes."""
    return missing if _unknown(x) else f"x{float(x):.3f}"  # type: ignore[arg-type]
