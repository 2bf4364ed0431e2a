"""The progress bar of a run: rich's, in a terminal and in a Jupyter notebook alike.

A bar is a context manager giving an object with ``show(case, what)`` (what is being measured
now) and ``advance(n)`` (n more steps done). In a terminal it is rich's live ``Progress`` on
stderr (transient: gone when the run ends); where stderr is no terminal, nothing. In Jupyter,
rich's live display needs ipywidgets; instead the same columns are rendered to text and pushed
through one updatable IPython display (a core Jupyter message, shown by every frontend, kept in
a saved notebook), at most every ``JUPYTER_REFRESH_S``, and left showing the finished bar.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from .cases import Case

#: Seconds between two updates of a notebook's progress display.
JUPYTER_REFRESH_S = 0.25
#: Characters per line of the notebook's progress text.
JUPYTER_WIDTH = 100


class Bar(Protocol):
    def show(self, case: Case, what: str) -> None: ...

    def advance(self, n: int = 1) -> None: ...


class NoProgress:
    """The bar of ``progress=False``: does nothing."""

    def show(self, case: Case, what: str) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


def _columns() -> tuple:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )


class RichProgress:
    """rich's ``Progress`` and its one task; ``on_change`` is called after every change."""

    def __init__(self, progress: Any, task: Any, on_change: Callable[[], None] = lambda: None):
        self.progress, self.task, self.on_change = progress, task, on_change

    def show(self, case: Case, what: str) -> None:
        self.progress.update(self.task, description=f"{case.label()} | {what}")
        self.on_change()

    def advance(self, n: int = 1) -> None:
        self.progress.advance(self.task, n)
        self.on_change()


class NotebookDisplay:
    """A rich renderable shown as text in one Jupyter output that is updated in place.

    ``display`` is IPython's ``display`` (injectable for tests): called once with
    ``display_id=True``, its handle's ``update`` afterwards.
    """

    def __init__(self, display: Callable[..., Any] | None = None) -> None:
        if display is None:
            from IPython.display import display
        self._display = display
        self._handle: Any = None
        self._last = -float("inf")

    @staticmethod
    def text(renderable: Any) -> str:
        from rich.console import Console

        console = Console(
            file=io.StringIO(), width=JUPYTER_WIDTH, force_jupyter=False, color_system=None
        )
        console.print(renderable)
        return console.file.getvalue().rstrip()  # type: ignore[attr-defined]

    def update(self, renderable: Any, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < JUPYTER_REFRESH_S:
            return
        self._last = now
        data = {"text/plain": self.text(renderable)}
        if self._handle is None:
            self._handle = self._display(data, raw=True, display_id=True)
        else:
            self._handle.update(data, raw=True)


def in_jupyter() -> bool:
    """Whether this process is a Jupyter kernel (rich's own detection)."""
    from rich.console import Console

    return Console().is_jupyter


@contextlib.contextmanager
def progress_bar(
    enabled: bool, total: int, *, jupyter: bool | None = None, display: Callable | None = None
) -> Iterator[Bar]:
    """A bar over ``total`` steps; ``jupyter`` (default: detected) picks the notebook display."""
    if not enabled:
        yield NoProgress()
        return
    from rich.progress import Progress

    if jupyter if jupyter is not None else in_jupyter():
        progress = Progress(*_columns(), auto_refresh=False)  # drawn only by the display below
        out = NotebookDisplay(display)
        task = progress.add_task("starting", total=total)
        bar = RichProgress(progress, task, lambda: out.update(progress.get_renderable()))
        try:
            out.update(progress.get_renderable(), force=True)
            yield bar
        finally:
            finished = progress.tasks[0].completed >= total
            progress.update(task, description="done" if finished else "stopped")
            progress.stop_task(task)
            out.update(progress.get_renderable(), force=True)
        return
    from rich.console import Console

    console = Console(stderr=True)  # stdout stays for what a command prints
    if not console.is_terminal:  # a pipe or a file: a live bar would only leave blank lines
        yield NoProgress()
        return
    with Progress(*_columns(), console=console, transient=True) as progress:
        yield RichProgress(progress, progress.add_task("starting", total=total))
