"""The results format: rows round-trip, resume keys, and every refusal of a bad file."""

from __future__ import annotations

import json

import pytest

from convbench.cases import Case
from convbench.errors import ResultsError
from convbench.results import (
    COLUMNS,
    META_VERSION,
    SCHEMA_VERSION,
    RowWriter,
    make_row,
    meta_path,
    read_meta,
    read_rows,
    row_key,
    write_meta,
)

CASE = Case(input_size=(16, 12), kernel_size=(3, 4), depth=2, stride=(2, 1), padding=(1, 0))


def ok_row(method: str = "m", case: Case = CASE) -> dict:
    return make_row(
        case, method, "direct", "ok", samples_s=[1e-3, 2e-3], time_median_s=1.5e-3, loops=4
    )


def test_rows_round_trip_with_samples(tmp_path):
    path = tmp_path / "r.csv"
    with RowWriter(path) as w:
        w.write(ok_row("a"))
        w.write(make_row(CASE, "b", "fft", "error", reason="ValueError: boom, with a comma"))
    df = read_rows(path)
    assert list(df.columns) == list(COLUMNS)
    assert df["method"].tolist() == ["a", "b"]
    assert df.loc[0, "samples_s"] == pytest.approx([1e-3, 2e-3])
    assert df.loc[1, "samples_s"] == []
    assert df.loc[1, "reason"] == "ValueError: boom, with a comma"
    assert Case.from_key(df.iloc[0].to_dict()) == CASE
    assert (df["schema"] == SCHEMA_VERSION).all()


def test_resume_keeps_rows_and_knows_their_keys(tmp_path):
    path = tmp_path / "r.csv"
    with RowWriter(path) as w:
        w.write(ok_row("a"))
    with path.open("a") as f:  # a kill in the middle of a write
        f.write("1,b,dir")
    with RowWriter(path, resume=True) as w:
        assert w.existing_keys == {row_key(ok_row("a"))}
        w.write(ok_row("c"))
    assert read_rows(path)["method"].tolist() == ["a", "c"]


def test_resume_refuses_a_csv_with_other_columns(tmp_path):
    # Rows appended under an older header would land in the wrong columns.
    path = tmp_path / "old.csv"
    with RowWriter(path) as w:
        w.write(ok_row("a"))
    lines = path.read_text().splitlines()
    header = lines[0].replace(",first_call_s", "")
    path.write_text("\n".join([header, *lines[1:]]) + "\n")
    with pytest.raises(ResultsError, match=r"columns are not this convbench's.*--overwrite"):
        RowWriter(path, resume=True)
    assert path.read_text().splitlines()[0] == header


def test_fresh_writer_truncates_only_with_overwrite(tmp_path):
    path = tmp_path / "r.csv"
    for _ in range(2):
        with RowWriter(path, overwrite=True) as w:
            w.write(ok_row())
    assert len(read_rows(path)) == 1
    with pytest.raises(ResultsError, match="has 1 row: --resume to continue, --overwrite"):
        RowWriter(path)
    assert len(read_rows(path)) == 1


def test_make_row_rejects_unknown_status_and_columns():
    with pytest.raises(ValueError, match="status"):
        make_row(CASE, "m", "direct", "fine")
    with pytest.raises(ValueError, match="unknown result columns"):
        make_row(CASE, "m", "direct", "ok", speed=3)


def test_missing_file(tmp_path):
    with pytest.raises(ResultsError, match="no such results file"):
        read_rows(tmp_path / "nope.csv")


def test_not_a_convbench_csv(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ResultsError, match=r"not a convbench results CSV.*missing columns"):
        read_rows(path)


def test_unknown_schema(tmp_path):
    path = tmp_path / "r.csv"
    with RowWriter(path) as w:
        w.write({**ok_row(), "schema": 99})
    with pytest.raises(ResultsError, match=r"schema \[99\] is unknown"):
        read_rows(path)


def test_sidecar_round_trip_and_bad_json(tmp_path):
    csv_path = tmp_path / "r.csv"
    assert read_meta(csv_path) == {}
    written = write_meta(csv_path, {"cpu": "x", "threads": 1})
    assert written == meta_path(csv_path) == tmp_path / "r.meta.json"
    assert read_meta(csv_path) == {"cpu": "x", "threads": 1, "meta_version": META_VERSION}
    written.write_text("{not json")
    with pytest.raises(ResultsError, match="not valid JSON"):
        read_meta(csv_path)
    assert json.loads('{"a": 1}') == {"a": 1}


def test_malformed_samples_are_a_results_error(tmp_path):
    path = tmp_path / "r.csv"
    with RowWriter(path) as w:
        w.write({**ok_row(), "samples_s": "0.1 fast 0.3"})
    with pytest.raises(ResultsError, match="'samples_s' holds a value that is not a sample list"):
        read_rows(path)
