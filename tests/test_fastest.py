"""`convbench.fastest`: the one rule that names a cell's fastest method."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from convbench.cases import Case
from convbench.fastest import COLUMNS, fastest
from convbench.results import make_row

SMALL = Case((16, 16), (3, 3))
LARGE = Case((32, 32), (5, 5))


def row(method, time, *, case=SMALL, status="ok", family="direct", spread=None, samples=None,
        allocator="default", cpu=None):  # fmt: skip
    fields = {"time_median_s": time, "cpu_median_s": cpu}
    if spread is not None:
        fields["process_spread"] = spread
    row = make_row(case, method, family, status, allocator=allocator, **fields)
    row["samples_s"] = [] if samples is None else list(samples)
    return row


def frame(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for column in ("time_median_s", "cpu_median_s", "process_spread"):
        df[column] = pd.to_numeric(df[column], errors="coerce")
    return df


def only(df: pd.DataFrame) -> dict:
    (cell,) = fastest(df).to_dict("records")
    return cell


def test_the_least_median_wins_and_a_clear_margin_is_decided():
    cell = only(frame([row("a", 2e-3), row("b", 1e-3), row("c", 3e-3)]))
    assert (cell["method"], cell["runner_up"]) == ("b", "a")
    assert cell["margin"] == 2.0 and cell["decided"] and not cell["tie"]
    assert list(fastest(frame([row("a", 1e-3)])).columns)[-len(COLUMNS) :] == list(COLUMNS)


def test_only_ok_rows_compete_and_a_dispatcher_is_never_named():
    cell = only(
        frame([row("auto", 1e-4, family="auto"), row("a", 2e-3), row("b", 1e-3, status="wrong")])
    )
    assert cell["method"] == "a" and cell["runner_up"] == "" and cell["decided"]
    alone = only(frame([row("auto", 1e-4, family="auto")]))
    assert alone["method"] == "" and not alone["decided"] and not alone["undecided"]


def test_a_runner_up_within_the_process_spread_is_a_tie():
    cell = only(frame([row("a", 1.00e-3, spread=1.02), row("b", 1.05e-3, spread=1.08)]))
    assert cell["method"] == "a" and cell["tie"] and not cell["decided"]
    clear = only(frame([row("a", 1.00e-3, spread=1.02), row("b", 1.20e-3, spread=1.08)]))
    assert clear["decided"]


def test_overlapping_samples_are_a_tie():
    rng = np.random.default_rng(0)
    same = [row(m, 1e-3, samples=1e-3 * (1 + 0.05 * rng.uniform(-1, 1, 20))) for m in "ab"]
    assert only(frame(same))["tie"]
    apart = [row("a", 1e-3, samples=[1e-3] * 10), row("b", 1.01e-3, samples=[1.01e-3] * 10)]
    assert only(frame(apart))["decided"]


def test_an_ok_row_without_a_time_leaves_the_cell_undecided():
    cell = only(frame([row("a", 1e-3), row("b", None)]))
    assert cell["undecided"] and cell["method"] == "" and not cell["decided"]


def test_cpu_time_ranks_with_wall_time_where_a_row_has_none():
    rows = frame([row("a", 1e-3, cpu=3e-3), row("b", 2e-3)])
    assert only(rows)["method"] == "a"
    (cell,) = fastest(rows, cpu=True).to_dict("records")
    assert cell["method"] == "b" and cell["time_s"] == 2e-3


def test_cells_are_split_by_case_allocator_and_extra_keys():
    rows = frame([row("a", 1e-3), row("b", 2e-3), row("b", 1e-3, case=LARGE),
                  row("a", 2e-3, case=LARGE), row("b", 1e-4, allocator="steady")])  # fmt: skip
    out = fastest(rows)
    assert len(out) == 3
    assert set(zip(out["allocator"], out["method"], strict=True)) == {
        ("default", "a"), ("default", "b"), ("steady", "b")
    }  # fmt: skip
    machines = fastest(rows.assign(machine=["x", "x", "y", "y", "y"]), by=["machine"])
    assert list(machines["machine"]) == ["x", "y", "y"]


def test_no_rows_give_an_empty_table_whose_flags_select_rows():
    empty = fastest(frame([row("a", 1e-3)]).iloc[:0])
    assert empty.empty and list(empty[empty["decided"]].columns) == list(empty.columns)


times = st.floats(min_value=1e-6, max_value=1.0, allow_nan=False)
spreads = st.one_of(st.none(), st.floats(min_value=1.0, max_value=2.0))
methods = st.sampled_from(["a", "b", "c", "d", "auto"])


@st.composite
def cells(draw):
    names = draw(st.lists(methods, min_size=1, max_size=5, unique=True))
    return [
        row(m, draw(times), spread=draw(spreads), family="auto" if m == "auto" else "direct",
            status=draw(st.sampled_from(["ok", "ok", "ok", "skipped"])),
            case=draw(st.sampled_from([SMALL, LARGE])))
        for m in names
    ]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(cells(), st.randoms(use_true_random=False))
def test_permuting_rows_does_not_change_the_answer(rows, rnd):
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    pd.testing.assert_frame_equal(fastest(frame(rows)), fastest(frame(shuffled)))


@settings(max_examples=60, deadline=None)
@given(cells())
def test_the_named_method_is_ok_concrete_and_no_slower_than_any_other(rows):
    df = frame(rows)
    for cell in fastest(df).to_dict("records"):
        assert cell["method"] != "auto" and cell["runner_up"] != "auto"
        mine = df[(df["input_h"] == cell["input_h"]) & (df["status"] == "ok")]
        mine = mine[mine["family"] != "auto"]
        if mine.empty:
            assert cell["method"] == "" and not cell["decided"]
            continue
        assert cell["time_s"] == mine["time_median_s"].min()
        assert cell["decided"] == (not cell["tie"])
        if cell["decided"] and cell["runner_up"]:
            two = mine[mine["method"].isin([cell["method"], cell["runner_up"]])]
            assert cell["margin"] > max(1.0, two["process_spread"].max(skipna=True) or 1.0)


@settings(max_examples=60, deadline=None)
@given(times, st.floats(min_value=1.0, max_value=2.0), st.floats(min_value=0.0, max_value=0.99))
def test_a_runner_up_within_the_noise_is_never_decided(best, spread, share):
    runner_up = best * (1 + (spread - 1) * share)
    cell = only(frame([row("a", best, spread=spread), row("b", runner_up, spread=1.0)]))
    assert cell["tie"] and not cell["decided"]


def test_machines_never_name_a_dispatcher_and_a_tie_is_no_difference():
    from convbench.machines import fastest_by_machine

    rows = frame([row("auto", 1e-4, family="auto"), row("a", 1e-3), row("b", 2e-3)])
    tied = frame([row("a", 1.00e-3, spread=1.2), row("b", 0.99e-3, spread=1.2)])
    table = fastest_by_machine(pd.concat([rows.assign(machine="X"), tied.assign(machine="Y")]))
    assert list(table["X"]) == ["a"] and list(table["Y"]) == ["b"]
    assert list(table["tied"]) == [["Y"]] and not table["differ"].any()
