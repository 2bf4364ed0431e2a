"""The six claims of the study, each checked against results rows with explicit thresholds.

The study compared three methods: ``fft`` ("FFT conv"), ``shift-add`` ("special conv") and
``strided-view`` ("stride-view conv"). Every check here looks only at those three, as the study
did; what the other methods change is the report's "could not see" section.

Shared rules (stated in the report too):

- a *cell* is one case (input size, kernel size, depth, stride, padding, dtype);
- where rows were measured under both allocators, only the ``default`` ones count (glibc's own
  malloc: what the study's plain program got), so a cell never mixes the two;
- "fastest of the three" is :func:`convbench.fastest.fastest` over the three methods' rows (median
  wall times of ``ok`` rows), in cells where at least two of the three have one (a method the
  study skipped for being slow counts as not the fastest); a tie counts for the method named;
- a share of cells gives a verdict: >= ``REPRODUCED_SHARE`` reproduced, >= ``PARTLY_SHARE`` partly,
  otherwise not reproduced; no cell to judge gives "no data".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cases import CASE_KEYS, Case
from .fastest import fastest, one_allocator
from .plot import MEMORY_RESOLUTION_BYTES, METRICS, metric_values
from .units import format_bytes

STUDY_METHODS = ("fft", "shift-add", "strided-view")
REPRODUCED_SHARE = 2 / 3
PARTLY_SHARE = 1 / 3
SMALL_KERNEL = 5  # claim 2: "below about 5×5" means max(kh, kw) < 5
NEAR_INPUT = 0.75  # claims 3 and 4: the kernel "approaches the input" when f >= 0.75 n
LOST_EDGE_SHARE = 0.10  # claim 4: shift-add "has no edge" when it wins at most 10% of cells
MEMORY_INPUT = 350  # claim 5: "above input size ≈ 350"
MEMORY_SPIKE = 10.0  # claim 5: 10x the bytes per window element below 350 is "sharp"
MEMORY_SPIKE_PARTLY = 2.0  # claim 5: 2x is partly
LARGE_MARGIN_PCT = 50.0  # claim 6: "close to 100%" is judged as a median advantage >= 50%

VERDICTS = ("reproduced", "partly", "not reproduced", "no data")

CELL = list(CASE_KEYS)


@dataclass(frozen=True)
class Claim:
    """One claim with its verdict and the numbers behind it."""

    number: int
    text: str
    verdict: str
    evidence: str
    rule: str


def verdict_from_share(share: float | None) -> str:
    if share is None or np.isnan(share):
        return "no data"
    if share >= REPRODUCED_SHARE:
        return "reproduced"
    return "partly" if share >= PARTLY_SHARE else "not reproduced"


def study_times(df: pd.DataFrame, depth: int, stride: int) -> pd.DataFrame:
    """Median times of the study's methods, one row per cell of the (depth, stride, pad 0) facet.

    Columns: the study methods present (NaN where not ``ok``), ``n`` (input_h), ``f`` (kernel_h)
    and ``fastest`` (the fastest of the three, ``""`` when undecided). Cells with fewer than two
    study methods measured are dropped.
    """
    rows = df[
        (df["depth"] == depth)
        & (df["stride_h"] == stride)
        & (df["stride_w"] == stride)
        & (df["pad_h"] == 0)
        & (df["pad_w"] == 0)
        & (df["method"].isin(STUDY_METHODS))
        & (df["status"] == "ok")
    ]
    rows = one_allocator(rows)
    if rows.empty:
        return pd.DataFrame(columns=[*STUDY_METHODS, "n", "f", "fastest"])
    table = rows.pivot_table(
        index=CELL, columns="method", values="time_median_s", aggfunc="median"
    ).reindex(columns=list(STUDY_METHODS))
    table = table[table.notna().sum(axis=1) >= 2].copy()
    table["n"] = table.index.get_level_values("input_h")
    table["f"] = table.index.get_level_values("kernel_h")
    best = fastest(rows).set_index(CELL)["method"]
    table["fastest"] = [best.get(key, "") for key in table.index]
    return table


def winner(table: pd.DataFrame) -> pd.Series:
    """The fastest study method per cell (see :func:`study_times`)."""
    return table["fastest"]


def share_won(table: pd.DataFrame, method: str) -> tuple[float, int, int]:
    """(share, wins, cells) of ``method`` being the fastest of the three."""
    if table.empty:
        return float("nan"), 0, 0
    wins = int((winner(table) == method).sum())
    return wins / len(table), wins, len(table)


def _pct(share: float) -> str:
    return "n/a" if np.isnan(share) else f"{100 * share:.0f}%"


def claim_1(df: pd.DataFrame) -> Claim:
    t = study_times(df, 0, 1)
    share, wins, cells = share_won(t, "fft")
    return Claim(
        1,
        "FFT is generally the fastest in 2D with stride 1.",
        verdict_from_share(share),
        f"fft is the fastest of the three in {wins} of {cells} cells ({_pct(share)}).",
        "2D, stride 1, padding 0; share of cells where fft is fastest of the three.",
    )


def claim_2(df: pd.DataFrame) -> Claim:
    t = study_times(df, 0, 1)
    small = t[(t["f"] < SMALL_KERNEL)]
    share, wins, cells = share_won(small, "shift-add")
    rest, rest_wins, rest_cells = share_won(t[t["f"] >= SMALL_KERNEL], "shift-add")
    return Claim(
        2,
        "Shift-add (“special conv”) wins for very small kernels (below about 5×5).",
        verdict_from_share(share),
        f"shift-add is fastest in {wins} of {cells} cells with f < {SMALL_KERNEL} "
        f"({_pct(share)}); with f ≥ {SMALL_KERNEL}: {rest_wins} of {rest_cells} ({_pct(rest)}).",
        f"2D, stride 1; kernels f < {SMALL_KERNEL}; share where shift-add is fastest of the three.",
    )


def claim_3(df: pd.DataFrame) -> Claim:
    t = study_times(df, 0, 1)
    near = t[t["f"] >= NEAR_INPUT * t["n"]]
    share, wins, cells = share_won(near, "strided-view")
    return Claim(
        3,
        "The strided view wins when the kernel approaches the input size.",
        verdict_from_share(share),
        f"strided-view is fastest in {wins} of {cells} cells with f ≥ {NEAR_INPUT:g}·n "
        f"({_pct(share)}).",
        f"2D, stride 1; cells with f ≥ {NEAR_INPUT:g}·n; share where strided-view is fastest.",
    )


def _beats(table: pd.DataFrame, fast: str, slow: str) -> tuple[float, int, int]:
    both = table[[fast, slow]].dropna()
    if both.empty:
        return float("nan"), 0, 0
    wins = int((both[fast] < both[slow]).sum())
    return wins / len(both), wins, len(both)


def claim_4(df: pd.DataFrame) -> Claim:
    t = study_times(df, 5, 2)
    sa_share, sa_wins, cells = share_won(t, "shift-add")
    small = _beats(t[t["f"] <= SMALL_KERNEL], "strided-view", "fft")
    large = _beats(t[t["f"] >= NEAR_INPUT * t["n"]], "strided-view", "fft")
    parts = [
        None if cells == 0 else sa_share <= LOST_EDGE_SHARE,
        None if small[2] == 0 else small[0] >= REPRODUCED_SHARE,
        None if large[2] == 0 else large[0] >= REPRODUCED_SHARE,
    ]
    judged = [p for p in parts if p is not None]
    if not judged:
        verdict = "no data"
    elif all(judged) and len(judged) == 3:
        verdict = "reproduced"
    else:
        verdict = "partly" if any(judged) else "not reproduced"
    return Claim(
        4,
        "With depth 5 and stride 2, shift-add loses its edge and the strided view beats FFT "
        "for small and large kernels.",
        verdict,
        f"shift-add fastest of the three in {sa_wins} of {cells} cells ({_pct(sa_share)}); "
        f"strided-view < fft in {small[1]} of {small[2]} cells with f ≤ {SMALL_KERNEL} "
        f"({_pct(small[0])}) and {large[1]} of {large[2]} with f ≥ {NEAR_INPUT:g}·n "
        f"({_pct(large[0])}).",
        f"depth 5, stride 2; three parts: shift-add wins ≤ {LOST_EDGE_SHARE:.0%} of cells, "
        f"strided-view beats fft in ≥ {REPRODUCED_SHARE:.0%} of small-kernel (f ≤ {SMALL_KERNEL}) "
        f"and of large-kernel (f ≥ {NEAR_INPUT:g}·n) cells; all three: reproduced, some: partly.",
    )


def view_peaks(df: pd.DataFrame) -> pd.DataFrame:
    """The strided view's ``ok`` memory peaks of the depth-5, stride-2 facet (padding 0).

    Columns: ``n``, ``f`` (input_h, kernel_h), ``kernel`` ((kh, kw)), ``peak`` (bytes: the larger of
    ``peak_bytes`` and ``tracemalloc_bytes``; rows with neither are left out) and ``elements``, the
    size of the windowed view, Ho·Wo·kh·kw·C, that its memory should grow with.
    """
    rows = df[
        (df["depth"] == 5)
        & (df["stride_h"] == 2)
        & (df["stride_w"] == 2)
        & (df["pad_h"] == 0)
        & (df["pad_w"] == 0)
        & (df["method"] == "strided-view")
        & (df["status"] == "ok")
    ]
    rows = one_allocator(rows)
    peak = metric_values(rows, METRICS["memory"])
    rows = rows[peak > 0].assign(peak=peak[peak > 0])
    cases = [Case.from_key(r) for r in rows[CELL].fillna(0).to_dict("records")]
    elements = [
        c.output_size[0] * c.output_size[1] * c.kernel_size[0] * c.kernel_size[1] * c.channels
        for c in cases
    ]
    return pd.DataFrame(
        {
            "n": rows["input_h"].astype(int).to_numpy(),
            "f": rows["kernel_h"].astype(int).to_numpy(),
            "kernel": [c.kernel_size for c in cases],
            "peak": rows["peak"].to_numpy(dtype=float),
            "elements": np.array(elements, dtype=float),
        }
    )


def _resolved(peak: float) -> float:
    # Figures under the resolution say nothing about their size: count them as the resolution.
    return max(peak, MEMORY_RESOLUTION_BYTES)


def _peak_text(peak: float) -> str:
    if peak >= MEMORY_RESOLUTION_BYTES:
        return human_bytes(peak)
    return f"{human_bytes(peak)} (counted as {human_bytes(MEMORY_RESOLUTION_BYTES)})"


def claim_5(df: pd.DataFrame) -> Claim:
    text = "The strided view's memory peaks sharply above input size ≈ 350."
    rule = (
        f"depth 5, stride 2: the strided view's largest peak at n > {MEMORY_INPUT} against its "
        f"peak with the same kernel at the largest n ≤ {MEMORY_INPUT}, per element of the "
        f"windowed view (Ho·Wo·kh·kw·C; peaks under {MEMORY_RESOLUTION_BYTES // 1024} KiB count "
        f"as that): ≥ {MEMORY_SPIKE:g}× reproduced, ≥ {MEMORY_SPIKE_PARTLY:g}× partly."
    )
    v = view_peaks(df)
    above, below = v[v["n"] > MEMORY_INPUT], v[v["n"] <= MEMORY_INPUT]
    if above.empty or below.empty:
        side = f"n > {MEMORY_INPUT}" if above.empty else f"n ≤ {MEMORY_INPUT}"
        return Claim(5, text, "no data", f"no strided-view peaks at {side}.", rule)
    paired = above[above["kernel"].isin(set(below["kernel"]))]
    if paired.empty:
        return Claim(
            5,
            text,
            "no data",
            f"no kernel size has strided-view peaks on both sides of n = {MEMORY_INPUT}.",
            rule,
        )
    top = paired.loc[paired["peak"].idxmax()]
    same = below[below["kernel"] == top["kernel"]]
    near = same.loc[same.sort_values(["n", "peak"]).index[-1]]
    grows = _resolved(top["peak"]) / _resolved(near["peak"])
    ratio = grows / (top["elements"] / near["elements"])
    if ratio >= MEMORY_SPIKE:
        verdict = "reproduced"
    else:
        verdict = "partly" if ratio >= MEMORY_SPIKE_PARTLY else "not reproduced"
    largest = below.loc[below["peak"].idxmax()]
    return Claim(
        5,
        text,
        verdict,
        f"strided-view peaks at {_peak_text(top['peak'])} (n={top['n']}, f={top['f']}); "
        f"at n={near['n']}, f={near['f']}: {_peak_text(near['peak'])}, "
        f"so {grows:.1f}× the bytes for "
        f"{top['elements'] / near['elements']:.1f}× the view's elements: {ratio:.1f}× per element. "
        f"Its largest peak at n ≤ {MEMORY_INPUT}: {human_bytes(largest['peak'])} "
        f"(n={largest['n']}, f={largest['f']}).",
        rule,
    )


def claim_6(df: pd.DataFrame) -> Claim:
    t = study_times(df, 10, 5)
    text = (
        "With depth 10 and stride 5, the strided view beats FFT for larger inputs, "
        "by close to 100%."
    )
    if t.empty:
        return Claim(6, text, "no data", "no depth-10 stride-5 cells.", "")
    cut = float(np.median(np.unique(t["n"])))
    large = t[t["n"] >= cut][["strided-view", "fft"]].dropna()
    share, wins, cells = _beats(large, "strided-view", "fft")
    advantage = (
        float(np.median((large["fft"] / large["strided-view"] - 1) * 100)) if cells else np.nan
    )
    if np.isnan(share):
        verdict = "no data"
    elif share >= REPRODUCED_SHARE and advantage >= LARGE_MARGIN_PCT:
        verdict = "reproduced"
    elif share >= PARTLY_SHARE:
        verdict = "partly"
    else:
        verdict = "not reproduced"
    return Claim(
        6,
        text,
        verdict,
        f"for n ≥ {cut:g}, strided-view < fft in {wins} of {cells} cells ({_pct(share)}); "
        f"median fft time / strided-view time − 1 = {advantage:+.0f}%.",
        f"depth 10, stride 5; inputs at or above the median swept n; reproduced: strided-view "
        f"faster in ≥ {REPRODUCED_SHARE:.0%} of cells and median advantage ≥ "
        f"{LARGE_MARGIN_PCT:g}%; partly: faster in ≥ {PARTLY_SHARE:.0%}.",
    )


CLAIMS: tuple[Callable[[pd.DataFrame], Claim], ...] = (
    claim_1,
    claim_2,
    claim_3,
    claim_4,
    claim_5,
    claim_6,
)


def check_claims(df: pd.DataFrame) -> list[Claim]:
    """Every claim's verdict on the rows of ``df`` (all CSVs concatenated)."""
    return [check(df) for check in CLAIMS]


def human_bytes(n: float) -> str:
    """``1.5 GiB``-style text of a byte count (``n/a`` when unknown)."""
    return format_bytes(n, missing="n/a")
