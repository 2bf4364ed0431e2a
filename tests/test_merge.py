"""Merging shard CSVs (synthetic files) and comparing machines; no measuring here."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convbench.cases import Case
from convbench.cli import app
from convbench.config import config_hash
from convbench.errors import ResultsError
from convbench.machines import combine, fastest_by_machine
from convbench.merge import expected_keys, merge_shards
from convbench.results import (
    COLUMNS,
    SCHEMA_VERSION,
    RowWriter,
    make_row,
    read_meta,
    row_key,
    write_meta,
)

RAW = {"input_size": [8, 9], "kernel_size": [3, 5], "methods": ["fft", "shift-add"], "seed": 0}
METHODS = ("fft", "shift-add")
CASES = [Case((n, n), (k, k)) for n in (8, 9) for k in (3, 5)]
#: The unsharded run's order: case by case, methods as configured.
ALL_KEYS = [row_key({"method": m, **c.key()}) for c in CASES for m in METHODS]


def meta(**changes: object) -> dict:
    base = {
        "config": RAW,
        "config_name": "tiny",
        "config_hash": config_hash(RAW),
        "methods": [{"name": m, "spec": m, "family": "x"} for m in METHODS],
        "cpu_model": "Test CPU 1",
        "hostname": "node1",
        "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": "2026-01-01T00:10:00+00:00",
        "interrupted": False,
        "shard": {"index": 1, "count": 2, "plan": "abc"},
    }
    base.update(changes)
    return base


def write_shard(
    path: Path,
    cells: list[tuple[Case, str]],
    sidecar: dict,
    *,
    time_s: float = 1.25e-3,
    finished: str = "2026-01-01T00:05:00+00:00",
) -> Path:
    with RowWriter(path) as w:
        for case, method in cells:
            w.write(
                make_row(
                    case,
                    method,
                    "fft" if method == "fft" else "direct",
                    "ok",
                    loops=10,
                    repeats=5,
                    time_median_s=time_s,
                    samples_s=[time_s] * 5,
                    finished_at=finished,
                )
            )
    write_meta(path, sidecar)
    return path


def cells(keys_slice: slice) -> list[tuple[Case, str]]:
    every = [(c, m) for c in CASES for m in METHODS]
    return every[keys_slice]


def read_text_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture
def two_shards(tmp_path: Path) -> list[Path]:
    # Odd and even cells, as a cost-balanced plan would interleave them.
    a = write_shard(tmp_path / "a.csv", cells(slice(1, None, 2)), meta())
    b = write_shard(
        tmp_path / "b.csv",
        cells(slice(0, None, 2)),
        meta(shard={"index": 2, "count": 2, "plan": "abc"}),
    )
    return [a, b]


def test_expected_keys_reexpand_the_stored_config_in_run_order() -> None:
    assert expected_keys(meta()) == ALL_KEYS


def test_merge_gives_the_unsharded_file(tmp_path: Path, two_shards: list[Path]) -> None:
    out = tmp_path / "merged.csv"
    report = merge_shards(out, two_shards)
    assert report.complete and report.rows == len(ALL_KEYS) == report.expected
    header, rows = read_text_rows(out)
    assert header == list(COLUMNS)
    assert [row_key(r) for r in rows] == ALL_KEYS
    assert {r["time_median_s"] for r in rows} == {"0.00125"}  # copied as text, no float round trip
    merged = read_meta(out)
    assert "shard" not in merged
    assert [m["shard"]["index"] for m in merged["merged_from"]] == [1, 2]
    assert merged["config_hash"] == config_hash(RAW)


def test_merge_remakes_a_merge_but_never_replaces_measured_rows_silently(
    tmp_path: Path, two_shards: list[Path]
) -> None:
    out = tmp_path / "merged.csv"
    merge_shards(out, two_shards)
    merge_shards(out, two_shards)  # merging again (after resuming a shard) just re-makes it
    measured = write_shard(tmp_path / "measured.csv", cells(slice(None)), meta(shard=None))
    before = measured.read_bytes()
    with pytest.raises(ResultsError, match=r"measured\.csv has 8 rows: --resume .* --overwrite"):
        merge_shards(measured, two_shards)
    assert measured.read_bytes() == before
    result = CliRunner().invoke(app, ["merge", str(measured), *map(str, two_shards), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert read_meta(measured)["merged_from"]


def test_merge_refuses_another_config(tmp_path: Path, two_shards: list[Path]) -> None:
    other = dict(RAW, seed=1)
    c = write_shard(tmp_path / "c.csv", cells(slice(0, 1)), meta(config=other, config_hash="f00"))
    with pytest.raises(ResultsError, match="config hash differs"):
        merge_shards(tmp_path / "m.csv", [two_shards[0], c])
    result = CliRunner().invoke(app, ["merge", str(tmp_path / "m.csv"), str(two_shards[0]), str(c)])
    assert result.exit_code == 2, result.output
    assert "convbench: error:" in result.output and "config hash differs" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "m.csv").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"methods": [{"name": "fft"}]}, "method list differs"),
        ({"shard": {"index": 2, "count": 3, "plan": "zzz"}}, "shard plan differs"),
        ({"cpu_model": "Other CPU"}, "CPU model differs.*--allow-machines"),
    ],
)
def test_merge_refuses_mismatched_sidecars(
    tmp_path: Path, two_shards: list[Path], change: dict, message: str
) -> None:
    b = write_shard(tmp_path / "b2.csv", cells(slice(0, None, 2)), meta(**change))
    with pytest.raises(ResultsError, match=message):
        merge_shards(tmp_path / "m.csv", [two_shards[0], b])


def test_allow_machines_merges_and_names_both(tmp_path: Path, two_shards: list[Path]) -> None:
    b = write_shard(tmp_path / "b2.csv", cells(slice(0, None, 2)), meta(cpu_model="Other CPU"))
    report = merge_shards(tmp_path / "m.csv", [two_shards[0], b], allow_machines=True)
    assert report.complete
    assert read_meta(tmp_path / "m.csv")["cpu_model"] == "Test CPU 1 + Other CPU"


def test_merge_refuses_an_unknown_schema(tmp_path: Path, two_shards: list[Path]) -> None:
    text = two_shards[1].read_text().replace(f"\n{SCHEMA_VERSION},", "\n99,")
    two_shards[1].write_text(text)
    with pytest.raises(ResultsError, match="schema '99' is unknown"):
        merge_shards(tmp_path / "m.csv", two_shards)


def test_merge_refuses_a_csv_without_sidecar(tmp_path: Path, two_shards: list[Path]) -> None:
    two_shards[1].with_suffix(".meta.json").unlink()
    with pytest.raises(ResultsError, match=r"no sidecar b\.meta\.json"):
        merge_shards(tmp_path / "m.csv", two_shards)


def test_merge_refuses_to_overwrite_an_input(two_shards: list[Path]) -> None:
    with pytest.raises(ResultsError, match="output is also an input"):
        merge_shards(two_shards[0], two_shards)


def test_missing_and_duplicated_cells_are_reported(tmp_path: Path) -> None:
    a = write_shard(tmp_path / "a.csv", cells(slice(0, 5)), meta(), time_s=1e-3)
    # b re-measured cell 4 later (kept), and never got to cells 7 and 8.
    b = write_shard(
        tmp_path / "b.csv",
        cells(slice(4, 6)),
        meta(),
        time_s=2e-3,
        finished="2026-01-01T00:09:00+00:00",
    )
    out = tmp_path / "m.csv"
    report = merge_shards(out, [a, b])
    assert report.missing == ALL_KEYS[6:]
    assert report.duplicated == [ALL_KEYS[4]]
    _, rows = read_text_rows(out)
    assert [row_key(r) for r in rows] == ALL_KEYS[:6]
    assert rows[4]["time_median_s"] == "0.002"
    result = CliRunner().invoke(app, ["merge", str(tmp_path / "m2.csv"), str(a), str(b)])
    assert result.exit_code == 1, result.output
    assert "2 missing, 1 duplicated" in result.output
    assert "missing: shift-add on 9x9 * 5x5 s1 p0 float64" in result.output


def test_a_torn_last_line_is_dropped_and_reported(tmp_path: Path, two_shards: list[Path]) -> None:
    with open(two_shards[0], "a") as f:
        f.write("1,fft,fft,9,9,5,5,0,1,1,0")  # killed while writing this row
    report = merge_shards(tmp_path / "m.csv", two_shards)
    assert report.complete
    assert any("torn last line" in line for line in report.lines())


def test_rows_outside_the_config_are_refused(tmp_path: Path, two_shards: list[Path]) -> None:
    stray = write_shard(tmp_path / "s.csv", [(Case((30, 30), (3, 3)), "fft")], meta())
    with pytest.raises(ResultsError, match="not a cell of the config"):
        merge_shards(tmp_path / "m.csv", [*two_shards, stray])


# --------------------------------------------------------------------------- machines


def test_fastest_method_per_machine_and_where_they_differ(tmp_path: Path) -> None:
    every = [(c, m) for c in CASES for m in METHODS]
    fast_fft = tmp_path / "x.csv"
    with RowWriter(fast_fft) as w:
        for c, m in every:
            t = 1e-3 if m == "fft" else 2e-3
            w.write(make_row(c, m, "x", "ok", time_median_s=t))
    write_meta(fast_fft, meta(cpu_model="CPU X"))
    slow_fft = tmp_path / "y.csv"
    with RowWriter(slow_fft) as w:
        for c, m in every:
            # On Y fft loses only on the 5x5 kernels.
            t = 3e-3 if (m == "fft" and c.kernel_size == (5, 5)) else 1e-3 if m == "fft" else 2e-3
            w.write(make_row(c, m, "x", "ok", time_median_s=t))
    write_meta(slow_fft, meta(cpu_model="CPU Y"))
    df = combine([fast_fft, slow_fft])
    assert list(dict.fromkeys(df["machine"])) == ["CPU X", "CPU Y"]
    table = fastest_by_machine(df)
    assert list(table["CPU X"]) == ["fft"] * 4
    assert list(table["CPU Y"]) == ["fft", "shift-add", "fft", "shift-add"]
    assert list(table["differ"]) == [False, True, False, True]
    result = CliRunner().invoke(app, ["machines", str(fast_fft), str(slow_fft), "--differ-only"])
    assert result.exit_code == 0, result.output
    assert "M2 = CPU Y" in result.output
    assert "8x8 * 5x5 s1 p0 float64" in result.output
    assert "8x8 * 3x3" not in result.output
    assert "differs between machines on 2 of 4 cells" in result.output


def test_same_cpu_model_is_told_apart_by_host(tmp_path: Path, two_shards: list[Path]) -> None:
    write_meta(two_shards[1], meta(hostname="node2"))
    write_meta(two_shards[0], meta(hostname="node1"))
    df = combine(two_shards)
    assert set(df["machine"]) == {"Test CPU 1 (node1)", "Test CPU 1 (node2)"}
    # A sidecar is JSON that anything can read back.
    assert json.loads(two_shards[0].with_suffix(".meta.json").read_text())["hostname"] == "node1"
