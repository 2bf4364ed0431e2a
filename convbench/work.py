"""The cells of a sweep, as a plain list: what the runner measures and a shard filters.

Pure data: no measuring, no config parsing. A cell is a (case, allocator, method) triple; the
list is ordered case by case, then allocator, then method as configured, and depends only on
the config, so every shard of a sweep computes the same list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .cases import Case
from .results import row_key

if TYPE_CHECKING:  # the config module is only needed for its types here
    from .config import MethodEntry, Sweep


@dataclass(frozen=True)
class WorkItem:
    """One cell of the sweep: a case, the allocator it is timed under, and a method entry."""

    case: Case
    entry: MethodEntry
    allocator: str = "default"

    def key(self) -> tuple:
        """The :func:`convbench.results.row_key` its row will have."""
        return row_key({"method": self.entry.name, **self.case.key(), "allocator": self.allocator})


def work_items(sweep: Sweep) -> list[WorkItem]:
    """Every cell in a deterministic order: case by case, allocator, methods as configured."""
    return [
        WorkItem(case, entry, allocator)
        for case in sweep.cases
        for allocator in sweep.allocators
        for entry in sweep.methods
    ]


def only_keys(items: Sequence[WorkItem], keys: Iterable[tuple] | None) -> list[WorkItem]:
    """The items whose row key is in ``keys`` (all of them for ``None``), order kept."""
    if keys is None:
        return list(items)
    wanted = set(keys)
    return [it for it in items if it.key() in wanted]


def facet(case: Case) -> tuple:
    """Cells of one facet differ only in input and kernel size."""
    return (case.depth, case.stride, case.padding, case.dtype, case.batch, case.filters)


def is_larger(case: Case, than: Case) -> bool:
    """Whether ``case`` costs every method at least as much as ``than``.

    Same facet, an input at least as large in h and w (what FFT methods pay for) and at least as
    many multiply-adds ``Ho * Wo * kh * kw * C`` (what direct methods pay for). A larger kernel
    alone is not enough: as it approaches the input the outputs, and the direct work, shrink.
    """
    return (
        facet(case) == facet(than)
        and all(a >= b for a, b in zip(case.input_size, than.input_size, strict=True))
        and case.flops >= than.flops
    )
