"""What a run measured for cells that have no row yet, so that an interrupt loses none of it.

A cell is timed in several rounds spread over the whole run (see :mod:`convbench.runner`), so
its row can only be written after its last round. Until then each answer of a worker (the
check's error, each round's samples) is appended here as one JSON line, flushed at once; a
resumed run reads them back and measures only the rounds still missing. The file sits next to
the CSV (``quick.csv`` -> ``quick.rounds.jsonl``) and is removed when the run completes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

from .errors import ResultsError
from .measure.timing import Timing
from .measure.worker import TimeAnswer


def journal_path(output: str | os.PathLike) -> Path:
    """Where the unfinished measurements of the run writing ``output`` are kept."""
    return Path(output).with_suffix(".rounds.jsonl")


def _answer_to_json(answer: TimeAnswer) -> dict:
    return dataclasses.asdict(answer)


def _answer_from_json(d: dict) -> TimeAnswer:
    t = d["timing"]
    timing = Timing(
        loops=int(t["loops"]),
        wall_s=tuple(t["wall_s"]),
        cpu_s=tuple(t["cpu_s"]),
        cut_by_budget=bool(t["cut_by_budget"]),
        elapsed_s=float(t["elapsed_s"]),
        notes=tuple(t["notes"]),
    )
    return TimeAnswer(timing, float(d["host_load"]), float(d["probe_s"]))


class Journal:
    """Append-only record of checks and timing rounds of cells whose row is not written yet.

    Parameters
    ----------
    output : the results CSV of the run.
    resume : read what an earlier, interrupted run of the same config recorded; otherwise any
        earlier journal is discarded (the caller has already refused or agreed to overwrite).
    on_first_write : called once, before the first entry of this run is written.
    """

    def __init__(
        self,
        output: str | os.PathLike,
        *,
        resume: bool,
        on_first_write: Callable[[], None] = lambda: None,
    ) -> None:
        self.path = journal_path(output)
        self._on_first_write = on_first_write
        self.checks: dict[tuple, tuple[float, float]] = {}  # (max_abs_err, first_call_s)
        self.rounds: dict[tuple, list[TimeAnswer]] = {}
        if resume and self.path.exists():
            self._load()
        else:
            self.path.unlink(missing_ok=True)
        self._file = None

    def _load(self) -> None:
        lines = self.path.read_text().splitlines()
        for n, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
                key = tuple(entry["key"])
                if "check" in entry:
                    first = entry.get("first_call_s", math.nan)
                    self.checks[key] = (float(entry["check"]), float(first))
                else:
                    self.rounds.setdefault(key, []).append(_answer_from_json(entry["time"]))
            except (ValueError, KeyError, TypeError) as e:
                if n == len(lines):
                    break  # the last line was being written when the run was killed
                raise ResultsError(f"{self.path}: line {n} is not a journal entry ({e})") from e

    def __len__(self) -> int:
        return sum(len(v) for v in self.rounds.values())

    def _append(self, entry: dict) -> None:
        if self._file is None:
            self._on_first_write()
            self._file = self.path.open("a")
        self._file.write(json.dumps(entry) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def record_check(self, key: tuple, max_abs_err: float, first_call_s: float) -> None:
        """The cell passed its check with this largest absolute error; its first call took
        ``first_call_s`` (compilation and set-up included)."""
        self.checks[key] = (max_abs_err, first_call_s)
        self._append({"key": list(key), "check": max_abs_err, "first_call_s": first_call_s})

    def record_round(self, key: tuple, answer: TimeAnswer) -> None:
        """One more worker's samples of the cell."""
        self.rounds.setdefault(key, []).append(answer)
        self._append({"key": list(key), "time": _answer_to_json(answer)})

    def close(self, *, complete: bool) -> None:
        """Close the file; remove it when the run completed (every row is in the CSV)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if complete:
            self.path.unlink(missing_ok=True)


def pending(output: str | os.PathLike) -> int:
    """How many timing rounds an interrupted run of ``output`` left in its journal."""
    path = journal_path(output)
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if '"time"' in line)
