"""The machine a run happened on, and the thread pinning every measurement runs under."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

#: Environment variables that size BLAS/OpenMP/FFT thread pools when a library starts.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
_PACKAGES = ("convbench", "numpy", "scipy", "scikit-image", "pandas", "threadpoolctl", "torch")


def thread_env(threads: int) -> dict[str, str]:
    """Variables to put in a child's environment so its pools start at ``threads``."""
    return dict.fromkeys(THREAD_ENV_VARS, str(threads))


@contextlib.contextmanager
def pinned_threads(threads: int) -> Iterator[None]:
    """Limit BLAS/OpenMP pools (threadpoolctl), scipy.fft and torch to ``threads`` threads.

    Pools already started by this process are resized with threadpoolctl; the environment
    variables are set too so that worker processes and late-loaded libraries start that way.
    """
    import scipy.fft
    from threadpoolctl import threadpool_limits

    os.environ.update(thread_env(threads))
    torch = sys.modules.get("torch")
    old_torch = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads), scipy.fft.set_workers(threads):
            yield
    finally:
        if torch is not None and old_torch is not None:
            torch.set_num_threads(old_torch)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: CPU features that decide which vector code runs (LLVM for numba, OpenBLAS's kernels,
#: pocketfft): x86 /proc/cpuinfo ``flags``, ARM ``Features``.
SIMD_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512vl", "avx512_bf16",
    "amx_tile", "asimd", "sve", "sve2",
)  # fmt: skip


def cpu_details() -> dict[str, str]:
    """``cpu_id`` (vendor, family and model numbers, or ARM implementer and part) and
    ``cpu_simd`` (the :data:`SIMD_FLAGS` the CPU has) from ``/proc/cpuinfo``; ``{}`` elsewhere.

    Two machines of one model name ("AMD EPYC" on a cloud VM) can be CPUs of different
    generations, with different vector units: the times of the same code differ by 2x or more.
    """
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return {}
    first: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            if first:
                break  # the first processor's block is enough
            continue
        key, _, value = line.partition(":")
        first.setdefault(key.strip().lower(), value.strip())
    ident = [
        f"{name} {first[key]}"
        for key, name in (
            ("vendor_id", "vendor"),
            ("cpu family", "family"),
            ("model", "model"),
            ("cpu implementer", "implementer"),
            ("cpu part", "part"),
        )
        if key in first
    ]
    flags = set((first.get("flags") or first.get("features") or "").split())
    out = {"cpu_simd": " ".join(f for f in SIMD_FLAGS if f in flags)}
    if ident:
        out["cpu_id"] = ", ".join(ident)
    return out


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    return out


def git_commit(where: str | os.PathLike | None = None) -> str:
    """``HEAD`` of the repository holding the package (``+dirty`` if modified), or ``""``."""
    cwd = Path(where) if where else Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return ""
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def environment(threads: int) -> dict[str, object]:
    """Everything about the machine and software that makes timings comparable or not."""
    from threadpoolctl import threadpool_info

    with pinned_threads(threads):
        pools = threadpool_info()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 0
    return {
        "cpu_model": cpu_model(),
        **cpu_details(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "threads": threads,
        "threadpool_info": pools,
        "versions": package_versions(),
        "git_commit": git_commit(),
    }
