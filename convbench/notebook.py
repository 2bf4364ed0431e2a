"""The notebook interface: :func:`bench` runs a sweep from Python, :class:`Results` holds its rows.

``bench`` is ``convbench run`` called from Python (one code path: :func:`convbench.launch.
run_config`): the same checks and errors, the same fresh worker processes, the same rows flushed
to a CSV as each cell finishes. What it adds is that methods may be Python callables, defined
anywhere (a notebook cell, ``__main__``, a lambda): they reach the workers by value.

:class:`Results` reads that CSV and its sidecar, and gives what the other commands give: the
figures of ``convbench plot``, the verdicts of ``convbench compare``, the fastest method per
cell, and a file every command reads (:meth:`Results.save`).
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .cases import Case
from .errors import ResultsError
from .journal import journal_path
from .results import STATUSES, data_rows, read_meta, read_rows, write_meta, write_rows

if TYPE_CHECKING:  # matplotlib and the comparison are imported when used
    from .compare import Comparison
    from .runner import RunSummary

#: Figure kinds of :meth:`Results.plot`, as ``convbench plot`` names their files.
FIGURE_KINDS = ("heatmap", "fastest", "margin", "allocator-gain")
#: Rows of the fastest-method table shown by ``repr``; the whole table is ``fastest()``.
REPR_ROWS = 20


def bench(
    config: str | os.PathLike | Mapping[str, Any],
    *,
    methods: Sequence[str | Callable[..., Any]]
    | Mapping[str, str | Callable[..., Any]]
    | None = None,
    output: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    **overrides: Any,
) -> Results:
    """Measure a sweep, as ``convbench run`` does, and return its rows.

    Every method is first checked against the reference in a fresh worker process, then timed
    in ``processes`` fresh workers and its peak memory taken in one more. A method that gives a
    wrong result, raises or kills its worker becomes a row saying so (``wrong``, ``error``); the
    sweep goes on. Rows are written to ``output`` as each cell finishes, so an interrupted run
    (Ctrl-C, the notebook's stop button) keeps them and returns what it has.

    Parameters
    ----------
    config : str, path or dict
        A sweep config: the path of a YAML file, or a dict with the same keys
        (``input_size``, ``kernel_size``, ``depth``, ``stride``, ..., see the README).
    methods : list or dict, optional
        Replaces the config's ``methods``: built-in names (``"fft"``, ``"all"``),
        ``"module:function"`` paths and Python callables, in a list (a callable's rows are
        named by its ``__name__``) or a dict ``{row name: method}``. A callable has the method
        contract: ``f(x, kernel, stride, padding)`` with ``x`` (H, W) or (H, W, C), ``kernel``
        (kh, kw) or (kh, kw, C) of the same dtype, ``stride`` and ``padding`` ``(h, w)`` pairs,
        returning the valid cross-correlation (no kernel flip) of shape
        ``(1 + (H + 2ph - kh) // sh, 1 + (W + 2pw - kw) // sw)`` in that dtype.
    output : str or path, optional
        The results CSV (sidecar beside it). Default: a new temporary file, whose path is
        ``Results.path``; :meth:`Results.save` keeps the rows elsewhere.
    resume : bool
        Continue an interrupted run into ``output`` (same config), measuring only what is
        missing.
    overwrite : bool
        Replace an ``output`` that already has rows (refused otherwise).
    progress : bool
        Show a progress bar (in a terminal and in Jupyter); ``False`` for none.
    **overrides
        Replace single keys of ``config``, e.g. ``input_size=[64, 128]``, ``processes=1``.

    Returns
    -------
    Results
        Every row of the run (``Results.df``) and its sidecar (``Results.meta``).

    Raises
    ------
    ConfigError
        A bad key or value (the message names it, as for a YAML file: ``<bench config>`` stands
        for a dict, ``(override)`` marks a key given as a keyword), a callable that cannot be
        pickled or has no name; nothing is measured then.
    ResultsError
        ``output`` has rows and neither ``resume`` nor ``overwrite`` is given, or cannot be
        written.

    Notes
    -----
    Cost: per cell and method, ``processes + 2`` worker processes (~10 ms each to start) plus
    the calls: calibration, ``timing.repeats`` samples of ``timing.min_sample_s`` at least, and
    the memory pass. For quick looks lower them, as below.

    Examples
    --------
    >>> import convbench
    >>> def mine(x, kernel, stride, padding):
    ...     return convbench.correlate(x, kernel, stride, padding, method="shift-add")
    >>> r = convbench.bench(
    ...     {"input_size": [16, 32], "kernel_size": 3, "depth": 0, "stride": 1},
    ...     methods={"mine": mine, "fft": "fft"},
    ...     processes=1, timing={"repeats": 5, "min_sample_s": 0.001}, memory_pass=False,
    ...     progress=False,
    ... )
    >>> r.counts()
    {'ok': 4}
    >>> sorted(set(r.df["method"]))
    ['fft', 'mine']
    """
    from .launch import run_config

    if methods is not None:
        overrides = {**overrides, "methods": methods}
    temporary = None
    if output is None:
        temporary = Path(tempfile.mkdtemp(prefix="convbench-"))
        output = temporary / "bench.csv"
    try:
        summary = run_config(
            config,
            output,
            overrides=overrides,
            resume=resume,
            overwrite=overwrite,
            progress=progress,
        )
    except BaseException:
        # What was measured (rows, or rounds journalled for a resume) is never deleted.
        if temporary is not None and not data_rows(output) and not journal_path(output).exists():
            shutil.rmtree(temporary, ignore_errors=True)
        raise
    return Results.load(summary.output, summary=summary)


class Figures(dict):
    """Figures of :meth:`Results.plot` by the file stem ``convbench plot`` gives them
    (``{"time-d0-s1-p0-float64-fastest": Figure, ...}``).

    Jupyter shows every figure when this is a cell's value; :meth:`save` writes them.
    """

    def save(self, folder: str | os.PathLike, format: str = "png", dpi: int = 110) -> list[Path]:
        """Write each figure to ``folder/<stem>.<format>`` (as ``convbench plot -o``).

        Examples
        --------
        >>> import tempfile
        >>> import convbench
        >>> r = convbench.bench(
        ...     {"input_size": [16, 32], "kernel_size": 3, "methods": ["fft", "shift-add"]},
        ...     processes=1, timing={"repeats": 5, "min_sample_s": 0.001}, memory_pass=False,
        ...     progress=False,
        ... )
        >>> [p.name for p in r.plot(kind="fastest").save(tempfile.mkdtemp())]
        ['time-d0-s1-p0-float64-fastest.png']
        """
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        paths = []
        for stem, fig in self.items():
            path = target / f"{stem}.{format}"
            fig.savefig(path, dpi=dpi)
            paths.append(path)
        return paths

    def _ipython_display_(self) -> None:
        # PNG bytes, not the Figure objects: they are not pyplot's, so whether IPython knows
        # how to show them depends on the backend setup; an image always shows.
        import io

        from IPython.display import Image, display

        for fig in self.values():
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=90)
            display(Image(data=buffer.getvalue(), format="png"))


def figure_kind(stem: str) -> str:
    """The kind of a ``convbench plot`` figure from its file stem (see :data:`FIGURE_KINDS`)."""
    if stem.startswith("allocator-gain-"):
        return "allocator-gain"
    for kind in ("fastest", "margin"):
        if stem.endswith(f"-{kind}"):
            return kind
    return "heatmap"


class Results:
    """The rows of a sweep and their sidecar: what :func:`bench` returns, or a CSV read back.

    Attributes
    ----------
    df : pandas.DataFrame
        One row per (case, allocator, method), exactly the CSV's columns as
        :func:`convbench.results.read_rows` gives them (``status``, ``reason``,
        ``time_median_s``, ``peak_bytes``, ``max_abs_err``, raw samples as lists, ...).
    meta : dict
        The sidecar: config and its hash, methods, machine, versions, thread pools, times.
    path : Path or None
        The CSV the rows were read from.
    summary : RunSummary or None
        What the run did, for results just measured by :func:`bench`.

    Examples
    --------
    >>> import convbench
    >>> r = convbench.bench(
    ...     {"input_size": [16, 32], "kernel_size": 3, "methods": ["fft", "shift-add"]},
    ...     processes=1, timing={"repeats": 5, "min_sample_s": 0.001}, memory_pass=False,
    ...     progress=False,
    ... )
    >>> r.df[["method", "input_h", "kernel_h", "status"]].sort_values(["method", "input_h"])
    ... # doctest: +NORMALIZE_WHITESPACE
          method  input_h  kernel_h status
    0        fft       16         3     ok
    2        fft       32         3     ok
    1  shift-add       16         3     ok
    3  shift-add       32         3     ok
    """

    def __init__(
        self,
        df: pd.DataFrame,
        meta: Mapping[str, Any] | None = None,
        *,
        path: str | os.PathLike | None = None,
        summary: RunSummary | None = None,
    ) -> None:
        self.df = df
        self.meta = dict(meta or {})
        self.path = Path(path) if path is not None else None
        self.summary = summary

    @classmethod
    def load(cls, path: str | os.PathLike, *, summary: RunSummary | None = None) -> Results:
        """Read a results CSV and its sidecar (from ``convbench run``, ``merge`` or
        :meth:`save`).

        Raises
        ------
        ResultsError
            Not a convbench results CSV, or of a schema this convbench does not know.

        Examples
        --------
        >>> import tempfile
        >>> import convbench
        >>> r = convbench.bench(
        ...     {"input_size": 16, "kernel_size": 3, "methods": ["fft"]},
        ...     processes=1, timing={"repeats": 5, "min_sample_s": 0.001}, memory_pass=False,
        ...     progress=False,
        ... )
        >>> again = convbench.Results.load(r.path)
        >>> again.df.equals(r.df), again.meta["config_hash"] == r.meta["config_hash"]
        (True, True)
        """
        return cls(read_rows(path), read_meta(path), path=path, summary=summary)

    # ------------------------------------------------------------------ what it holds

    def counts(self) -> dict[str, int]:
        """Rows by status, in the order ``ok``, ``wrong``, ``error``, ``skipped``,
        ``unsupported`` (statuses without rows left out).

        Examples
        --------
        >>> import convbench
        >>> def broken(x, kernel, stride, padding):
        ...     raise RuntimeError("not written yet")
        >>> r = convbench.bench(
        ...     {"input_size": 16, "kernel_size": [3, 5]},
        ...     methods=["fft", broken],
        ...     processes=1, timing={"repeats": 5, "min_sample_s": 0.001}, memory_pass=False,
        ...     progress=False,
        ... )
        >>> r.counts()
        {'ok': 2, 'error': 2}
        >>> sorted(set(r.df.loc[r.df["status"] == "error", "reason"]))
        ['RuntimeError: not written yet']
        """
        found = Counter(self.df["status"])
        return {s: int(found[s]) for s in (*STATUSES, *sorted(set(found) - set(STATUSES)))
                if found[s]}  # fmt: skip

    @property
    def interrupted(self) -> bool:
        """Whether the run that wrote these rows was stopped before its end."""
        return bool(self.meta.get("interrupted"))

    def fastest(
        self, metric: str = "time", *, methods: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """The best method of every cell, as the fastest-method map of :meth:`plot` shows it.

        Parameters
        ----------
        metric : {"time", "memory", "gflops"}
            Least median time, least peak memory, or most GFLOP/s.
        methods : list of str, optional
            Only these methods compete.

        Returns
        -------
        pandas.DataFrame
            One row per measured (case, allocator): the case keys, ``allocator``, ``method``
            (the best, ``""`` where no method has a value), its ``time_median_s`` (or
            ``peak_bytes`` / ``gflops``), ``runner_up``, ``margin`` (runner-up / best, >= 1),
            ``tie`` (the two cannot be told apart) and ``decided`` (a method is named, no tie).
            Times are ranked by :func:`convbench.fastest.fastest`, the rule every command
            uses; dispatchers (``auto``) do not compete.

        Raises
        ------
        ResultsError
            No ``ok`` row has a value of ``metric``, or a name in ``methods`` is not in the rows.

        Examples
        --------
        >>> import convbench
        >>> r = convbench.bench(
        ...     {"input_size": [16, 32], "kernel_size": 3, "methods": ["fft", "shift-add"]},
        ...     processes=1, timing={"repeats": 5, "min_sample_s": 0.001}, memory_pass=False,
        ...     progress=False,
        ... )
        >>> best = r.fastest()
        >>> best[["input_h", "kernel_h"]].values.tolist()
        [[16, 3], [32, 3]]
        >>> set(best["method"]) <= {"fft", "shift-add"}
        True
        """
        from .plot import winners

        return winners(self.df, metric, methods=methods)

    # ------------------------------------------------------------------ the other commands

    def plot(
        self,
        metric: str = "time",
        *,
        kind: str | Sequence[str] | None = None,
        methods: Sequence[str] | None = None,
        per: int = 1,
    ) -> Figures:
        """The figures of ``convbench plot``: per facet, the per-method heatmaps, the fastest
        method map and the winner's margin (and the allocator gain when two were measured).

        Nothing is saved: :meth:`Figures.save` writes them, as ``convbench plot`` does.

        Parameters
        ----------
        metric : {"time", "memory", "gflops"}
            What the heatmaps show (median wall time, peak extra memory, GFLOP/s).
        kind : str or list of str, optional
            Only figures of these kinds: ``"heatmap"``, ``"fastest"``, ``"margin"``,
            ``"allocator-gain"``. Default: all.
        methods : list of str, optional
            Only these methods.
        per : int
            Show the time of this many calls (the study's tables: 10).

        Returns
        -------
        Figures
            ``{file stem: matplotlib Figure}``; a notebook cell shows them all.

        Raises
        ------
        ResultsError
            As ``convbench plot``: an unknown metric or method, no usable value.

        Examples
        --------
        >>> import convbench
        >>> r = convbench.bench(
        ...     {"input_size": [16, 32], "kernel_size": 3, "methods": ["fft", "shift-add"]},
        ...     processes=1, timing={"repeats": 5, "min_sample_s": 0.001}, progress=False,
        ... )
        >>> list(r.plot())
        ['time-d0-s1-p0-float64', 'time-d0-s1-p0-float64-fastest', 'time-d0-s1-p0-float64-margin']
        >>> list(r.plot("memory", kind="heatmap"))
        ['memory-d0-s1-p0-float64']
        """
        from .plot import figures_of

        kinds = [kind] if isinstance(kind, str) else list(kind or FIGURE_KINDS)
        unknown = [k for k in kinds if k not in FIGURE_KINDS]
        if unknown:
            raise ResultsError(f"kind must be among {', '.join(FIGURE_KINDS)}, got {unknown}")
        figures = figures_of(self.df, self.meta, metric, methods=methods, per=per)
        return Figures((stem, fig) for stem, fig in figures if figure_kind(stem) in kinds)

    def compare(
        self,
        baseline: Results | str | os.PathLike | Sequence[Results | str | os.PathLike],
        **rule: Any,
    ) -> Comparison:
        """The verdicts of ``convbench compare BASELINE THIS``: these results against
        ``baseline``, cell by cell.

        Parameters
        ----------
        baseline : Results, path, or a list of them
            The earlier run; several runs of one sweep are combined as ``convbench compare``
            and ``gate`` do (a cell must be slower than the slowest of them).
        **rule
            Fields of :class:`convbench.rules.Thresholds` (``factor``, ``stat``, ``time="cpu"``,
            ``memory_factor``, ...), as the options of ``convbench compare``; those not given
            take its defaults (which depend on whether the two runs are a ``gate --base``
            pair, as there).

        Returns
        -------
        Comparison
            ``.cells`` (one verdict per cell: ``regressed``, ``improved``, ``unchanged``,
            ``inconclusive``, ``broken``, ...), ``.failed``, ``.fastest_changes``,
            ``.environment``; Jupyter shows it as ``convbench compare --markdown`` writes it.

        Raises
        ------
        ResultsError
            No cell in common, different schemas, baseline runs of different configs, or a bad
            option (``bad option: factor must be > 1, ...``).

        Examples
        --------
        >>> import convbench
        >>> r = convbench.bench(
        ...     {"input_size": 16, "kernel_size": 3, "methods": ["fft", "shift-add"]},
        ...     processes=1, timing={"repeats": 5, "min_sample_s": 0.001}, memory_pass=False,
        ...     progress=False,
        ... )
        >>> verdicts = r.compare(r)
        >>> verdicts.failed, len(verdicts.cells)
        (False, 2)
        """
        from .comparison import compare_runs

        runs = [baseline] if isinstance(baseline, (Results, str, os.PathLike)) else baseline
        read = [r if isinstance(r, Results) else Results.load(r) for r in runs]
        return compare_runs(
            [(r.df, r.meta, str(r.path or "baseline")) for r in read],
            (self.df, self.meta, str(self.path or "current")),
            **rule,
        )

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the rows to ``path`` and the sidecar beside it (``<stem>.meta.json``): files
        that ``convbench plot``, ``compare``, ``report`` and ``merge`` read.

        ``Results.load(path).df`` then equals ``df``. The rows written are ``df``'s as they are
        now (filtered, for instance), with the columns of the results schema.

        Raises
        ------
        ResultsError
            ``path`` already has rows and ``overwrite`` is not given, another convbench is
            writing it, ``df`` has columns outside the schema, or it cannot be written.

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> import convbench
        >>> r = convbench.bench(
        ...     {"input_size": 16, "kernel_size": 3, "methods": ["fft"]},
        ...     processes=1, timing={"repeats": 5, "min_sample_s": 0.001}, memory_pass=False,
        ...     progress=False,
        ... )
        >>> path = r.save(Path(tempfile.mkdtemp()) / "fft.csv")
        >>> path.name, path.with_suffix(".meta.json").is_file()
        ('fft.csv', True)
        >>> convbench.Results.load(path).df.equals(r.df)
        True
        """
        from .locks import output_lock

        target = Path(path)
        same = self.path is not None and target.resolve() == self.path.resolve()
        rows = data_rows(target)
        if rows and not (overwrite or same):
            raise ResultsError(
                f"{target} has {rows} row{'s' if rows != 1 else ''}: "
                "save(..., overwrite=True) to replace it"
            )
        with output_lock(target):
            write_rows(target, self.df)
            write_meta(target, self.meta)
        return target

    # ------------------------------------------------------------------ display

    def _fastest_or_none(self) -> pd.DataFrame | None:
        if not (self.df["status"] == "ok").any():
            return None
        try:
            return self.fastest()
        except ResultsError:
            return None

    def _fastest_table(self) -> pd.DataFrame | None:
        """The fastest-method table as shown: case label, method, time, runner-up, margin."""
        best = self._fastest_or_none()
        if best is None or best.empty:
            return None
        several = best["allocator"].nunique() > 1
        table = pd.DataFrame(
            {
                "case": [Case.from_key(r).label() for r in best.to_dict("records")],
                **({"allocator": best["allocator"]} if several else {}),
                "fastest": best["method"].replace("", "-"),
                "median time": best["time_median_s"].map(_seconds),
                "runner-up": best["runner_up"].replace("", "-"),
                "margin": [
                    "tie" if tie else ("" if pd.isna(m) else f"x{m:.2f}")
                    for m, tie in zip(best["margin"], best["tie"], strict=True)
                ],
            }
        )
        return table.reset_index(drop=True)

    def _problems(self) -> Iterator[str]:
        bad = self.df[self.df["status"].isin(("wrong", "error"))]
        for r in bad.to_dict("records"):
            err = r.get("max_abs_err")
            wrong = r["status"] == "wrong" and pd.notna(err)
            extra = f" (max_abs_err {err:.3g})" if wrong else ""
            case = Case.from_key(r).label()
            yield f"{r['status']}: {r['method']} on {case}: {r['reason']}{extra}"

    def _head(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items()) or "no rows"
        where = f" in {self.path}" if self.path else ""
        head = f"convbench Results: {len(self.df)} rows ({counts}){where}"
        if self.interrupted:
            head += " - interrupted: bench(..., output=this file, resume=True) continues it"
        return head

    def __repr__(self) -> str:
        lines = [self._head()]
        table = self._fastest_table()
        if table is not None:
            lines += ["fastest method per cell:"]
            shown = table.head(REPR_ROWS).to_string(index=False)
            lines += ["  " + line for line in shown.splitlines()]
            if len(table) > REPR_ROWS:
                lines.append(f"  ... {len(table) - REPR_ROWS} more: .fastest()")
        problems = list(self._problems())
        lines += problems[:REPR_ROWS]
        if len(problems) > REPR_ROWS:
            lines.append(f"... {len(problems) - REPR_ROWS} more wrong/error rows in .df")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [f"<p><b>{html.escape(self._head())}</b></p>"]
        counts = pd.DataFrame([self.counts()], index=["rows"])
        parts.append(counts.to_html(border=0))
        table = self._fastest_table()
        if table is not None:
            parts.append("<p>Fastest method per cell:</p>")
            parts.append(table.head(REPR_ROWS).to_html(index=False, border=0))
            if len(table) > REPR_ROWS:
                parts.append(f"<p>... {len(table) - REPR_ROWS} more: <code>.fastest()</code></p>")
        problems = list(self._problems())
        if problems:
            items = "".join(f"<li>{html.escape(p)}</li>" for p in problems[:REPR_ROWS])
            parts.append(f"<p>Wrong or failing:</p><ul>{items}</ul>")
        return "\n".join(parts)


def _seconds(value: object) -> str:
    """A duration with a unit that keeps 3 significant digits readable (``12.3 µs``)."""
    if value is None or pd.isna(value):
        return ""
    s = float(value)  # type: ignore[arg-type]
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


__all__ = ["FIGURE_KINDS", "Figures", "Results", "bench", "figure_kind"]
