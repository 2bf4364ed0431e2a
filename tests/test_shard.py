"""Sharding a sweep: the partition, the plan, and running shards that merge into one run."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from convbench.cli import app
from convbench.config import load_sweep_text
from convbench.errors import ConfigError
from convbench.merge import expected_keys
from convbench.results import RowWriter, make_row, row_key
from convbench.runner import work_items
from convbench.shard import (
    CELL_OVERHEAD_S,
    MEMORY_PASS_OVERHEAD_S,
    WORKER_OVERHEAD_S,
    costs_from_results,
    parse_shard,
    partition,
    plan_sweep,
    predict_cell_s,
)

TINY = """
input_size: [6, 9]
kernel_size: [2, 3]
depth: [0, 2]
methods: [shift-add, fft, im2col-gemm]
skip:
  - {methods: [fft], depth: 2}
memory_pass: false
time_budget_s: 1
seed: 3
timing: {warmup: 0, min_sample_s: 0.0001, repeats: 2, min_repeats: 1}
"""


@pytest.fixture(scope="module")
def tiny():
    return load_sweep_text(TINY, name="tiny")


# --------------------------------------------------------------------------- --shard K/N


@pytest.mark.parametrize(
    ("text", "expected"), [("1/1", (1, 1)), ("2/3", (2, 3)), (" 4 / 4", (4, 4))]
)
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0", "-1/2", "1/2/3"])
def test_parse_shard_refuses_bad_text(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--shard: expected K/N"):
        parse_shard(text)


# --------------------------------------------------------------------------- partition

costs_lists = st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=0, max_size=60)


@settings(max_examples=60, deadline=None)
@given(costs=costs_lists, count=st.integers(min_value=1, max_value=8))
def test_partition_puts_every_item_in_exactly_one_shard(costs: list[float], count: int) -> None:
    shard_of = partition(costs, count)
    assert len(shard_of) == len(costs)
    assert all(1 <= s <= count for s in shard_of)
    assert partition(list(costs), count) == shard_of  # same input, same partition
    loads = [
        sum(c for c, s in zip(costs, shard_of, strict=True) if s == k) for k in range(1, count + 1)
    ]
    if costs:
        # The greedy bound: no shard exceeds the mean load by more than the largest item.
        assert max(loads) <= sum(costs) / count + max(costs) + 1e-9


def test_partition_balances_and_breaks_ties_by_order() -> None:
    assert partition([1.0] * 6, 3) == [1, 2, 3, 1, 2, 3]
    # Longest first: 8 -> 1, 5 -> 2, 4 -> 3, the second 4 -> 3 (load 4), 3 -> 2 (load 5): 8/8/8.
    assert partition([5.0, 8.0, 4.0, 3.0, 4.0], 3) == [2, 1, 3, 2, 3]
    with pytest.raises(ValueError, match="count"):
        partition([1.0], 0)


# --------------------------------------------------------------------------- plan


def test_plan_covers_the_sweep_once_and_is_deterministic(tiny) -> None:
    plans = [plan_sweep(tiny, 3) for _ in range(2)]
    keys = [it.key() for it in work_items(tiny)]
    assert plans[0] == plans[1] and plans[0].fingerprint() == plans[1].fingerprint()
    shards = [plans[0].keys_of(k) for k in (1, 2, 3)]
    assert sum(len(s) for s in shards) == len(keys) == len(set().union(*shards))
    assert set().union(*shards) == set(keys)
    assert all(shards), "every shard gets work"
    assert plan_sweep(tiny, 2).fingerprint() != plans[0].fingerprint()


def test_skipped_cells_are_predicted_cheap_and_big_cells_dear(tiny) -> None:
    items = {(it.entry.name, it.case.input_size, it.case.depth): it for it in work_items(tiny)}
    skipped = items[("fft", (9, 9), 2)]
    measured = items[("fft", (9, 9), 0)]
    assert predict_cell_s(skipped, tiny) == CELL_OVERHEAD_S
    assert predict_cell_s(measured, tiny) > CELL_OVERHEAD_S
    big = load_sweep_text(TINY.replace("[6, 9]", "[6, 900]"), name="big")
    big_items = {(it.entry.name, it.case.input_size, it.case.depth): it for it in work_items(big)}
    small = items[("shift-add", (6, 6), 2)]
    assert predict_cell_s(big_items[("shift-add", (900, 900), 2)], big) > predict_cell_s(
        small, tiny
    )


def test_costs_from_a_previous_result_drive_the_plan(tmp_path: Path, tiny) -> None:
    items = work_items(tiny)
    slow = items[0]
    prev = tmp_path / "prev.csv"
    with RowWriter(prev) as w:
        w.write(
            make_row(
                slow.case, slow.entry.name, "direct", "ok", time_median_s=1.0, loops=1, repeats=8
            )
        )
    costs = costs_from_results(prev)
    assert costs[slow.key()] == pytest.approx(
        CELL_OVERHEAD_S + 10.0 + WORKER_OVERHEAD_S + MEMORY_PASS_OVERHEAD_S
    )
    plan = plan_sweep(tiny, 2, costs, cost_source=str(prev))
    # The 10 s cell outweighs everything else: it is alone in its shard.
    alone = plan.shard_of[0]
    assert plan.keys_of(alone) == {slow.key()}


def test_plan_command_prints_the_partition(tmp_path: Path) -> None:
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    result = CliRunner().invoke(app, ["plan", str(cfg), "--shards", "3"])
    assert result.exit_code == 0, result.output
    n = len(work_items(load_sweep_text(TINY)))
    assert f"{n} cells in 3 shards, costs from model" in result.output
    for k in (1, 2, 3):
        assert f"shard {k}/3:" in result.output
    assert result.output.count(" on ") == n  # every cell listed once
    bad = CliRunner().invoke(
        app, ["plan", str(cfg), "--shards", "2", "--costs", str(tmp_path / "no.csv")]
    )
    assert bad.exit_code == 2 and "no such results file" in bad.output


def test_row_keys_of_the_plan_are_results_row_keys(tiny) -> None:
    it = work_items(tiny)[0]
    row = make_row(it.case, it.entry.name, "direct", "ok")
    assert row_key(row) in plan_sweep(tiny, 1).keys_of(1)


# --------------------------------------------------------------------------- run --shard, merge


def _run(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


def _keys(path: Path) -> list[tuple]:
    from convbench.results import read_rows

    return [row_key(r) for r in read_rows(path).to_dict("records")]


def test_three_shards_merge_into_what_one_run_writes(tmp_path: Path) -> None:
    from convbench.results import COLUMNS, read_meta, read_rows

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    full = tmp_path / "full.csv"
    assert _run("run", cfg, "-o", full, "--no-progress").exit_code == 0
    shards = [tmp_path / f"s{k}.csv" for k in (1, 2, 3)]
    for k, path in enumerate(shards, start=1):
        result = _run("run", cfg, "--shard", f"{k}/3", "-o", path, "--no-progress")
        assert result.exit_code == 0, result.output
        meta = read_meta(path)
        assert meta["shard"]["index"] == k and meta["shard"]["count"] == 3
        assert meta["config_hash"] == read_meta(full)["config_hash"]
    per_shard = [set(_keys(p)) for p in shards]
    assert all(per_shard) and sum(map(len, per_shard)) == len(set().union(*per_shard))
    merged = tmp_path / "merged.csv"
    result = _run("merge", merged, *shards)
    assert result.exit_code == 0, result.output
    assert "24 of 24 cells, 0 missing, 0 duplicated" in result.output
    # the same rows; a run writes them as they finish, a merge in the config's cell order
    assert sorted(_keys(merged)) == sorted(_keys(full))
    assert _keys(merged) == expected_keys(read_meta(full))
    assert merged.read_text().splitlines()[0] == ",".join(COLUMNS)
    one, many = (dict(zip(_keys(p), read_rows(p).status, strict=True)) for p in (full, merged))
    assert one == many
    assert "shard" not in read_meta(merged)


def test_an_interrupted_shard_resumes_and_merges_cleanly(tmp_path: Path) -> None:
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    first, second = tmp_path / "s1.csv", tmp_path / "s2.csv"
    for k, path in ((1, first), (2, second)):
        assert _run("run", cfg, "--shard", f"{k}/2", "-o", path, "--no-progress").exit_code == 0
    done = _keys(first)
    # Killed after two rows, in the middle of writing the third.
    lines = first.read_text().splitlines(keepends=True)
    first.write_text("".join(lines[:3]) + lines[3][:20])
    wrong = _run("run", cfg, "--shard", "2/2", "-o", first, "--resume", "--no-progress")
    assert wrong.exit_code == 2 and "not shard 2/2" in wrong.output
    again = _run("run", cfg, "--shard", "1/2", "-o", first, "--resume", "--no-progress")
    assert again.exit_code == 0, again.output
    assert "(2 already there)" in again.output
    assert sorted(_keys(first)) == sorted(done)
    result = _run("merge", tmp_path / "merged.csv", first, second)
    assert result.exit_code == 0, result.output
    assert "0 missing, 0 duplicated" in result.output
