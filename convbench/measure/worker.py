"""The one way convbench measures outside the calling process: a fresh worker per request.

A request (:class:`CheckRequest`, :class:`TimeRequest`, :class:`MemoryRequest`,
:class:`PeakRequest`) is a small frozen object that names what to call (method spec, case,
seed), never the inputs: the worker rebuilds them from ``(case, seed)``. Each request runs in a
**fresh process** that imported numpy, scipy and convbench and measured nothing before, as a
user's script that imports and calls does:

- where ``os.fork`` exists, the process is forked from a *fork server*: a plain
  ``python -m convbench.measure.worker`` started once per run, which imports those modules and
  then forks one child per request (asv does the same); the imports are paid once;
- elsewhere a new server process is started for each request, and answers it itself.

Nothing else runs in the server: not the caller's ``__main__`` (unlike ``multiprocessing``'s
fork server, which re-imports it), not a measurement. Requests and answers are pickled, with an
8-byte length in front, over the server's stdin and stdout; a method that prints cannot corrupt
them (the server's file descriptor 1 goes to stderr).

The answer comes back as a typed object (:class:`Checked`, :class:`TimeAnswer`,
:class:`MemoryResult`, :class:`PeakAnswer`, :class:`CheckFailed` or :class:`WorkerFailed`). A
worker that dies, or does not answer within the request's timeout, is killed and answered by a
:class:`WorkerFailed` naming what happened: the caller turns it into a row, never a crash.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import math
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..cases import Case
from .allocator import use_allocator
from .environment import pinned_threads, thread_env
from .timing import Timing, time_call

#: Modules the fork server imports once, so that no worker pays for them.
PRELOAD = (
    "numpy",
    "scipy.fft",
    "scipy.signal",
    "psutil",
    "threadpoolctl",
    "cloudpickle",
    "convbench.methods",
    "convbench.methods.resolve",
    "convbench.measure.inputs",
    "convbench.measure.memory",
    "convbench.verify",
)
#: Environment variable naming more modules (comma-separated) the fork server imports.
PRELOAD_ENV = "CONVBENCH_PRELOAD"
#: Optional libraries a sweep's methods import on their first call, preloaded when one of its
#: methods comes from them (its ``origin`` names the module) and the library is installed.
OPTIONAL_PRELOAD = ("torch",)


@dataclass(frozen=True)
class Target:
    """What a worker calls: method ``spec`` (built-in name or ``module:function``) on ``case``.

    ``paths`` are prepended to the worker's ``sys.path`` (where user modules live). ``pickled``,
    when given, is the method's function by value (a Python callable, see
    :func:`convbench.methods.resolve.pickle_callable`); ``spec`` then only names it.
    """

    case: Case
    spec: str
    layer: bool = False
    seed: int = 0
    threads: int = 1
    paths: tuple[str, ...] = ()
    pickled: bytes | None = None


@dataclass(frozen=True)
class Check:
    """The output a call must give (the reference) and the absolute error tolerated."""

    expected: np.ndarray
    tol: float


@dataclass(frozen=True)
class CheckRequest:
    """Check one call against the reference: answered by :class:`Checked` or
    :class:`CheckFailed`. Its own process, so that no timing worker ran anything before."""

    target: Target
    check: Check
    budget_s: float = math.inf

    def timeout_s(self) -> float:
        """Start-up and one call, which the time budget bounds too, generously."""
        return 120.0 + 10.0 * (self.budget_s if math.isfinite(self.budget_s) else 60.0)


@dataclass(frozen=True)
class Checked:
    """The call gave the reference within the tolerance: its largest absolute error, and its
    wall time, the first call in a fresh process (one-time costs such as compiling included)."""

    max_abs_err: float
    first_call_s: float = math.nan


@dataclass(frozen=True)
class TimeRequest:
    """Time one method on one case with :func:`convbench.measure.timing.time_call`."""

    target: Target
    allocator: str = "default"
    warmup: int = 1
    min_sample_s: float = 0.02
    repeats: int = 25
    min_repeats: int = 3
    budget_s: float = math.inf

    def timeout_s(self) -> float:
        """How long the parent waits: start-up and the time budget, generously."""
        budget = self.budget_s if math.isfinite(self.budget_s) else 60.0
        return 120.0 + 10.0 * budget


@dataclass(frozen=True)
class MemoryRequest:
    """Peak memory of one call (:func:`convbench.measure.memory.peak_of_call`).

    ``call_s`` (from timing) decides which extra calls are affordable.
    """

    target: Target
    call_s: float = 0.0

    def timeout_s(self) -> float:
        return 60.0 + 20.0 * self.call_s


@dataclass(frozen=True)
class PeakRequest:
    """The single-core float64 GEMM peak (:func:`convbench.measure.peak.gemm_peak_gflops`)."""

    def timeout_s(self) -> float:
        return 120.0


@dataclass(frozen=True)
class Ping:
    """Answered by the server itself (no child) once it has imported: it is ready."""

    def timeout_s(self) -> float:
        return 120.0


@dataclass(frozen=True)
class PeakAnswer:
    """GFLOP/s of the best GEMM sample, the matrix side and how many products were timed."""

    gflops: float
    size: int
    samples: int


@dataclass(frozen=True)
class TimeAnswer:
    """A worker's samples, and how busy the rest of the machine was while it took them.

    ``host_load`` is the CPU time every other process (and, on a VM, the hypervisor's steal)
    used while this worker sampled, in cores: ~0 on an idle machine, ~1 with a busy neighbour.
    """

    timing: Timing
    host_load: float = math.nan
    probe_s: float = math.nan  # see :func:`probe`


@dataclass(frozen=True)
class CheckFailed:
    """The verification call did not give the reference: ``status`` is the row's status."""

    status: str  # "wrong", "error" or "unsupported"
    reason: str
    max_abs_err: float = math.nan


@dataclass(frozen=True)
class WorkerFailed:
    """The worker died, hung, or its request failed outside the method: ``reason`` says which."""

    reason: str


Answer = Any  # TimeAnswer | MemoryResult | CheckFailed | WorkerFailed


def one_line(e: BaseException) -> str:
    """``Type: first line of the message``, at most 300 characters."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}"[:300] if text else type(e).__name__


# --------------------------------------------------------------------------- in the worker


def _method(target: Target):
    from ..methods.resolve import resolve_method, unpickle_method

    for p in reversed(target.paths):
        if p not in sys.path:
            sys.path.insert(0, p)
    if target.pickled is not None:
        return unpickle_method(target.pickled, target.spec)
    return resolve_method(target.spec, target.layer)


def _inputs(target: Target) -> tuple[np.ndarray, np.ndarray]:
    from .inputs import case_inputs

    return case_inputs(target.case, target.seed)


def _verify(call, case: Case, check: Check) -> CheckFailed | Checked:
    """The call's max abs error against the reference and its wall time, or why it failed."""
    from ..errors import Unsupported
    from ..verify import check as compare_outputs

    try:
        t0 = time.perf_counter()
        out = call()
        first_call_s = time.perf_counter() - t0
    except Unsupported as e:
        return CheckFailed("unsupported", str(e))
    except Exception as e:  # the method's failure is the row's status, not the worker's
        return CheckFailed("error", one_line(e))
    try:
        ok, err, message = compare_outputs(out, check.expected, dtype=case.dtype, tol=check.tol)
    except Exception as e:
        return CheckFailed("wrong", f"cannot compare with the reference: {one_line(e)}")
    return Checked(err, first_call_s) if ok else CheckFailed("wrong", message, err)


def _threads(threads: int) -> contextlib.AbstractContextManager:
    """Pools were pinned by the server already when they match; otherwise pin them here."""
    if os.environ.get("CONVBENCH_THREADS") == str(threads):
        return contextlib.nullcontext()
    return pinned_threads(threads)


def _busy_s() -> tuple[float, float]:
    """(CPU seconds used machine-wide, incl. a VM's steal; CPU seconds used by this process)."""
    import psutil

    t = psutil.cpu_times()
    busy = sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))
    own = os.times()
    return busy, own.user + own.system


_PROBE: dict[str, np.ndarray] = {}


def _probe_arrays() -> dict[str, np.ndarray]:
    """The probe's operands and outputs, allocated once (in the server) and never freed.

    Freeing a large block would raise glibc's adaptive mmap threshold, which is exactly the
    history the default allocator setting must not have.
    """
    if not _PROBE:
        _PROBE.update(
            a=np.full((128, 128), 0.5),
            ab=np.empty((128, 128)),
            big=np.ones(1 << 19),
            big2=np.empty(1 << 19),
        )
    return _PROBE


def probe(reps: int = 5) -> float:
    """CPU seconds of a fixed small workload (a 128x128 matmul and a pass over 4 MiB), median of
    ``reps``: how fast this machine is for *anyone* right now.

    Timed before and after each worker's samples. Noise from other machines on the same host
    (shared caches, memory bandwidth, a busy SMT sibling) slows every process alike and shows
    in no load figure of this one; a cell whose probe ran slower than usual was measured
    during such a period. Allocates nothing. Cost: ~2 ms.
    """
    p = _probe_arrays()
    times = []
    for _ in range(reps):
        t0 = time.process_time()
        np.matmul(p["a"], p["a"], out=p["ab"])
        np.multiply(p["big"], 1.0001, out=p["big2"])
        times.append(time.process_time() - t0)
    return float(np.median(times))


def _check(req: CheckRequest) -> Checked | CheckFailed:
    method = _method(req.target)
    case = req.target.case
    x, k = _inputs(req.target)
    with _threads(req.target.threads):
        return _verify(lambda: method.func(x, k, case.stride, case.padding), case, req.check)


def _time(req: TimeRequest) -> TimeAnswer:
    method = _method(req.target)
    case = req.target.case
    x, k = _inputs(req.target)

    def call() -> object:
        return method.func(x, k, case.stride, case.padding)

    use_allocator(req.allocator)
    with _threads(req.target.threads):
        gc.freeze()  # everything so far is permanent: collections stay cheap while timing
        before = probe()
        busy0, own0 = _busy_s()
        t0 = time.perf_counter()
        timing = time_call(
            call,
            warmup=req.warmup,
            min_sample_s=req.min_sample_s,
            repeats=req.repeats,
            min_repeats=req.min_repeats,
            budget_s=req.budget_s,
        )
        busy1, own1 = _busy_s()
        wall = time.perf_counter() - t0
        after = probe()
    others = max(0.0, (busy1 - busy0) - (own1 - own0))
    load = others / wall if wall > 0 else math.nan
    return TimeAnswer(timing, load, (before + after) / 2)


def _memory(req: MemoryRequest):
    from .memory import peak_of_call, probing_allocator

    method = _method(req.target)
    case = req.target.case
    x, k = _inputs(req.target)
    probing_allocator()
    with _threads(req.target.threads):
        return peak_of_call(lambda: method.func(x, k, case.stride, case.padding), req.call_s)


def _peak(req: PeakRequest) -> PeakAnswer:
    from .peak import GEMM_SAMPLES, GEMM_SIZE, gemm_peak_gflops

    return PeakAnswer(gemm_peak_gflops(GEMM_SIZE, GEMM_SAMPLES), GEMM_SIZE, GEMM_SAMPLES)


# --------------------------------------------------------------------------- the protocol


def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _receive(fd: int) -> Any:
    (size,) = struct.unpack("<Q", _read_exact(fd, 8))
    return pickle.loads(_read_exact(fd, size))


Request = CheckRequest | TimeRequest | MemoryRequest | PeakRequest | Ping


def answer(request: Request) -> Answer:
    """Carry out ``request`` in this process (what a worker does); never raises."""
    handlers = {
        CheckRequest: _check,
        TimeRequest: _time,
        MemoryRequest: _memory,
        PeakRequest: _peak,
    }
    try:
        return handlers[type(request)](request)
    except BaseException as e:  # the parent records it as a row; nothing escapes the worker
        return WorkerFailed(f"worker failed: {one_line(e)}")


def _wait_child(pid: int, fd: int, timeout_s: float) -> Answer:
    ready, _, _ = select.select([fd], [], [], timeout_s)
    if not ready:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return WorkerFailed(f"worker timed out after {timeout_s:.0f} s (killed)")
    try:
        result = _receive(fd)
    except (EOFError, pickle.UnpicklingError, struct.error):
        result = None
    _, status = os.waitpid(pid, 0)
    if result is not None:
        return result
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        hint = " (out of memory?)" if sig == signal.SIGKILL else ""
        return WorkerFailed(f"worker died with signal {signal.Signals(sig).name}{hint}")
    return WorkerFailed(f"worker died with code {os.WEXITSTATUS(status)}")


def _fork_one(request: Request, timeout_s: float) -> Answer:
    """In the server: fork a child that answers ``request``; kill it past ``timeout_s``."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer, then leave without running the server's exit handlers
        code = 0
        try:
            os.close(r)
            with os.fdopen(w, "wb") as out:
                _send(out, answer(request))
        except BaseException:
            code = 1
        os._exit(code)
    os.close(w)
    try:
        return _wait_child(pid, r, timeout_s)
    finally:
        os.close(r)


def serve(fork: bool = True) -> None:
    """The server loop: one request in, one answer out, until stdin closes.

    With ``fork`` each request is answered by a fresh child; without, this process answers one
    request and exits (one process per request where there is no fork).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for name in PRELOAD:
        __import__(name)
    # Before pinning: pinned_threads sets torch's intra-op threads when torch is imported. Only
    # imported, never run here: an OpenMP pool started before fork would hang the children.
    _preload_extra(os.environ.get(PRELOAD_ENV, ""))
    cpus = os.environ.get("CONVBENCH_CPUS")
    if cpus and hasattr(os, "sched_setaffinity"):  # children inherit the server's CPU set
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    threads = os.environ.get("CONVBENCH_THREADS")
    if threads:  # pin once, here: every child inherits the pools' size
        pinned = pinned_threads(int(threads))
        pinned.__enter__()
    _probe_arrays()
    gc.collect()
    gc.freeze()  # children start with nothing for the collector to scan
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a method that prints must not corrupt the protocol
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer.fileno()
    while True:
        try:
            request, timeout_s = _receive(requests)
        except EOFError:
            return
        if isinstance(request, Ping):
            _send(answers, "ready")
            continue
        _send(answers, _fork_one(request, timeout_s) if fork else answer(request))
        if not fork:
            return


def _preload_extra(names: str) -> None:
    for name in filter(None, names.split(",")):
        # A library that fails to import fails in the worker of the method that needs it,
        # where it becomes that method's row.
        with contextlib.suppress(ImportError):
            __import__(name)


# --------------------------------------------------------------------------- in the parent


def optional_preload(methods: Iterable[object]) -> tuple[str, ...]:
    """The modules of ``OPTIONAL_PRELOAD`` that ``methods`` (objects with an ``origin``) come
    from and that are installed: the fork server imports them once, instead of every worker of
    such a method (torch: ~1-2 s each)."""
    origins = " ".join(str(getattr(m, "origin", "")) for m in methods)
    return tuple(
        name
        for name in OPTIONAL_PRELOAD
        if name in origins and importlib.util.find_spec(name) is not None
    )


def preloaded_specs(methods: Iterable[tuple[str, object]]) -> frozenset[str]:
    """The specs (what a :class:`Target` names) of the ``(spec, method)`` pairs whose methods
    need a module of ``OPTIONAL_PRELOAD``: only their workers fork from the preloaded server.

    The spec, not the method's name: a user's ``{alias: module:function}`` is requested by its
    ``module:function``."""
    return frozenset(spec for spec, method in methods if optional_preload([method]))


def worker_cpus(setting: str | int, threads: int = 1) -> tuple[int, ...]:
    """The CPUs workers are pinned to for a sweep's ``cpu`` setting.

    ``auto``: the last ``threads`` CPUs this process may run on (pyperf and the kernel's
    ``isolcpus`` advice alike keep measurements off CPU 0, which takes most interrupts);
    ``none``: not pinned; an integer: that CPU (and the next ones, for several threads).
    Where affinity cannot be set, ``()``.
    """
    if setting == "none" or not hasattr(os, "sched_getaffinity"):
        return ()
    allowed = sorted(os.sched_getaffinity(0))
    if setting == "auto":
        return tuple(allowed[-threads:]) if len(allowed) > threads else ()
    first = int(setting)
    return tuple(c for c in allowed if c >= first)[:threads] or ()


#: Set to 1 to keep one fork server for all rounds (faster, layouts shared; see Workers.restart).
ONE_SERVER_ENV = "CONVBENCH_ONE_SERVER"


def one_server() -> bool:
    """Whether ``CONVBENCH_ONE_SERVER=1`` asks for one fork server for all rounds."""
    return os.environ.get(ONE_SERVER_ENV) == "1"


def can_fork() -> bool:
    """Whether workers can be forked from a preloaded server (POSIX)."""
    return hasattr(os, "fork")


@dataclass
class Workers:
    """Runs each request in a fresh worker process and returns its answer.

    Use as a context manager (or call :meth:`close`) to stop the fork server. ``cpus`` pins
    every worker to those CPUs (empty: wherever the OS puts them); ``fork=False`` starts a new
    process per request instead.

    Where the workers import from: by default this process's ``sys.path`` and working
    directory, so they see what it sees. ``pythonpath`` replaces that path and ``cwd`` the
    working directory (``gate --base`` points both into a checkout of another commit, whose
    modules then win); ``log`` appends the servers' stderr to that file instead of sharing this
    process's, and a server that dies is reported with the file's last line. ``preload``
    names more modules the fork server imports (see :func:`optional_preload`).
    """

    threads: int = 1
    cpus: tuple[int, ...] = ()
    fork: bool = field(default_factory=can_fork)
    pythonpath: tuple[str, ...] | None = None
    cwd: str | None = None
    log: str | None = None
    preload: tuple[str, ...] = ()
    #: Target specs whose workers fork from the server that imported ``preload``; every other
    #: request goes to a plain server. ``None``: every request. A preloaded library changes the
    #: allocator's state of every child (after ``import torch``, glibc's adaptive thresholds have
    #: grown: ``fft-polyphase`` 128x128x4 * 45x45 s3 ran 0.70 ms instead of 1.8 ms), a state
    #: a user's program without that library never has.
    preload_for: frozenset[str] | None = None

    def __post_init__(self) -> None:
        self._server: subprocess.Popen | None = None
        self._plain: Workers | None = None

    def _side(self, request: Request) -> Workers:
        """The workers that answer ``request``: these, or their plain (not preloaded) twin."""
        if not self.preload or self.preload_for is None:
            return self
        target = getattr(request, "target", None)
        if target is not None and target.spec in self.preload_for:
            return self
        if self._plain is None:
            self._plain = replace(self, preload=(), preload_for=None)
        return self._plain

    @property
    def method(self) -> str:
        if not self.fork:
            return "new process per request"
        preloaded = f", {' and '.join(self.preload)} preloaded" if self.preload else ""
        if self.preload and self.preload_for is not None:
            only = ", ".join(sorted(self.preload_for))
            preloaded = f", {' and '.join(self.preload)} preloaded for {only} only"
        if one_server():
            return f"one fork server for all rounds ({ONE_SERVER_ENV}=1: layouts shared{preloaded})"
        return f"fork server, a new one per round{preloaded}"

    def _start(self) -> subprocess.Popen:
        env = {**os.environ, **thread_env(self.threads), "CONVBENCH_THREADS": str(self.threads)}
        env["CONVBENCH_CPUS"] = ",".join(map(str, self.cpus))
        env[PRELOAD_ENV] = ",".join(self.preload)
        path = self.pythonpath
        if path is None:
            path = tuple(p or os.getcwd() for p in sys.path)
        env["PYTHONPATH"] = os.pathsep.join(path)
        cmd = [sys.executable, "-m", "convbench.measure.worker"]
        stderr = None
        if self.log is not None:
            stderr = open(self.log, "ab")  # the child keeps its own copy; ours is closed below
        try:
            return subprocess.Popen(
                cmd + ([] if self.fork else ["--once"]),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                cwd=self.cwd,
                start_new_session=True,  # Ctrl-C reaches the parent only; it stops the workers
            )
        finally:
            if stderr is not None:
                stderr.close()

    def _last_words(self) -> str:
        """``: <last line of the log>`` of a server that died, when there is a log."""
        if self.log is None:
            return ""
        with contextlib.suppress(OSError):
            lines = [ln for ln in Path(self.log).read_text(errors="replace").splitlines() if ln]
            if lines:
                return f": {lines[-1].strip()[:300]}"
        return ""

    def start(self) -> None:
        """Start the fork server now (it imports in the background), not at the first request.

        Several servers started together import side by side. Nothing to do without fork.
        """
        side = self._side(Ping())
        if side is not self:
            side.start()
        elif self.fork and (self._server is None or self._server.poll() is not None):
            self._server = self._start()

    def restart(self) -> None:
        """A new server: its children get a new address-space layout.

        A forked child inherits its server's layout (where the libraries, the heap and the
        mmap area start: drawn by ASLR once per exec), and that layout alone moves a method's
        time by several percent for every child of the server alike (measured: 6 servers x 12
        children of shift-add 128x128 * 5x5, server medians x0.96..x1.15 while 12 children of
        one server vary 4.7 %). Children of one server are therefore not independent samples;
        children of different servers are. Nothing to do without fork (a new process each time).
        """
        if self.fork and not one_server():
            self.close()
            self.start()

    def ready(self) -> Answer:
        """Wait until the server has imported (``"ready"``), or why it cannot answer."""
        if not self.fork:
            return "ready"
        return self.run(Ping())

    def run(self, request: Request) -> Answer:
        """Answer ``request`` in a fresh process; never raises for the worker's sake.

        A worker that dies, or outlives the request's timeout (then killed), is answered by a
        :class:`WorkerFailed`. A KeyboardInterrupt stops the server and propagates.
        """
        side = self._side(request)
        if side is not self:
            return side.run(request)
        if self._server is None or self._server.poll() is not None:
            self._server = self._start()
        server = self._server
        timeout_s = request.timeout_s()
        try:
            _send(server.stdin, (request, timeout_s))  # type: ignore[arg-type]
            fd = server.stdout.fileno()  # type: ignore[union-attr]
            # The fork server kills a late child itself; without fork, the process is the worker.
            ready, _, _ = select.select([fd], [], [], timeout_s + (30.0 if self.fork else 0.0))
            if not ready:
                self.close(kill=True)
                what = "worker server did not answer" if self.fork else "worker timed out"
                return WorkerFailed(f"{what} after {timeout_s:.0f} s (killed)")
            result = _receive(fd)
        except (EOFError, OSError, pickle.UnpicklingError, struct.error):
            code = server.poll()
            self.close(kill=True)
            return WorkerFailed(f"worker server died (code {code}){self._last_words()}")
        except BaseException:
            self.close(kill=True)
            raise
        if not self.fork:
            self.close()
        return result

    def close(self, kill: bool = False) -> None:
        """Stop the server (and its plain twin's): politely (stdin closes), or its process group."""
        if self._plain is not None:
            self._plain.close(kill)
        server, self._server = self._server, None
        if server is None:
            return
        if not kill:
            with contextlib.suppress(OSError):
                server.stdin.close()  # type: ignore[union-attr]
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=10)
        if server.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        for pipe in (server.stdin, server.stdout):
            with contextlib.suppress(OSError):
                pipe.close()  # type: ignore[union-attr]

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    # Run the imported module's serve, so that answers pickle as convbench.measure.worker.*.
    from convbench.measure import worker

    worker.serve(fork="--once" not in sys.argv[1:])
