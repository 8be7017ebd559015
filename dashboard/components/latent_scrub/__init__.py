"""Latent scrub: a Streamlit component that redraws the decoded image continuously while z is dragged.

Dense decoders run in the browser from exported weights; conv decoders use a precomputed grid of
decoded images over two latent dims (vae_core/export.py). Python hears about z only on release, so
dragging costs no rerun. A dense decoder's weights (7.8 MB of JSON for the demo models'
256-512-1024 decoder, 2.9 MB for the default 256-512 one) are not sent with every rerun: they are
written once to WEIGHTS_DIR/<id>.json, served by a second, never-rendered component, and the browser
fetches each decoder once.

    from dashboard.components.latent_scrub import latent_scrub

    released = latent_scrub(loaded.vae, z, label=digit, key="decoder_scrub")
    if released:  # only on the rerun a release caused: {"z": [...], "label": int | None, "source": ...}
        ...
"""

from __future__ import annotations

import getpass
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dashboard.components import declared_once

if TYPE_CHECKING:
    from vae_core.model import VAE

FRONTEND = Path(__file__).resolve().parent / "frontend"
# Content-addressed (file name = the export's id), so processes and sessions can share it.
WEIGHTS_DIR = Path(tempfile.gettempdir()) / f"vae-explorer-decoders-{getpass.getuser()}"
KEEP_WEIGHT_FILES = 16


@declared_once
def _component():
    from streamlit.components.v1 import declare_component

    return declare_component("latent_scrub", path=str(FRONTEND))


@declared_once
def _weights_component():
    """Never rendered: declaring it makes the server serve WEIGHTS_DIR's files at
    /component/<its name>/<file>, with a Cache-Control the browser caches them under."""
    from streamlit.components.v1 import declare_component

    WEIGHTS_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    return declare_component("latent_scrub_weights", path=str(WEIGHTS_DIR))


def publish_weights(export: dict[str, Any], directory: Path) -> str:
    """Write a dense export (vae_core.export.export_dense_decoder) to directory/<id>.json unless it is
    there already (atomically: readers never see half a file); returns the file name. Keeps the
    KEEP_WEIGHT_FILES most recently used files."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{export['id']}.json"
    if path.is_file():
        os.utime(path)  # recently used
        return path.name
    handle, partial = tempfile.mkstemp(dir=directory, prefix=f"{path.name}.", suffix=".partial")  # one per writer
    with os.fdopen(handle, "w") as file:
        file.write(json.dumps(export))
    os.replace(partial, path)
    stale = sorted(directory.glob("*.json"), key=_modified, reverse=True)[KEEP_WEIGHT_FILES:]
    for old in stale:
        old.unlink(missing_ok=True)
    return path.name


def _modified(file: Path) -> float:
    """Its modification time; +inf (newest) when another writer removed it meanwhile."""
    try:
        return file.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def by_reference(decoder: dict[str, Any]) -> dict[str, Any]:
    """A dense decoder argument without its weights: `url` (relative to the scrub's frame) names the
    published file instead. Grids (rebuilt whenever z changes) stay inline."""
    if "layers" not in decoder:
        return decoder
    try:
        name = publish_weights(decoder, WEIGHTS_DIR)
    except OSError:  # e.g. a read-only or foreign temporary folder: send the weights inline as before
        return decoder
    return {**{k: v for k, v in decoder.items() if k != "layers"}, "url": f"../{_weights_component().name}/{name}"}


def scrub_args(vae: VAE, z=None, *, label: int | None = None, dims: tuple[int, int] = (0, 1),
               extent: float = 4.0, grid_size: int | None = None, density: dict[str, Any] | None = None,
               size: int = 240, plane_caption: str | None = None, image_caption: str | None = None,
               label_picker: bool = True) -> dict[str, Any]:
    """The JSON arguments the frontend reads (separate from the call so it can be tested without a browser)."""
    from vae_core.errors import ConfigError
    from vae_core.export import DEFAULT_GRID_SIZE, browser_decoder

    config = vae.vae_config
    if config.latent_dim < 2:
        raise ConfigError("The latent scrub needs a latent space of at least 2 dims.")
    if len(config.input_shape) != 3:
        raise ConfigError("The latent scrub shows images; this model's outputs are not images.")
    dims = (int(dims[0]), int(dims[1]))
    values = np.zeros(config.latent_dim) if z is None else np.asarray(z, np.float64).reshape(-1)
    if values.size != config.latent_dim or not np.isfinite(values).all():
        values = np.zeros(config.latent_dim)
    values = np.clip(values, -extent, extent)
    label = None if label is None or not config.conditional else int(label)
    decoder = browser_decoder(vae, dims=dims, base=values, label=label, n=grid_size or DEFAULT_GRID_SIZE,
                              extent=extent)
    args: dict[str, Any] = {"decoder": decoder, "z": [round(float(v), 4) for v in values], "label": label,
                            "dims": list(dims), "extent": float(extent), "size": int(size),
                            "label_picker": bool(label_picker)}
    if density is not None:
        args["density"] = density
    if plane_caption:
        args["plane_caption"] = plane_caption
    if image_caption:
        args["image_caption"] = image_caption
    return args


def density_arg(counts: np.ndarray) -> dict[str, Any]:
    """A pre-binned test-set density (bins × bins, rows = increasing y; e.g. dashboard.loaders.latent_density's
    counts) as the `density` argument: drawn behind the plane so people see where the data lies."""
    counts = np.asarray(counts, np.float64)
    return {"counts": np.round(counts, 3).tolist(), "id": f"{counts.shape}-{float(counts.sum()):.3f}"}


def latent_scrub(vae: VAE, z=None, *, label: int | None = None, dims: tuple[int, int] = (0, 1),
                 extent: float = 4.0, grid_size: int | None = None, density: np.ndarray | None = None,
                 size: int = 240, plane_caption: str | None = None, image_caption: str | None = None,
                 label_picker: bool = True, key: str) -> dict[str, Any] | None:
    """Show the scrub for an image model. Returns the release that caused this rerun —
    {"z": [latent_dim floats], "label": int | None, "source": "plane" | "slider" | "label" | "keyboard"} —
    or None on every other rerun (so a stale value never overrides z set elsewhere).

    z: (latent_dim,) start point (Python's z wins whenever it changes); label: the digit of a
    conditional model; dims: the two latent dims the plane drags; extent: the plane and sliders
    span ±extent; grid_size: cells per side of the precomputed grid (conv decoders only; the grid
    holds the other dims at z and is rebuilt after a release); density: optional (bins, bins)
    counts of the test set's μ over `dims` within ±extent (rows = increasing y), drawn behind the
    plane; label_picker: show the component's own digit buttons (conditional models); key: a
    widget key, required (the last release seen is kept under it in st.session_state).
    """
    import streamlit as st

    args = scrub_args(vae, z, label=label, dims=dims, extent=extent, grid_size=grid_size,
                      density=None if density is None else density_arg(density), size=size,
                      plane_caption=plane_caption, image_caption=image_caption, label_picker=label_picker)
    value = _component()(**{**args, "decoder": by_reference(args["decoder"])}, key=key, default=None)
    if not isinstance(value, dict) or "z" not in value:
        return None
    stamp, seen = [value.get("instance"), value.get("seq")], f"_{key}_release_seen"
    if st.session_state.get(seen) == stamp:
        return None
    st.session_state[seen] = stamp
    return {"z": [float(v) for v in value["z"]], "label": value.get("label"), "source": value.get("source")}
