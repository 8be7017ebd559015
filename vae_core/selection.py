"""Selections on the latent map and what they answer: which points a box or lasso holds, how many of
each class, the confusion counts and precision inside it at a fraud threshold, its mean image, and
its rows as CSV.

A `Region` lives in the map's 2-D coordinates (the projection it was drawn on), so it can travel in
a link and still mean the same points after a threshold change. Pure NumPy/pandas on arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from vae_core.errors import ConfigError
from vae_core.tables.fraud_analysis import OUTCOME_NAMES, outcome_codes

RegionKind = Literal["box", "lasso"]
MAX_LASSO_VERTICES = 200  # a link stays short; the map simplifies a freehand lasso to fewer
OUTCOMES = tuple(OUTCOME_NAMES[k] for k in range(4))  # ("TP", "FP", "FN", "TN"), as outcome_codes numbers them


def _round(value: float) -> float:
    """Five significant digits: what a link carries, and what both the browser and Python test against."""
    return float(f"{value:.5g}")


@dataclass(frozen=True)
class Region:
    """A box (x0, y0, x1, y1 with x0 < x1, y0 < y1) or a lasso polygon (≥ 3 vertices, implicitly
    closed) in map coordinates; `points` is (k, 2)."""

    kind: RegionKind
    points: tuple[tuple[float, float], ...]

    @classmethod
    def box(cls, x0: float, y0: float, x1: float, y1: float) -> Region:
        (x0, x1), (y0, y1) = sorted((x0, x1)), sorted((y0, y1))
        return cls.make("box", [(x0, y0), (x1, y1)])

    @classmethod
    def make(cls, kind: str, points) -> Region:
        """A checked region, coordinates rounded to five significant digits."""
        if kind not in ("box", "lasso"):
            raise ConfigError(f"A selection is a 'box' or a 'lasso', got {kind!r}.")
        try:
            array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            raise ConfigError("A selection's corners must be pairs of numbers.") from None
        if not np.isfinite(array).all():
            raise ConfigError("A selection's corners must be finite numbers.")
        vertices = tuple((_round(x), _round(y)) for x, y in array)
        if kind == "box":
            if len(vertices) != 2:
                raise ConfigError("A box selection needs two corners.")
            (x0, y0), (x1, y1) = vertices
            if not (x0 < x1 and y0 < y1):
                raise ConfigError("A box selection needs a width and a height.")
        elif not 3 <= len(vertices) <= MAX_LASSO_VERTICES:
            raise ConfigError(f"A lasso needs 3 to {MAX_LASSO_VERTICES} corners, got {len(vertices)}.")
        return cls(kind, vertices)

    def to_text(self) -> str:
        """'box:x0,y0,x1,y1' or 'lasso:x,y,x,y,…' (what a link carries)."""
        return f"{self.kind}:" + ",".join(f"{v:.5g}" for xy in self.points for v in xy)

    @classmethod
    def from_text(cls, text: str) -> Region:
        kind, _, numbers = str(text).partition(":")
        try:
            values = [float(part) for part in numbers.split(",")]
        except ValueError:
            raise ConfigError(f"Unreadable selection {text!r}.") from None
        if len(values) % 2:
            raise ConfigError(f"A selection needs pairs of coordinates, got {len(values)} numbers.")
        return cls.make(kind, np.reshape(values, (-1, 2)))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "points": [list(p) for p in self.points]}

    @classmethod
    def from_dict(cls, data: dict) -> Region:
        if not isinstance(data, dict):
            raise ConfigError("A selection must be a mapping with 'kind' and 'points'.")
        return cls.make(data.get("kind"), data.get("points"))

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """Which of the points (n, 2) lie inside: bool (n,). A lasso uses the even-odd rule (a point on
        an edge may fall either way, exactly as in the browser, which runs the same arithmetic)."""
        xy = np.asarray(xy, dtype=np.float64)
        x, y = xy[:, 0], xy[:, 1]
        if self.kind == "box":
            (x0, y0), (x1, y1) = self.points
            return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        polygon = np.asarray(self.points, dtype=np.float64)
        inside = np.zeros(len(xy), dtype=bool)
        x_min, y_min = polygon.min(axis=0)
        x_max, y_max = polygon.max(axis=0)
        near = np.flatnonzero((x >= x_min) & (x <= x_max) & (y >= y_min) & (y <= y_max))
        px, py = x[near], y[near]
        hits = np.zeros(len(near), dtype=bool)
        for (xi, yi), (xj, yj) in zip(polygon, np.roll(polygon, 1, axis=0)):
            crosses = (yi > py) != (yj > py)
            with np.errstate(divide="ignore", invalid="ignore"):
                at_x = (xj - xi) * (py - yi) / (yj - yi) + xi
            hits ^= crosses & (px < at_x)
        inside[near] = hits
        return inside

    def describe(self) -> str:
        if self.kind == "box":
            (x0, y0), (x1, y1) = self.points
            return f"box [{x0:.3g}, {x1:.3g}] × [{y0:.3g}, {y1:.3g}]"
        return f"lasso with {len(self.points)} corners"


@dataclass(frozen=True)
class RangeFilter:
    """The points whose value in one column lies in [low, high] (None: that end open), which the map
    highlights while it dims the rest. Travels in a link as "column:low..high", e.g. "kl:2..",
    "column:Amount:100..500" (the column's key is everything before the last colon)."""

    column: str
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if not self.column:
            raise ConfigError("A filter needs a column.")
        if self.low is None and self.high is None:
            raise ConfigError(f"A filter on {self.column} needs a lower or an upper end.")
        for end in (self.low, self.high):
            if end is not None and not math.isfinite(end):
                raise ConfigError(f"A filter's ends must be finite numbers, not {end}.")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ConfigError(f"The filter's lower end {self.low:g} is above its upper end {self.high:g}.")

    def to_text(self) -> str:
        ends = ("" if end is None else f"{_round(end):g}" for end in (self.low, self.high))
        return f"{self.column}:{'..'.join(ends)}"

    @classmethod
    def from_text(cls, text: str) -> RangeFilter:
        column, colon, ends = str(text).rpartition(":")
        low, dots, high = ends.partition("..")
        if not colon or not dots:
            raise ConfigError(f"{text!r} is not a filter: expected column:low..high (either end may be empty).")
        try:
            ends = [float(end) if end.strip() else None for end in (low, high)]
        except ValueError as exc:
            raise ConfigError(f"{text!r} is not a filter: its ends must be numbers.") from exc
        return cls(column, *ends)

    def matches(self, values: np.ndarray) -> np.ndarray:
        """values (n,) → bool (n,): inside [low, high] (NaN never is)."""
        values = np.asarray(values, np.float64)
        inside = np.isfinite(values)
        if self.low is not None:
            inside &= values >= self.low
        if self.high is not None:
            inside &= values <= self.high
        return inside

    def describe(self, name: str) -> str:
        """`name` (how people call the column) with the range, e.g. "Amount from 100 to 500"."""
        if self.low is not None and self.high is not None:
            return f"{name} from {self.low:g} to {self.high:g}"
        return f"{name} of {self.low:g} or more" if self.low is not None else f"{name} of {self.high:g} or less"


def class_counts(labels: np.ndarray, mask: np.ndarray, names: dict[int, str]) -> dict[str, int]:
    """Points per class inside the selection, every class named in `names` (0 when absent):
    labels (n,), mask (n,) bool."""
    labels = np.asarray(labels)[np.asarray(mask, bool)]
    return {name: int(np.count_nonzero(labels == value)) for value, name in names.items()}


@dataclass(frozen=True)
class SelectionConfusion:
    """Outcomes at one threshold inside a selection, and the selection's share of each outcome overall.

    precision = TP / (TP + FP) inside the selection (None when nothing inside is flagged);
    share[k] = the selection's count of outcome k / the whole data's count (None when there is none).
    """

    threshold: float
    counts: dict[str, int]
    totals: dict[str, int]
    precision: float | None
    share: dict[str, float | None]

    @property
    def flagged(self) -> int:
        return self.counts["TP"] + self.counts["FP"]


def confusion_in(scores: np.ndarray, labels: np.ndarray, mask: np.ndarray, threshold: float) -> SelectionConfusion:
    """Confusion counts inside the selection at `threshold`: scores (n,), labels (n,) 0/1, mask (n,) bool."""
    if not math.isfinite(threshold):
        raise ConfigError(f"The threshold must be a finite number, got {threshold}.")
    codes = outcome_codes(scores, labels, threshold)
    inside = np.bincount(codes[np.asarray(mask, bool)], minlength=4)
    everywhere = np.bincount(codes, minlength=4)
    counts = {name: int(inside[k]) for k, name in enumerate(OUTCOMES)}
    totals = {name: int(everywhere[k]) for k, name in enumerate(OUTCOMES)}
    flagged = counts["TP"] + counts["FP"]
    return SelectionConfusion(
        threshold=float(threshold), counts=counts, totals=totals,
        precision=counts["TP"] / flagged if flagged else None,
        share={name: counts[name] / totals[name] if totals[name] else None for name in OUTCOMES})


def mean_image(images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pixel-wise mean of the selected images: images (n, h, w[, 1]) → (h, w); zeros when none is selected."""
    chosen = np.asarray(images)[np.asarray(mask, bool)]
    h, w = np.asarray(images).shape[1:3]
    if len(chosen) == 0:
        return np.zeros((h, w), np.float32)
    return chosen.reshape(len(chosen), h, w).astype(np.float64).mean(axis=0).astype(np.float32)


def digit_frame(indices: np.ndarray, labels: np.ndarray, xy: np.ndarray, error: np.ndarray,
                kl: np.ndarray, axis_names: tuple[str, str]) -> pd.DataFrame:
    """Selected test digits as a table: test index, digit, map coordinates, reconstruction error, KL.
    All arguments are already restricted to the selection: (m,) or (m, 2)."""
    return pd.DataFrame({"test_index": np.asarray(indices, np.int64), "digit": np.asarray(labels, np.int64),
                         axis_names[0]: np.asarray(xy)[:, 0], axis_names[1]: np.asarray(xy)[:, 1],
                         "reconstruction_nats": np.asarray(error), "kl_nats": np.asarray(kl)})


def transaction_frame(rows: np.ndarray, scores: np.ndarray, labels: np.ndarray | None, threshold: float,
                      xy: np.ndarray, axis_names: tuple[str, str], features: pd.DataFrame,
                      amounts: np.ndarray | None = None) -> pd.DataFrame:
    """Selected transactions as a table: file row, score, flagged at `threshold`, label and outcome (when
    labelled), map coordinates, then the feature columns. All arguments restricted to the selection."""
    scores = np.asarray(scores)
    columns: dict[str, np.ndarray] = {"row": np.asarray(rows, np.int64), "score": scores,
                                      "flagged": scores >= threshold}
    if labels is not None:
        columns["label"] = np.where(np.asarray(labels) == 1, "fraud", "normal")
        columns["outcome"] = np.asarray(OUTCOMES)[outcome_codes(scores, labels, threshold)]
    columns[axis_names[0]], columns[axis_names[1]] = np.asarray(xy)[:, 0], np.asarray(xy)[:, 1]
    frame = pd.DataFrame(columns)
    extra = features.reset_index(drop=True)
    if amounts is not None and "Amount" not in extra.columns:
        frame["Amount"] = np.asarray(amounts)
    return pd.concat([frame, extra], axis=1)


def to_csv(frame: pd.DataFrame) -> bytes:
    """A selection table as UTF-8 CSV bytes."""
    return frame.to_csv(index=False).encode("utf-8")
