"""Which differences between two runs' sidecars make their times incomparable.

Pure functions of two sidecar mappings (:func:`convbench.results.read_meta`).
"""

from __future__ import annotations

from collections.abc import Mapping

#: Sidecar keys that differ between any two runs and say nothing about comparability.
_VOLATILE = (
    "time",
    "start",
    "end",
    "finished",
    "duration",
    "elapsed",
    "commit",
    "git",
    "host",
    "filepath",
    "path",
    "argv",
    "output",
    "pid",
    "user",
    "hash",
    "config",
    "methods",  # compared cell by cell instead
    "interrupted",
    "baseline_runs",  # how the baseline was made, not where
    "paired",  # which side of a paired gate a run was (base or head), not where
)


def _flatten(meta: object, prefix: str = "") -> dict[str, str]:
    if isinstance(meta, Mapping):
        out: dict[str, str] = {}
        for k, v in meta.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if (
        isinstance(meta, list)
        and meta
        and all(isinstance(x, Mapping) and "internal_api" in x for x in meta)
    ):
        # threadpoolctl's threadpool_info(): one line per pool, without the install path.
        # OpenBLAS's architecture is the kernel set it picked for this CPU (Haswell, SkylakeX).
        pools = sorted(
            f"{p.get('user_api', '?')}:{p.get('internal_api', '?')} {p.get('version', '?')} "
            f"threads={p.get('num_threads', '?')}"
            + (f" {p['architecture']}" if p.get("architecture") else "")
            for p in meta
        )
        return {prefix.rstrip("."): "; ".join(pools)}
    if isinstance(meta, list):
        return {prefix.rstrip("."): ", ".join(map(str, meta))}
    return {prefix.rstrip("."): str(meta)}


def environment_differences(
    base_meta: Mapping, current_meta: Mapping
) -> list[tuple[str, str, str]]:
    """``(key, baseline value, current value)`` for every comparability-relevant sidecar difference.

    CPU model, family and vector features, core and thread counts, BLAS/FFT backends
    (``threadpool_info``, with the kernels OpenBLAS picked) and library versions are compared;
    timestamps, paths, commits and the config (compared through the cells) are not.
    A key present on one side only is reported with ``"(absent)"`` on the other.
    """
    if not base_meta or not current_meta:
        return []
    fb, fc = _flatten(base_meta), _flatten(current_meta)
    diffs = []
    for key in sorted(fb.keys() | fc.keys()):
        leaf = key.lower()
        if any(word in leaf for word in _VOLATILE):
            continue
        vb, vc = fb.get(key, "(absent)"), fc.get(key, "(absent)")
        if vb != vc:
            diffs.append((key, vb, vc))
    return diffs
