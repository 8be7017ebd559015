"""Threshold explorer: a Streamlit component that redraws a threshold's counts, metrics, confusion
matrix and charts in the browser while the threshold is dragged over the score histogram.

The browser gets the counts at a few thousand threshold stops (vae_core.tables.fraud_analysis.stop_table)
as little-endian typed arrays in one bytes argument, and derives every number from them with the
arithmetic ThresholdSweep uses, so what it shows while dragging is what the server computes after
the release. Python hears about the threshold only on release (or a pause after arrow keys).

    from dashboard.components.threshold_explorer import explorer_args, threshold_explorer

    threshold_explorer(explorer_args(...), key="thr_explorer", on_change=released)
    # in `released`: st.session_state["thr_explorer"] == {"threshold": float, "seq": int, "instance": str}
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dashboard.presentation import NO_ALERTS

import numpy as np

from dashboard.components import declared_once

if TYPE_CHECKING:
    from vae_core.tables.bootstrap import Intervals
    from vae_core.tables.fraud_analysis import ScoreSummary, StopTable

FRONTEND = Path(__file__).resolve().parent / "frontend"
_DTYPES = {"f8": np.dtype("<f8"), "f4": np.dtype("<f4"), "i4": np.dtype("<i4")}


def pack(arrays: dict[str, tuple[str, np.ndarray]]) -> tuple[bytes, dict[str, list], str]:
    """Arrays {name: (dtype code "f8" | "f4" | "i4", values)} → (one buffer, {name: [code, byte offset,
    length]}, a digest of the buffer). Each array starts at a multiple of 8 bytes."""
    chunks, layout, offset = [], {}, 0
    for name, (code, values) in arrays.items():
        raw = np.ascontiguousarray(np.asarray(values).reshape(-1), dtype=_DTYPES[code]).tobytes()
        layout[name] = [code, offset, len(raw) // _DTYPES[code].itemsize]
        padding = (-len(raw)) % 8
        chunks.append(raw + b"\0" * padding)
        offset += len(raw) + padding
    data = b"".join(chunks)
    return data, layout, hashlib.blake2b(data, digest_size=10).hexdigest()


def unpack(data: bytes, layout: dict[str, list]) -> dict[str, np.ndarray]:
    """The inverse of `pack` (what the browser does): {name: array}."""
    return {name: np.frombuffer(data, _DTYPES[code], count=length, offset=offset)
            for name, (code, offset, length) in layout.items()}


def _interval_lists(intervals: dict[str, tuple[float, float] | None]) -> dict[str, list[float] | None]:
    return {name: None if value is None else [float(value[0]), float(value[1])] for name, value in intervals.items()}


def explorer_args(*, table: StopTable, summary: ScoreSummary, current: dict[str, Any], log_x: bool, log_y: bool,
                  names: tuple[str, str], review_fee: float, cost_note: str | None, prevalence: float | None,
                  per: int, bands: Intervals | None = None, band_at: np.ndarray | None = None,
                  model_threshold: float | None = None, best: tuple[float, float] | None = None,
                  flag_nothing: float | None = None, baselines: dict[str, dict[str, np.ndarray]] | None = None,
                  baseline_metrics: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """The component's arguments (JSON, plus the packed arrays under "data").

    table: counts at the stops; summary: histograms and curves; current: the threshold in force and
    its counts {"threshold", "alerts", "fn", "missed", "intervals": {metric: [low, high] | None}};
    names: (normal, positive) class names; review_fee and cost_note ("its amount", "€100 each", or
    None when a miss's cost is unknown); prevalence: the estimate's target prevalence (None: no
    estimate); per: the estimate's volume; bands: bootstrap intervals at the stops `band_at` (indices,
    with ROC and PR bands); best: (threshold, cost) of the minimum; baselines: {name: scorer_curves}.
    """
    labelled = table.fn is not None
    arrays: dict[str, tuple[str, np.ndarray]] = {
        "stops": ("f8", table.thresholds), "alerts": ("i4", table.alerts),
        "hist_edges": ("f8", summary.hist_edges), "hist_counts": ("i4", summary.hist_counts),
        "hist_log_edges": ("f8", summary.hist_log_edges), "hist_log_counts": ("i4", summary.hist_log_counts),
    }
    if labelled:
        arrays["fn"] = ("i4", table.fn)
    if table.missed is not None:
        arrays["missed"] = ("f8", table.missed)
    if summary.roc_fpr is not None:
        arrays |= {"roc_fpr": ("f4", summary.roc_fpr), "roc_tpr": ("f4", summary.roc_tpr),
                   "pr_recall": ("f4", summary.pr_recall), "pr_precision": ("f4", summary.pr_precision)}
    band_names: list[str] = []
    if bands is not None and band_at is not None:
        arrays["band_at"] = ("i4", band_at)
        for metric in bands.low:
            arrays[f"band_{metric}_low"] = ("f4", bands.low[metric])
            arrays[f"band_{metric}_high"] = ("f4", bands.high[metric])
            band_names.append(metric)
        if bands.roc is not None:
            arrays |= {"roc_band_fpr": ("f4", bands.roc["fpr"]), "roc_band_low": ("f4", bands.roc["low"]),
                       "roc_band_high": ("f4", bands.roc["high"])}
        if bands.pr is not None:
            arrays |= {"pr_band_recall": ("f4", bands.pr["recall"]), "pr_band_low": ("f4", bands.pr["low"]),
                       "pr_band_high": ("f4", bands.pr["high"])}
    baseline_list = []
    for i, (name, curves) in enumerate((baselines or {}).items()):
        for part in ("fpr", "tpr", "recall", "precision"):
            arrays[f"baseline{i}_{part}"] = ("f4", curves[part])
        baseline_list.append({"name": name, **((baseline_metrics or {}).get(name, {}))})
    data, layout, data_id = pack(arrays)
    current = dict(current)
    if current.get("intervals") is not None:
        current["intervals"] = _interval_lists(current["intervals"])
    return {
        "data": data, "layout": layout, "data_id": data_id,
        "n": int(summary.n), "n_pos": None if summary.n_fraud is None else int(summary.n_fraud),
        "names": list(names), "review_fee": float(review_fee), "cost_note": cost_note,
        "log_x": bool(log_x), "log_y": bool(log_y), "current": current,
        "prevalence_here": summary.prevalence, "target_prevalence": prevalence, "per": int(per),
        "auroc": summary.auroc, "average_precision": summary.average_precision,
        "bands": band_names, "level": None if bands is None else bands.level,
        "resamples": None if bands is None else bands.resamples,
        "model_threshold": model_threshold, "best": None if best is None else [float(best[0]), float(best[1])],
        "flag_nothing": flag_nothing, "baselines": baseline_list, "no_alerts": NO_ALERTS,
    }


@declared_once
def _component():
    from streamlit.components.v1 import declare_component

    return declare_component("threshold_explorer", path=str(FRONTEND))


def threshold_explorer(args: dict[str, Any], *, key: str, on_change: Callable[[], None] | None = None) -> None:
    """Show the explorer. A release puts {"threshold": float, "seq": int, "instance": str} under `key`
    in st.session_state and calls `on_change` before the rerun it causes."""
    _component()(**args, key=key, default=None, on_change=on_change)


def released_threshold(value: Any) -> float | None:
    """The threshold a release sent (the component's value), or None when there is none."""
    if isinstance(value, dict) and isinstance(value.get("threshold"), (int, float)) and np.isfinite(value["threshold"]):
        return float(value["threshold"])
    return None
