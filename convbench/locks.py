"""Locks that keep measured rows safe: one writer per results file, one measurement per machine.

Two kinds, both advisory ``flock`` locks (released by the kernel when the holder dies, so a killed
run never leaves a stale lock behind):

- :func:`output_lock`: an exclusive lock on ``<output>.lock`` beside a results file, held by the
  one process writing it. A second writer is refused at once (:class:`ResultsError` naming the
  file and the holder).
- :func:`measuring_lock`: a machine-wide lock held while timing, so that two measurements do not
  slow each other down. A second measuring command waits (or, ``wait=False``, is refused). It is
  re-entrant across one command's processes: the holder exports :data:`HOLDER_ENV` and a process
  whose ancestor holds the lock does not take it again (the gate's measuring subprocesses).
  ``shared_machine=True`` measures without the lock; such a run registers itself in
  :func:`shared_dir` so that every run can tell, row by row, whether another convbench measured at
  the same time (:meth:`Measuring.note`).

The machine lock lives in ``tempfile.gettempdir()``, or in ``$CONVBENCH_LOCK_DIR`` (tests point it
at a temporary folder so that they never contend with real runs).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .errors import ConvbenchError, ResultsError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, the locks do nothing
    fcntl = None  # type: ignore[assignment]

#: Folder of the machine-wide lock (default: the system's temporary folder).
LOCK_DIR_ENV = "CONVBENCH_LOCK_DIR"
#: Set by the measuring lock's holder for its children: ``<pid>`` or ``<pid>:shared``.
HOLDER_ENV = "CONVBENCH_MEASURING_LOCK"
#: Starts the note added to the reason of a row measured while another convbench measured.
SHARED_NOTE = "machine shared"

MACHINE_LOCK_NAME = "convbench-measuring.lock"
SHARED_DIR_NAME = "convbench-measuring.shared"

# Shared-machine runs probe the machine lock with a momentary shared lock; an exclusive
# acquirer that meets such a probe retries a few times before it calls the lock taken.
_PROBE_RETRIES = 5
_PROBE_PAUSE_S = 0.02


def lock_dir() -> Path:
    """Where the machine-wide lock lives: ``$CONVBENCH_LOCK_DIR`` or the temporary folder."""
    return Path(os.environ.get(LOCK_DIR_ENV) or tempfile.gettempdir())


def machine_lock_path() -> Path:
    """The machine-wide measuring lock file."""
    return lock_dir() / MACHINE_LOCK_NAME


def shared_dir() -> Path:
    """Where shared-machine runs register (one file per process, named by its pid)."""
    return lock_dir() / SHARED_DIR_NAME


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of a results file: ``results/x.csv`` -> ``results/x.csv.lock``."""
    p = Path(path)
    return p.with_name(p.name + ".lock")


# --------------------------------------------------------------------------- who holds a lock


def _identity() -> str:
    """``<pid> <start time> <command line>``: what a holder writes into its lock file."""
    argv = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["python"]
    return f"{os.getpid()} {_start_time(os.getpid())} {' '.join(argv)[:200]}"


def _start_time(pid: int) -> str:
    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except (psutil.Error, OSError):
        return "?"


def _holder(text: str) -> tuple[int, str] | None:
    """``(pid, "pid N: command")`` of a live process described by ``text``; None if it is gone.

    The start time guards against a reused pid.
    """
    parts = text.strip().split(" ", 2)
    if len(parts) < 2 or not parts[0].isdigit():
        return None
    pid = int(parts[0])
    if not psutil.pid_exists(pid) or parts[1] != _start_time(pid):
        return None
    command = parts[2] if len(parts) > 2 else "?"
    return pid, f"pid {pid}: {command}"


def _read_holder(fd: int) -> str:
    try:
        found = _holder(os.pread(fd, 4096, 0).decode(errors="replace"))
    except OSError:
        found = None
    return found[1] if found else "another process"


def _write_identity(fd: int) -> None:
    with contextlib.suppress(OSError):  # the lock holds without it; only the message suffers
        os.ftruncate(fd, 0)
        os.pwrite(fd, (_identity() + "\n").encode(), 0)


def _family() -> set[int]:
    """This process and its ancestors."""
    me = psutil.Process()
    with contextlib.suppress(psutil.Error):
        return {me.pid, *(p.pid for p in me.parents())}
    return {me.pid}


# --------------------------------------------------------------------------- one writer per file


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold the exclusive writer's lock of the results file ``path`` (``<path>.lock``).

    The lock file records the holder (pid, command line) and is removed on release.

    Raises
    ------
    ResultsError
        Another process holds it (the message names the file and the holder), or the lock file
        cannot be created.
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    target = Path(path)
    lock = lock_path(target)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ResultsError(f"{target}: cannot create its folder: {e.strerror or e}") from None
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ResultsError(f"{lock}: cannot create the lock file: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise ResultsError(
                f"{target}: another convbench is writing it ({holder}); "
                "wait for it to finish or write to another file"
            ) from None
        # The previous holder removes the lock file on release: if we locked a removed file,
        # start again on the current one.
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    _write_identity(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()  # while still locked: a waiter on this inode then starts again
        os.close(fd)


# --------------------------------------------------------------- one measurement per machine


@dataclass
class Measuring:
    """The measuring lock as held by this process (what :func:`measuring_lock` yields).

    Attributes
    ----------
    shared : measuring without the exclusive lock (``--shared-machine``).
    inherited : an ancestor process holds it for this command.
    """

    shared: bool
    inherited: bool = False
    family: set[int] = field(default_factory=set)
    _previous: str = ""

    def others(self) -> str:
        """Who else measures on this machine now (``""``: nobody)."""
        return others_measuring(probe_lock=self.shared, exclude=self.family)

    def note(self) -> str:
        """The note for a row measured since the previous call (``""``: it ran alone).

        A row is noted when another convbench measured at its start (the previous call) or at
        its end (this call).
        """
        now = self.others()
        seen, self._previous = now or self._previous, now
        return f"{SHARED_NOTE}: {seen}" if seen else ""


def others_measuring(*, probe_lock: bool = True, exclude: set[int] | None = None) -> str:
    """A description of the other convbench processes measuring now, or ``""``.

    Parameters
    ----------
    probe_lock
        Also ask whether the machine lock is held (not for its holder: it would see itself).
    exclude
        Pids not to count (this process and its ancestors).
    """
    if fcntl is None:  # pragma: no cover
        return ""
    exclude = exclude if exclude is not None else _family()
    found = []
    if probe_lock:
        with contextlib.suppress(OSError):
            fd = os.open(machine_lock_path(), os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
            except BlockingIOError:
                found.append(f"{_read_holder(fd)} holds the measuring lock")
            finally:
                os.close(fd)
    with contextlib.suppress(OSError):
        for entry in sorted(shared_dir().iterdir()):
            if not entry.name.isdigit() or int(entry.name) in exclude:
                continue
            with contextlib.suppress(OSError):
                holder = _holder(entry.read_text())
                if holder is None:
                    entry.unlink()  # its run died without unregistering
                else:
                    found.append(f"{holder[1]} measures with --shared-machine")
    return "; ".join(found)


def _inherited() -> tuple[bool, bool]:
    """(held by this process or an ancestor, in shared mode), from :data:`HOLDER_ENV`."""
    value = os.environ.get(HOLDER_ENV, "")
    pid, _, mode = value.partition(":")
    if not pid.isdigit() or int(pid) not in _family():
        return False, False
    return True, mode == "shared"


@contextlib.contextmanager
def _exported(value: str) -> Iterator[None]:
    old = os.environ.get(HOLDER_ENV)
    os.environ[HOLDER_ENV] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(HOLDER_ENV, None)
        else:
            os.environ[HOLDER_ENV] = old


def _say(message: str) -> None:
    print(f"convbench: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def measuring_lock(
    *,
    wait: bool = True,
    shared_machine: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Measuring]:
    """Hold the machine-wide measuring lock while timing (see the module's docstring).

    Parameters
    ----------
    wait
        When another convbench measures: wait for it (calling ``on_wait`` once with a message),
        or, False, raise.
    shared_machine
        Do not take the lock; register as a shared-machine run instead. The rows should then
        carry :meth:`Measuring.note`, and the sidecar ``shared_machine: true``.
    on_wait
        Told why the run waits (default: a line on stderr).

    Raises
    ------
    ConvbenchError
        ``wait=False`` and another convbench holds the lock (the message names the holder).
    """
    inherited, inherited_shared = _inherited()
    family = _family()
    if inherited or fcntl is None:
        yield Measuring(shared=inherited_shared, inherited=True, family=family)
        return
    if shared_machine:
        with _registered_shared(), _exported(f"{os.getpid()}:shared"):
            held = Measuring(shared=True, family=family)
            held.note()  # what was already going on when this run began
            yield held
        return
    path = machine_lock_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except PermissionError:  # another user's lock file: flock needs no write access
            fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        raise ConvbenchError(f"{path}: cannot open the measuring lock: {e.strerror or e}") from None
    locked = False
    try:
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o666)  # machine-wide: other users measure here too
        if not _try_lock(fd):
            holder = _read_holder(fd)
            if not wait:
                raise ConvbenchError(
                    f"{path}: another convbench is measuring on this machine ({holder}); "
                    "drop --no-wait to wait for it, or pass --shared-machine to measure anyway"
                )
            (on_wait or _say)(
                f"waiting: another convbench is measuring on this machine ({holder}); "
                "this run starts when it ends (--no-wait to refuse, --shared-machine to measure "
                "anyway)"
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
        locked = True
        _write_identity(fd)
        with _exported(str(os.getpid())):
            held = Measuring(shared=False, family=family)
            held.note()
            yield held
    finally:
        if locked:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # nobody holds it now: no stale name for the next reader
        os.close(fd)


def _try_lock(fd: int) -> bool:
    if fcntl is None:  # pragma: no cover
        return True
    for attempt in range(_PROBE_RETRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < _PROBE_RETRIES:
                time.sleep(_PROBE_PAUSE_S)
    return False


@contextlib.contextmanager
def _registered_shared() -> Iterator[None]:
    folder = shared_dir()
    entry = folder / str(os.getpid())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            folder.chmod(0o1777)  # machine-wide, like the temporary folder itself
        entry.write_text(_identity() + "\n")
    except OSError as e:
        raise ConvbenchError(f"{entry}: cannot register a shared-machine run: {e}") from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            entry.unlink()
