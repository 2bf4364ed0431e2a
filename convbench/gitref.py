"""The base of ``gate --base REF``: a commit of the repository checked out beside the working tree.

The head is the working tree as it is (uncommitted changes included); the base is REF checked
out into a temporary ``git worktree`` that is removed afterwards, also after an error, Ctrl-C or
SIGTERM (a cancelled CI job).
Base workers then import from that checkout: every ``sys.path`` entry that lies inside the
working tree is pointed at the same place inside the checkout (and dropped where the base has
no such directory), so a module the base lacks is never picked up from the head by mistake.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import ConfigError, ConvbenchError


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ConvbenchError("--base needs git, which is not installed here") from None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def repo_root(cwd: str | os.PathLike) -> Path:
    """The top directory of the git working tree ``cwd`` is in.

    Raises
    ------
    ConvbenchError
        ``cwd`` is not inside a git working tree, or git is missing.
    """
    where = Path(cwd)
    done = _git(where, "rev-parse", "--show-toplevel")
    if done.returncode or not done.stdout.strip():
        raise ConvbenchError(
            f"{where}: not a git repository (--base REF measures a commit of the repository "
            "the gate runs in; without git, gate against stored runs with --baseline CSV)"
        )
    return Path(done.stdout.strip()).resolve()


def resolve(root: Path, ref: str) -> str:
    """The full commit id of ``ref`` (any commit-ish: a sha, ``HEAD~1``, ``origin/main``).

    Raises
    ------
    ConvbenchError
        No such commit in the repository (e.g. a shallow clone that lacks it).
    """
    if not ref or ref.startswith("-"):
        raise ConvbenchError(f"--base {ref!r}: not a commit")
    done = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if done.returncode or not done.stdout.strip():
        raise ConvbenchError(
            f"--base {ref!r}: no such commit in {root} (a shallow clone? fetch it first, e.g. "
            "actions/checkout with fetch-depth: 0)"
        )
    return done.stdout.strip()


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """While inside, SIGTERM raises ``SystemExit(143)`` so that ``finally`` blocks run.

    A CI runner cancels a job with SIGTERM, whose default action ends the process on the spot,
    leaving the base worktree registered in the user's repository. Only the main thread can
    install a handler; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def unwind(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def checkout(root: Path, sha: str) -> Iterator[Path]:
    """Check ``sha`` out into a temporary detached worktree; yields its top directory.

    The worktree (and its registration in the repository) is removed on the way out, whatever
    happened, SIGTERM included (:func:`sigterm_unwinds`). Cost: one ``git worktree add`` (the
    tree is written to disk).

    Raises
    ------
    ConvbenchError
        git could not check the commit out (the message is git's last line).
    """
    with sigterm_unwinds():
        tmp = Path(tempfile.mkdtemp(prefix="convbench-base-"))
        tree = tmp / "tree"
        try:
            done = _git(root, "worktree", "add", "--detach", "--quiet", str(tree), sha)
            if done.returncode:
                raise ConvbenchError(f"cannot check out {sha[:12]}: {_last_line(done.stderr)}")
            yield tree
        finally:
            _git(root, "worktree", "remove", "--force", str(tree))
            shutil.rmtree(tmp, ignore_errors=True)
            _git(root, "worktree", "prune")


def _inside(path: Path, root: Path) -> Path | None:
    try:
        return path.relative_to(root)
    except ValueError:
        return None


def base_path(
    entries: Sequence[str], head_root: Path, base_root: Path, cwd: Path
) -> tuple[str, ...]:
    """``sys.path`` for base workers: the head's entries, pointed into the base's checkout.

    An entry inside ``head_root`` becomes the same place under ``base_root`` (dropped when the
    base has no such directory); ``""`` (the working directory) likewise; other entries stay
    as they are. The base's counterpart of ``cwd`` comes first. Pure path arithmetic plus an
    existence check per entry.
    """
    out: list[str] = []
    here = _inside(cwd.resolve(), head_root)
    if here is not None:
        out.append(str(base_root / here))
    for entry in entries:
        if entry and not (os.path.isabs(entry) or os.path.exists(entry)):
            out.append(entry)  # not a directory (e.g. an import hook's marker): leave it be
            continue
        path = Path(entry or cwd).resolve()
        rel = _inside(path, head_root)
        if rel is None:
            out.append(str(path))
        elif (base_root / rel).exists():
            out.append(str(base_root / rel))
    return tuple(dict.fromkeys(out))


def base_cwd(head_root: Path, base_root: Path, cwd: Path) -> Path:
    """Where base workers run: the base's counterpart of ``cwd`` (its top when there is none)."""
    rel = _inside(cwd.resolve(), head_root)
    target = base_root / rel if rel is not None else base_root
    return target if target.is_dir() else base_root


def source_dir(cwd: Path, src: str) -> Path:
    """``--src DIR`` as an absolute directory of the head (a ``src/`` layout's import root).

    Raises
    ------
    ConfigError
        No such directory.
    """
    path = (cwd / src).resolve()
    if not path.is_dir():
        raise ConfigError(f"--src {src}: no such directory in {cwd}")
    return path
