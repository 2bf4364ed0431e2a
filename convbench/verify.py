"""Checking a method's output against an independent reference.

The runner calls, for each (case, method), before timing::

    expected = reference(x, kernel, case.stride, case.padding)
    ok, max_abs_err, message = check(out, expected, dtype=case.dtype,
                                     tol=tolerance(case, x, kernel))

``convbench verify`` calls :func:`verify_all` on random cases.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .api import normalize
from .cases import Case, Pair, make_inputs
from .errors import ConvbenchError
from .methods import PLAIN, Method, registered

#: Multiplier on the rounding-error bound; generous for FFT round-off, far below real bugs
#: (a wrong or missing tap errs by about max|x| * max|k|, many orders of magnitude more).
TOLERANCE_FACTOR = 32.0


def reference(
    x: np.ndarray, kernel: np.ndarray, stride: int | Pair = 1, padding: int | Pair = 0
) -> np.ndarray:
    """The valid strided cross-correlation, computed independently of every registered method.

    Loops over the kernel taps and accumulates ``kernel[a, b] * padded[a + i*sh, b + j*sw]`` over
    the strided outputs only, in int64 (exact) for integer inputs and float64 for floats.
    Cost: kh*kw vectorised passes of Ho*Wo*C values, so it stays usable on big cases.

    Returns
    -------
    (Ho, Wo) int64 or float64 array (floats are deliberately NOT cast back to float32).
    """
    x, kernel, stride, padding, case = normalize(x, kernel, stride, padding)
    wide = np.int64 if x.dtype.kind in "iu" else np.float64
    (ph, pw), (sh, sw), (ho, wo) = padding, stride, case.output_size
    padded = np.zeros((*case.padded_size, *x.shape[2:]), dtype=wide)
    padded[ph : ph + x.shape[0], pw : pw + x.shape[1]] = x
    taps = kernel.astype(wide)
    out = np.zeros((ho, wo), dtype=wide)
    for a in range(kernel.shape[0]):
        for b in range(kernel.shape[1]):
            seen = padded[a : a + sh * (ho - 1) + 1 : sh, b : b + sw * (wo - 1) + 1 : sw]
            out += seen @ taps[a, b] if kernel.ndim == 3 else seen * taps[a, b]
    return out


def tolerance(case: Case, x: np.ndarray, kernel: np.ndarray) -> float:
    """Largest acceptable absolute error for ``case`` with these inputs.

    0 for integer dtypes (results must be exact). For floats::

        TOLERANCE_FACTOR * eps(dtype) * (max|x| * sum|kernel| + ||x||_2 * ||kernel||_2)

    The first term bounds the magnitude of any window sum (direct summation error is a small
    multiple of eps times it); the second is the scale of FFT round-off, which spreads over the
    whole transform rather than one window.
    """
    dtype = np.dtype(case.dtype)
    if dtype.kind in "iu":
        return 0.0
    xa = np.abs(np.asarray(x, dtype=np.float64))
    ka = np.abs(np.asarray(kernel, dtype=np.float64))
    window = float(xa.max(initial=0.0)) * float(ka.sum())
    spread = float(np.sqrt(np.sum(xa * xa)) * np.sqrt(np.sum(ka * ka)))
    return TOLERANCE_FACTOR * float(np.finfo(dtype).eps) * (window + spread)


def check(
    out: object, expected: np.ndarray, *, dtype: str | np.dtype, tol: float
) -> tuple[bool, float, str]:
    """Compare a method's output with the reference.

    Parameters
    ----------
    out : what the method returned.
    expected : :func:`reference` output for the same arguments.
    dtype : the dtype the contract requires of ``out`` (the case's dtype).
    tol : :func:`tolerance` for the case (0 means exact).

    Returns
    -------
    (ok, max_abs_err, message): ``max_abs_err`` is ``nan`` when shapes or dtypes differ or
    values are not finite; ``message`` is ``""`` when ok, else one line saying what is wrong.
    """
    want = np.dtype(dtype)
    if not isinstance(out, np.ndarray):
        return False, float("nan"), f"returned {type(out).__name__}, not a numpy array"
    if out.shape != expected.shape:
        return False, float("nan"), f"shape {out.shape}, expected {expected.shape}"
    if out.dtype != want:
        return False, float("nan"), f"dtype {out.dtype}, expected {want}"
    if out.size == 0:
        return True, 0.0, ""
    if want.kind == "f" and not np.all(np.isfinite(out)):
        return False, float("nan"), "output has non-finite values"
    if want.kind in "iu":
        diff = np.abs(out.astype(np.int64) - expected.astype(np.int64))
    else:
        diff = np.abs(out.astype(np.float64) - expected)
    err = float(diff.max())
    if err > tol:
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
        return False, err, f"max abs error {err:.3g} > tolerance {tol:.3g} at {worst}"
    return True, err, ""


@dataclass(frozen=True)
class Failure:
    """One method that disagreed with the reference (or raised) on one case."""

    method: str
    case: Case
    message: str

    def __str__(self) -> str:
        return f"{self.method} on {self.case.label()}: {self.message}"


def random_cases(n_cases: int, seed: int) -> Iterator[Case]:
    """``n_cases`` small random feasible cases covering what methods get wrong.

    Non-square inputs, even and odd (and non-square) kernels up to the whole padded input,
    strides 1..4 that need not divide, padding 0..3, depth 0 (2D) or 1..8, and each of int64,
    float32, float64. Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    dtypes = ("int64", "float32", "float64")
    for index in range(n_cases):
        h, w = (int(v) for v in rng.integers(1, 17, size=2))
        padding = (int(rng.integers(0, 4)), int(rng.integers(0, 4)))
        hp, wp = h + 2 * padding[0], w + 2 * padding[1]
        kernel = (int(rng.integers(1, min(hp, 8) + 1)), int(rng.integers(1, min(wp, 8) + 1)))
        depth = 0 if rng.random() < 0.4 else int(rng.integers(1, 9))
        stride = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        yield Case((h, w), kernel, depth, stride, padding, dtypes[index % len(dtypes)])


def resolve_methods(names: Sequence[str] | None) -> list[Method]:
    """The registered methods called ``names`` (all of them for ``None`` or empty).

    Raises
    ------
    ConvbenchError
        Naming the unknown method and listing the known ones.
    """
    known = registered()
    if not names:
        return list(known.values())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConvbenchError(PLAIN.unknown(unknown[0]))
    return [known[n] for n in names]


def verify_case(method: Method, case: Case, x: np.ndarray, kernel: np.ndarray) -> str | None:
    """Run ``method`` on one case and return why it is wrong, or ``None`` if it agrees.

    A case the method does not support (``method.supports``) counts as agreeing.
    """
    if method.supports(case):
        return None
    expected = reference(x, kernel, case.stride, case.padding)
    try:
        out = method.func(x, kernel, case.stride, case.padding)
    except Exception as e:  # any crash is a finding, reported with its type
        return f"raised {type(e).__name__}: {e}"
    ok, _, message = check(out, expected, dtype=case.dtype, tol=tolerance(case, x, kernel))
    return None if ok else message


def verify_all(
    methods: Iterable[Method | str] | None = None, n_cases: int = 40, seed: int = 0
) -> list[Failure]:
    """Check ``methods`` (default: all registered) on :func:`random_cases` against the reference.

    Returns
    -------
    One :class:`Failure` per (method, case) that disagreed or raised; empty when all agree.
    """
    chosen = [
        m if isinstance(m, Method) else resolve_methods([m])[0] for m in (methods or registered())
    ]
    rng = np.random.default_rng(seed)
    failures = []
    for case in random_cases(n_cases, seed):
        x, kernel = make_inputs(case, rng)
        for method in chosen:
            problem = verify_case(method, case, x, kernel)
            if problem:
                failures.append(Failure(method.name, case, problem))
    return failures
