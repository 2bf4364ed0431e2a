"""The six claims of the study, each checked against results rows with explicit thresholds.

The study compared three methods: ``fft`` ("FFT conv"), ``shift-add`` ("special conv") and
``strided-view`` ("stride-view conv"). Every check here looks only at those three, as the study
did; what the other methods change is the report's "could not see" section.

Shared rules (stated in the report too):

- a *cell* is one case (input size, kernel size, depth, stride, padding, dtype);
- "fastest of the three" compares median wall times of ``ok`` rows, in cells where at least two of
  the three have one (a method the study skipped for being slow counts as not the fastest);
- a share of cells gives a verdict: >= ``REPRODUCED_SHARE`` reproduced, >= ``PARTLY_SHARE`` partly,
  otherwise not reproduced; no cell to judge gives "no data".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cases import CASE_KEYS

STUDY_METHODS = ("fft", "shift-add", "strided-view")
REPRODUCED_SHARE = 2 / 3
PARTLY_SHARE = 1 / 3
SMALL_KERNEL = 5  # claim 2: "below about 5×5" means max(kh, kw) < 5
NEAR_INPUT = 0.75  # claims 3 and 4: the kernel "approaches the input" when f >= 0.75 n
LOST_EDGE_SHARE = 0.10  # claim 4: shift-add "has no edge" when it wins at most 10% of cells
MEMORY_INPUT = 350  # claim 5: "above input size ≈ 350"
MEMORY_SPIKE = 10.0  # claim 5: a peak 10x fft's on the same cell is "sharp" (2x: partly)
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

    Columns: the study methods present (NaN where not ``ok``), plus ``n`` (input_h) and ``f``
    (kernel_h). Cells with fewer than two study methods measured are dropped.
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
    if rows.empty:
        return pd.DataFrame(columns=[*STUDY_METHODS, "n", "f"])
    table = rows.pivot_table(
        index=CELL, columns="method", values="time_median_s", aggfunc="median"
    ).reindex(columns=list(STUDY_METHODS))
    table = table[table.notna().sum(axis=1) >= 2].copy()
    table["n"] = table.index.get_level_values("input_h")
    table["f"] = table.index.get_level_values("kernel_h")
    return table


def winner(table: pd.DataFrame) -> pd.Series:
    """The fastest study method per cell."""
    return table[list(STUDY_METHODS)].idxmin(axis=1, skipna=True)


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


def claim_5(df: pd.DataFrame) -> Claim:
    rows = df[(df["depth"] == 5) & (df["stride_h"] == 2) & (df["status"] == "ok")]
    rows = rows.assign(peak=pd.to_numeric(rows["peak_bytes"], errors="coerce")).dropna(
        subset=["peak"]
    )
    big = rows[rows["input_h"] > MEMORY_INPUT]
    by_method = {
        m: big[big["method"] == m].set_index(CELL)["peak"] for m in ("strided-view", "fft")
    }
    both = pd.DataFrame(by_method).dropna()
    rule = (
        f"depth 5, stride 2, inputs n > {MEMORY_INPUT}: strided-view's largest peak vs fft's peak "
        f"on the same cell; ≥ {MEMORY_SPIKE:g}× reproduced, ≥ 2× partly."
    )
    text = "The strided view's memory peaks sharply above input size ≈ 350."
    if both.empty:
        return Claim(
            5, text, "no data", f"no strided-view and fft peaks at n > {MEMORY_INPUT}.", rule
        )
    top = both["strided-view"].idxmax()
    where = dict(zip(CELL, top, strict=True))
    sv_peak, fft_peak = both.loc[top, "strided-view"], both.loc[top, "fft"]
    ratio = sv_peak / fft_peak
    small = rows[(rows["method"] == "strided-view") & (rows["input_h"] <= MEMORY_INPUT)]
    below = (
        f"; its largest at n ≤ {MEMORY_INPUT}: {human_bytes(small['peak'].max())}"
        if len(small)
        else ""
    )
    verdict = (
        "reproduced" if ratio >= MEMORY_SPIKE else "partly" if ratio >= 2 else "not reproduced"
    )
    return Claim(
        5,
        text,
        verdict,
        f"strided-view peaks at {human_bytes(sv_peak)} (n={where['input_h']}, "
        f"f={where['kernel_h']}), {ratio:.1f}× fft's {human_bytes(fft_peak)} on that cell{below}.",
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
    """``1.5 GiB``-style text of a byte count."""
    if n is None or np.isnan(n):
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover
