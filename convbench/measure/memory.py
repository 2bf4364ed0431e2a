"""Peak extra memory of one call, native buffers included, measured in a worker process.

Why a worker: the kernel's resident-set high-water mark (``VmHWM``) can be reset through
``/proc/self/clear_refs``, but in a warm process glibc keeps freed blocks and hands them out again,
so a second call would read lower than the first. The worker starts with
``MALLOC_MMAP_THRESHOLD_`` fixed at 64 KiB, which sends every large block to ``mmap`` and back to
the kernel on ``free``; that slows allocation-heavy code (up to 44% in the study), so timing stays
in the main process and never runs under it. The worker rebuilds inputs from (case, seed), so
nothing large crosses the pipe, and answers one JSON line per request.

Two figures per call:

``peak_bytes``
    ``VmHWM`` after the call minus ``VmRSS`` before it: every page the call touched, numpy
    buffers, scipy/pocketfft scratch, BLAS workspace and the output included.
``tracemalloc_bytes``
    :mod:`tracemalloc`'s peak: allocations made through Python's allocators (numpy registers its
    buffers there), byte-exact but blind to native scratch such as FFT plans and work arrays.

Where ``/proc/self/clear_refs`` is not writable (not Linux, some containers) ``peak_bytes`` falls
back to tracemalloc's figure and ``source`` says so.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..cases import Case
from ..methods.registry import Method
from .environment import thread_env

MMAP_THRESHOLD = 65536
#: Skip the warm-up call / the tracemalloc call for calls slower than this (seconds).
WARM_CALL_MAX_S = 0.5
TRACEMALLOC_CALL_MAX_S = 2.0
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


@dataclass(frozen=True)
class MemoryResult:
    """What one memory measurement found; ``note`` is set when a figure is missing or degraded."""

    peak_bytes: int | None = None
    tracemalloc_bytes: int | None = None
    source: str = ""
    note: str = ""


# --------------------------------------------------------------------------- in the worker


def _status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"{field} not in {_STATUS}")


def hwm_resettable() -> bool:
    """Whether this process can reset its RSS high-water mark (Linux ``clear_refs``)."""
    try:
        _CLEAR_REFS.write_text("5")
        _status_kib("VmHWM")
        return True
    except OSError:
        return False


def peak_of_call(call: Callable[[], object], call_s: float) -> MemoryResult:
    """Measure ``call()``: RSS high-water mark in one call, tracemalloc's peak in another.

    ``call_s`` (the call's time, from timing) decides whether a warm-up call and the
    tracemalloc call are affordable.
    """
    if call_s < WARM_CALL_MAX_S:
        call()  # lazy imports, plan caches and other one-time costs are not the call's peak
    gc.collect()
    peak = None
    source = "tracemalloc (no clear_refs)"
    if hwm_resettable():
        rss_before = _status_kib("VmRSS")
        _CLEAR_REFS.write_text("5")
        out = call()
        peak = max(0, _status_kib("VmHWM") - rss_before) * 1024
        del out
        gc.collect()
        source = "VmHWM"
    traced = None
    note = ""
    if call_s < TRACEMALLOC_CALL_MAX_S or peak is None:
        tracemalloc.start()
        try:
            out = call()
            traced = tracemalloc.get_traced_memory()[1]
            del out
        finally:
            tracemalloc.stop()
    else:
        note = f"tracemalloc skipped (call takes {call_s:.1f} s)"
    if peak is None:
        peak = traced
        note = "peak_bytes is tracemalloc's (clear_refs unavailable: native buffers missed)"
    return MemoryResult(peak, traced, source, note)


def _answer(req: dict, methods: dict[tuple[str, bool], Method]) -> dict:
    from ..config import resolve_method
    from .inputs import case_inputs

    key = (req["spec"], req["layer"])
    if key not in methods:
        methods[key] = resolve_method(req["spec"], req["layer"])
        gc.freeze()  # imported modules (torch...) out of the collector's way: cheap collections
    method = methods[key]
    case = Case.from_key(req["case"])
    x, k = case_inputs(case, req["seed"])
    result = peak_of_call(lambda: method.func(x, k, case.stride, case.padding), req["call_s"])
    return result.__dict__


def _serve() -> None:
    """Worker loop: one JSON request per stdin line, one JSON answer per line on the real stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it closes our stdin
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # a method that prints must not corrupt the protocol
    sys.stdout = sys.stderr
    methods: dict[tuple[str, bool], Method] = {}
    for line in sys.stdin:
        try:
            answer = _answer(json.loads(line), methods)
        except Exception as e:  # the parent records it; the worker lives on
            answer = {"note": f"memory pass failed: {type(e).__name__}: {e}"[:300]}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


# --------------------------------------------------------------------------- in the parent


class MemoryWorker:
    """A long-lived worker process for memory measurements, restarted when it dies or hangs.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, threads: int = 1, seed: int = 0) -> None:
        self.threads, self.seed = threads, seed
        self._proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ)
        env.update(thread_env(self.threads))
        env["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD)
        paths = [p or os.getcwd() for p in sys.path]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        return subprocess.Popen(
            [sys.executable, "-m", "convbench.measure.memory"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )

    def measure(
        self,
        case: Case,
        spec: str,
        *,
        layer: bool = False,
        call_s: float = 0.0,
        timeout_s: float | None = None,
    ) -> MemoryResult:
        """Peak memory of one call of method ``spec`` on ``case`` (inputs from the seed).

        Never hangs: past ``timeout_s`` (default ``60 + 20 * call_s``: start-up, imports and
        three calls) the worker is killed and the result says so; the next call starts a new one.
        """
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        proc = self._proc
        req = {"spec": spec, "layer": layer, "case": case.key(), "seed": self.seed}
        req["call_s"] = call_s
        timeout = 60.0 + 20.0 * call_s if timeout_s is None else timeout_s
        try:
            proc.stdin.write((json.dumps(req) + "\n").encode())  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
            ready, _, _ = select.select([proc.stdout], [], [], timeout)
            line = proc.stdout.readline() if ready else None  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            line = b""
        if line is None:
            self._kill()
            return MemoryResult(note=f"memory pass timed out after {timeout:.0f} s")
        if not line:
            code = proc.wait(timeout=5)
            self._close_pipes()
            hint = " (out of memory?)" if code in (-9, 137) else ""
            return MemoryResult(note=f"memory worker died with code {code}{hint}")
        return MemoryResult(**json.loads(line))

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self._proc.stdin, self._proc.stdout):  # type: ignore[union-attr]
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self._proc = None

    def close(self) -> None:
        """Stop the worker (politely: closing its stdin ends its loop)."""
        if self._proc is None:
            return
        try:
            self._proc.stdin.close()  # type: ignore[union-attr]
            self._proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._kill()
        else:
            self._close_pipes()

    def __enter__(self) -> MemoryWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    _serve()
