"""Latent map: every point of a model's latent space in the browser — pan and zoom at full frame rate,
images on hover (and in place of dots at high zoom), box and lasso selection.

Per-point data travels as bytes (typed arrays, PNG sprite atlases), each under a digest of its
contents; the browser keeps what it has between reruns, so a rerun that only changes the colouring
or the selection sends a few hundred kilobytes at most, not the whole map again. The browser asks for
any piece it lacks (a fresh frame after navigating back), once.

    from dashboard.components.latent_map import MapConfig, latent_map

    latent_map({"xy": blob(xy), "colour": colour_blob, ...}, config, key="latent_map", on_event=handle)
    # handle({"event": "select", "region": {...} | None}) or handle({"event": "click", "index": i})
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dashboard.components import declared_once

if TYPE_CHECKING:
    from vae_core.latent import Projection

FRONTEND = Path(__file__).resolve().parent / "frontend"
# Viridis at five stops (the browser interpolates between them as Python does here).
VIRIDIS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")
GREY = "#9e9e9e"


@dataclass(frozen=True)
class Blob:
    """Bytes the browser keeps between reruns, named by a digest of their contents."""

    id: str
    data: bytes = field(repr=False)


def blob(data: bytes | np.ndarray) -> Blob:
    """A little-endian typed array (float32, int32, uint8…) or raw bytes (a PNG) as a Blob."""
    raw = data if isinstance(data, bytes) else np.ascontiguousarray(data).astype(
        np.asarray(data).dtype.newbyteorder("<"), copy=False).tobytes()
    return Blob(hashlib.blake2b(raw, digest_size=10).hexdigest(), raw)


def _hex_to_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], np.float64)


def ramp(stops: Sequence[str] = VIRIDIS, n: int = 256) -> list[str]:
    """n colours evenly interpolated through `stops` (hex), as hex."""
    anchors = np.array([_hex_to_rgb(c) for c in stops])
    positions = np.linspace(0, len(stops) - 1, n)
    low = np.minimum(positions.astype(int), len(stops) - 2)
    t = (positions - low)[:, None]
    rgb = np.rint((1 - t) * anchors[low] + t * anchors[low + 1]).astype(int)
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb]


def categorical_colours(codes: np.ndarray, names: Sequence[str], colours: Sequence[str],
                        title: str) -> tuple[Blob, dict[str, Any]]:
    """Per-point class codes (n,) in range(len(names)) → (colour-index blob, legend with counts)."""
    codes = np.asarray(codes).astype(np.uint8)
    counts = np.bincount(codes, minlength=len(names))[:len(names)]
    return blob(codes), {"kind": "categorical", "title": title, "names": list(names),
                         "palette": list(colours), "counts": counts.tolist()}


def continuous_colours(values: np.ndarray, title: str, *, log: bool = False,
                       coverage: float = 0.99) -> tuple[Blob, dict[str, Any]]:
    """Per-point values (n,) → 256 colour levels over their central `coverage` share (beyond it the end
    colours), on a log scale when `log` (values ≤ 0 take the lowest colour): (blob, colour-bar legend)."""
    values = np.asarray(values, np.float64)
    shown = np.log10(np.maximum(values, 1e-12)) if log else values
    finite = shown[np.isfinite(shown)]
    tail = (1 - coverage) / 2
    low, high = (np.quantile(finite, [tail, 1 - tail]) if len(finite) else (0.0, 1.0))
    high = high if high > low else low + 1e-9
    levels = np.clip(np.nan_to_num((shown - low) / (high - low), nan=0.0), 0.0, 1.0)
    codes = np.rint(levels * 255).astype(np.uint8)
    return blob(codes), {"kind": "continuous", "title": title, "palette": ramp(),
                         "low": float(10 ** low if log else low), "high": float(10 ** high if log else high),
                         "log": bool(log)}


def image_atlas(images: np.ndarray, columns: int | None = None) -> tuple[Blob, dict[str, int]]:
    """Images (n, h, w[, 1]) in [0, 1] as one greyscale PNG sprite sheet, row-major:
    (blob, {"tile": h, "columns": c, "count": n}). Image i sits at column i % c, row i // c."""
    from PIL import Image

    from vae_core.latent import mosaic

    images = np.asarray(images, np.float32)
    n, h = len(images), images.shape[1]
    columns = columns or max(1, int(np.ceil(np.sqrt(n))))
    sheet = np.rint(np.clip(mosaic(images, columns), 0.0, 1.0) * 255).astype(np.uint8)
    out = io.BytesIO()
    # zlib level 1: half the time of the default 6 for 12% more bytes (10,000 digits: 0.19 s, 1.9 MB)
    Image.fromarray(sheet, mode="L").save(out, format="PNG", optimize=False, compress_level=1)
    return blob(out.getvalue()), {"tile": int(h), "columns": int(columns), "count": int(n)}


@dataclass(frozen=True)
class MapConfig:
    """Everything the map draws besides its blobs (JSON).

    n: points; kind: "mnist" | "fraud"; axis_titles; bounds (x_min, x_max, y_min, y_max) of the first
    view; view_id: a new one resets the view (another projection); legend: categorical_colours' or
    continuous_colours' legend; class_names: hover names of `labels`; selection: a Region dict or None;
    selected: the point ringed (the one shown beside the map) or None; neighbours: its nearest points
    in latent space, ringed thinner; threshold: the fraud threshold
    in force (hover says flagged or not); feature_names: the fraud model's features (hover);
    prior: [{"x", "y", "r", "mass"}] circles of N(0, I) on this map (empty where a projection bends
    space); density: [{"mass", "start", "count"}] runs of segments in the "contours" blob;
    atlas: image_atlas's layout when the "atlas"/"recon" blobs hold images; height: canvas pixels.
    """

    n: int
    kind: str
    axis_titles: tuple[str, str]
    bounds: tuple[float, float, float, float]
    view_id: str
    legend: dict[str, Any]
    class_names: list[str]
    selection: dict | None = None
    selected: int | None = None
    neighbours: list[int] = field(default_factory=list)
    threshold: float | None = None
    feature_names: list[str] = field(default_factory=list)
    prior: list[dict[str, float]] = field(default_factory=list)
    density: list[dict[str, float]] = field(default_factory=list)
    atlas: dict[str, int] | None = None
    height: int = 560


def contour_runs(contours: list[tuple[float, np.ndarray]]) -> tuple[Blob, list[dict[str, float]]]:
    """density_contours' [(mass, segments (m, 4))] → one float32 blob and the runs that index it."""
    runs, start = [], 0
    for mass, segments in contours:
        runs.append({"mass": float(mass), "start": start, "count": len(segments)})
        start += len(segments)
    parts = [s for _, s in contours] or [np.zeros((0, 4), np.float32)]
    return blob(np.concatenate(parts).astype(np.float32)), runs


@dataclass(frozen=True)
class MapGeometry:
    """A projection ready for the browser: blobs "xy" (n, 2) and "contours" (the data's density
    contours), the first view's bounds, the contour runs, and the prior's circles on this map."""

    blobs: dict[str, Blob]
    bounds: tuple[float, float, float, float]
    density: list[dict[str, float]]
    prior: list[dict[str, float]]


def map_geometry(projection: Projection) -> MapGeometry:
    """`projection` (vae_core.latent.Projection) as the map draws it."""
    from vae_core.latent import density_contours, map_bounds, prior_radii

    bounds = map_bounds(projection.xy)
    contours, runs = contour_runs(density_contours(projection.xy, bounds=bounds))
    prior = []
    if projection.prior_centre is not None and projection.axis_titles[1]:
        masses = (0.5, 0.9, 0.99)
        prior = [{"x": projection.prior_centre[0], "y": projection.prior_centre[1], "r": float(r), "mass": m}
                 for m, r in zip(masses, prior_radii(masses))]
    return MapGeometry({"xy": blob(projection.xy.astype(np.float32)), "contours": contours}, bounds, runs, prior)


@declared_once
def _component():
    from streamlit.components.v1 import declare_component

    return declare_component("latent_map", path=str(FRONTEND))


def map_args(blobs: dict[str, Blob], config: MapConfig, sent: dict[str, str]) -> dict[str, Any]:
    """The component's arguments: the config, every blob's id, and the bytes of those the browser does
    not hold yet by `sent` ({name: id}, updated here). Separate from the call so tests can read it."""
    args: dict[str, Any] = {**asdict(config), "ids": {name: b.id for name, b in blobs.items()}}
    for name, item in blobs.items():
        if sent.get(name) != item.id:
            args[f"blob_{name}"] = item.data
            sent[name] = item.id
    # Named in the JSON too: Streamlit re-renders a frame only when its JSON arguments change.
    args["sending"] = sorted(name for name in blobs if f"blob_{name}" in args)
    return args


def latent_map(blobs: dict[str, Blob], config: MapConfig, *, key: str,
               on_event: Callable[[dict[str, Any]], None]) -> None:
    """Draw the map. `on_event` runs before the rerun a person's action causes, with
    {"event": "select", "region": {"kind", "points"} | None} (a box or lasso drawn, or cleared) or
    {"event": "click", "index": i} (a point clicked). Blob names the browser reads: "xy" float32 (n, 2),
    "colour" uint8 (n,), "labels" uint8 (n,), "error" and "kl" float32 (n,), "rows" int32 (n,),
    "worst" uint8 (n, 6) (three feature indices, then their shares of the score in percent),
    "contours" float32 (m, 4), "atlas" and "recon" PNG."""
    import streamlit as st

    sent_key = f"_{key}_sent"
    sent = st.session_state.setdefault(sent_key, {})

    def changed() -> None:
        value = st.session_state.get(key)
        if not isinstance(value, dict):
            return
        if value.get("event") == "need":  # the frame lacks some blobs (a fresh frame): send them again
            for name in value.get("names") or []:
                st.session_state[sent_key].pop(name, None)
            return
        on_event(value)

    _component()(**map_args(blobs, config, sent), key=key, default=None, on_change=changed)
