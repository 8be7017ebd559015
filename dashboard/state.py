"""Per-session view state, and the URL as its one shareable copy.

Each kind of model has its own active choice (`active_model(kind)`): the MNIST pages keep their MNIST
model and the Fraud threshold page its fraud model. The Latent space and Decoder pages show the kind
in EXPLORER_KIND. A page's view state (model, selected point, z, threshold, costs…) lives in session
state and is mirrored into the URL's query parameters, holding only what differs from the defaults,
so a page's bare address is its default view. Plain controls (grid size, seeds, draws…) are listed
in SETTINGS and bound with `setting_widget`, which keeps their values when the page is left.

Browser history gets one entry per navigation (links carry the target page's parameters, see
`link_params`) and one per deliberate change (the parameters are rewritten once); a rerun that
changes nothing writes nothing. When the URL changes from outside — a pasted link, Back, Forward —
the page's state is read back from it, missing parameters meaning defaults.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import streamlit as st

from dashboard import loaders, presentation
from vae_core import registry
from vae_core.tables import thresholds

KINDS = ("mnist", "fraud")
ACTIVE = "active_models"  # {"mnist": name, "fraud": name}
GONE = "_gone_models"  # {kind: name}: an active model that left the registry, until the page says so
EXPLORER_KIND = "explorer_kind"  # "mnist" | "fraud": what the Latent space and Decoder pages show
POINT = "selected_point"  # {"model": name, "row": int}: the point picked on the Latent space page
# The Latent space page's map: {"model": name, "projection": "dims" | "pca" | "tsne", "dims": [a, b],
# "colour": one of MAP_COLOURS or loaders.COLUMN_COLOUR + a column's name, "region": a selection as
# Region.to_text() or None, "filter": the points highlighted, as RangeFilter.to_text(), or None}.
MAP_VIEW = "latent_map_view"
MAP_COLOURS = ("class", "error", "kl", "outcome", "brightness")
DECODER_Z = "decoder_z"  # {"model": name, "z": [float, ...], "rev": int (bumped when set from outside)}
INTERP = "interp_ends"  # {"model": name, "a": int, "b": int}: interpolation end rows
THRESHOLD = "fraud_threshold"  # {"model": name, "value": float, "strategy": str, "params": dict}
FEE, COST_MODE, FIXED_COST = "thr_fee", "thr_cost_mode", "thr_fixed_cost"  # the cost widgets' keys
# {"model": name, "value": share of positives where it is deployed, "default": the model's own or None}
DEPLOY = "fraud_deploy_prevalence"
DECIDE_AT = "thr_decide_at"  # the widget's key: "deployment" (default) or "sampled"
DECIDE_CHOICES = ("deployment", "sampled")
SCORER = "thr_scorer"  # the widget's key: "VAE" (default) or the name of a baseline stored with the model
DEFAULT_SCORER = "VAE"
ELBO_ROW = "elbo_row"
COMPARE_AE, COMPARE_VAE = "compare_ae", "compare_vae"
_PAGE = "_page"
_WRITTEN = "_url_written"  # (page, its canonical parameters) as last written or read
_SEEN = "_url_seen"  # (page, the URL's parameters) as last read (a link may spell its view differently)
_NOTICE = "_url_notice"

_SETTINGS = "_page_settings"  # {page: {param: value}}: the `SETTINGS` controls, kept across pages


@dataclasses.dataclass(frozen=True)
class Setting:
    """A page control that travels in the link as `param` (only when it differs from `default`):
    a number from `low` to `high` (None: unbounded) on multiples of `step` from `low`, or one of
    `choices`. `key` is its widget's key."""

    param: str
    key: str
    default: int | float | str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()

    def read(self, text: str | None) -> int | float | str | None:
        """The value a link's text stands for; None when it is missing or out of range."""
        if self.choices:
            return text if text in self.choices else None
        value = _int(text) if isinstance(self.default, int) else _float(text)
        if value is None:
            return None
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            return None
        if self.step is not None and not math.isclose((value - (self.low or 0)) / self.step,
                                                      round((value - (self.low or 0)) / self.step), abs_tol=1e-9):
            return None
        return value

    def expected(self) -> str:
        """What a usable value looks like, for the notice about an unusable one."""
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        what = "a whole number" if isinstance(self.default, int) else "a number"
        bounds = (f" from {self.low:g} to {self.high:g}" if self.high is not None
                  else f" of {self.low:g} or more" if self.low is not None else "")
        return f"{what}{bounds}{f' in steps of {self.step:g}' if self.step and self.step != 1 else ''}"


SETTINGS: dict[str, tuple[Setting, ...]] = {
    "decoder": (Setting("grid", "dec_grid_n", 15, 3, 30), Setting("range", "dec_grid_extent", 2.5, 0.5, 4.0, 0.25),
                Setting("spacing", "dec_grid_spacing", "linear", choices=("linear", "quantile")),
                Setting("gx", "dec_grid_x", 0, 0), Setting("gy", "dec_grid_y", 1, 0),
                Setting("steps", "dec_interp_steps", 10, 2, 20), Setting("side", "dec_prior_side", 6, 2, 10),
                Setting("seed", "dec_prior_seed", 0, 0, 10**6)),
    "elbo": (Setting("draws", "elbo_draws", 8, 1, 16), Setting("seed", "elbo_seed", 0, 0, 10**6)),
    "compare": (Setting("points", "compare_points", 2000, 500, 5000, 500),
                Setting("seed", "compare_seed", 0, 0, 10**6)),
    "latent": (Setting("k", "latent_neighbours", 8, 1, 50),),
}

DEFAULT_FEE = thresholds.DEFAULT_REVIEW_FEE
DEFAULT_FIXED_COST = 100.0
MODEL_THRESHOLD = "model"  # THRESHOLD["strategy"] when the model's own threshold is in force
PAGE_KINDS = {"latent": None, "decoder": None, "threshold": "fraud", "elbo": "mnist", "models": None}


# --- models -------------------------------------------------------------------------------------

def usable(kind: str | None = None) -> list[registry.ModelInfo]:
    """Valid registry entries, optionally of one kind."""
    return [i for i in loaders.model_infos() if i.valid and (kind is None or i.kind == kind)]


def default_model(kind: str) -> str | None:
    """The model a first visit opens for `kind` (declared by the registry; see registry.default_models)."""
    return registry.default_models(loaders.model_infos(), loaders.models_root())[kind]


def active_model(kind: str) -> str | None:
    """This session's model of `kind`: its own choice while that model exists, else the default."""
    chosen = st.session_state.setdefault(ACTIVE, {})
    if chosen.get(kind) not in {i.name for i in usable(kind)}:
        if chosen.get(kind) is not None:
            st.session_state.setdefault(GONE, {})[kind] = chosen[kind]
            st.session_state.pop(_WRITTEN, None)  # the address may name it: `end` writes the view again
        chosen[kind] = default_model(kind)
    return chosen[kind]


def gone_model(kind: str) -> str | None:
    """The `kind` model this session was using that has since left the registry (told once)."""
    return (st.session_state.get(GONE) or {}).pop(kind, None)


def set_active(name: str) -> None:
    """Make `name` its kind's active model (the other kind's choice is untouched)."""
    info = next((i for i in usable() if i.name == name), None)
    if info is not None:
        st.session_state.setdefault(ACTIVE, {})[info.kind] = name


def explorer_kind() -> str:
    """Which kind the Latent space and Decoder pages show (MNIST unless chosen otherwise)."""
    kind = st.session_state.get(EXPLORER_KIND)
    if kind not in KINDS or (active_model(kind) is None and active_model("mnist") is not None):
        kind = "mnist"
    return kind


def compare_defaults() -> tuple[str | None, str | None]:
    """The (AE, VAE) pair the AE vs VAE page opens on: the active MNIST model and its twin."""
    from vae_core.images.compare import pick_pair

    return pick_pair(usable("mnist"), active_model("mnist"))


def page_model(page: str) -> str | None:
    """The model `page` shows."""
    kind = PAGE_KINDS.get(page) or (explorer_kind() if page in ("latent", "decoder") else "mnist")
    return active_model(kind)


# --- parameters ---------------------------------------------------------------------------------

def _int(text: str | None) -> int | None:
    try:
        return int(str(text))
    except (TypeError, ValueError):
        return None


def _float(text: str | None) -> float | None:
    try:
        value = float(str(text))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _floats(text: str | None) -> list[float] | None:
    values = [_float(part) for part in str(text or "").split(",")]
    return values if values and all(v is not None for v in values) else None


def _number(value: float) -> str:
    """Six significant digits when they give `value` back exactly (what people type, the explorer's
    stops), else the shortest text that does (a strategy's threshold is a score: a rounded one would
    flag one row more or less when the link is opened)."""
    short = f"{value:.6g}"
    return short if float(short) == value else repr(float(value))


def threshold_state(model: str) -> dict[str, Any]:
    """The threshold in force for fraud model `model` (its own threshold unless changed)."""
    state = st.session_state.get(THRESHOLD)
    if not state or state.get("model") != model:
        state = {"model": model, "value": None, "strategy": MODEL_THRESHOLD, "params": {}}
        st.session_state[THRESHOLD] = state
    return state


def map_view(model: str) -> dict[str, Any]:
    """The Latent space page's map view for `model` (the defaults when it showed another model)."""
    view = st.session_state.get(MAP_VIEW)
    if not view or view.get("model") != model:
        view = _map_view_from(model, {})
        st.session_state[MAP_VIEW] = view
    return view


def default_map_view() -> dict[str, Any]:
    """The map view a first visit to the Latent space page shows: {"projection", "dims", "colour", …}."""
    return _map_view_from(None, {})


def _map_view_from(model: str | None, params: dict[str, str]) -> dict[str, Any]:
    """A map view from link parameters; each missing or unreadable one means its default."""
    from vae_core.errors import ConfigError
    from vae_core.latent import PROJECTIONS
    from vae_core.selection import RangeFilter, Region

    projection = params.get("proj") if params.get("proj") in PROJECTIONS else "dims"
    dims = [_int(part) for part in str(params.get("dims") or "").split(",")]
    if projection != "dims" or len(dims) != 2 or None in dims or min(dims) < 0 or dims[0] == dims[1]:
        dims = [0, 1]
    colour, prefix = str(params.get("colour") or ""), loaders.COLUMN_COLOUR
    if colour not in MAP_COLOURS and not (colour.startswith(prefix) and 0 < len(colour) - len(prefix) <= 100):
        colour = "class"  # the page checks a column's name against the model's
    try:
        region = Region.from_text(params["sel"]).to_text() if params.get("sel") else None
    except ConfigError:
        region = None
    try:  # the page checks the column against the model's
        highlight = RangeFilter.from_text(params["filter"]).to_text() if params.get("filter") else None
    except ConfigError as exc:
        highlight = None
        _unreadable(params, "filter", False, f"a filter ({exc})", "highlighting nothing")
    return {"model": model, "projection": projection, "dims": dims, "colour": colour, "region": region,
            "filter": highlight}


def set_decoder_z(model: str, z) -> None:
    """Set the Decoder's z from outside its sliders (a link, a button, the scrub): its sliders are
    rebuilt with the new values. A slider's own moves go through `move_decoder_z` and keep them."""
    revision = (st.session_state.get(DECODER_Z) or {}).get("rev", 0) + 1
    st.session_state[DECODER_Z] = {"model": model, "z": [float(v) for v in z], "rev": revision}


def move_decoder_z(model: str, dim: int, value: float) -> None:
    """One slider moved: z[dim] = value, the sliders stay as they are."""
    current = st.session_state[DECODER_Z]
    z = list(current["z"])
    z[dim] = float(value)
    st.session_state[DECODER_Z] = {"model": model, "z": z, "rev": current.get("rev", 0)}


def set_threshold(model: str, value: float, strategy: str, params: dict | None = None) -> None:
    st.session_state[THRESHOLD] = {"model": model, "value": float(value), "strategy": strategy,
                                   "params": dict(params or {})}


def deploy_prevalence(model: str, default: float) -> float:
    """The deployment prevalence the Fraud threshold page decides at for `model`: a link's or a
    person's choice, else the model's own `default`."""
    chosen = st.session_state.get(DEPLOY)
    if not chosen or chosen.get("model") != model:
        chosen = {"model": model, "value": float(default), "default": float(default)}
    chosen = {**chosen, "default": float(default)}
    st.session_state[DEPLOY] = chosen
    return float(chosen["value"])


def set_deploy_prevalence(model: str, value: float) -> None:
    """Decide at `value` (0 < value < 1) for `model` from now on."""
    chosen = st.session_state.get(DEPLOY) or {}
    default = chosen.get("default") if chosen.get("model") == model else None
    st.session_state[DEPLOY] = {"model": model, "value": thresholds.check_prevalence(float(value)), "default": default}


def decide_at() -> str:
    """Where strategies decide: "deployment" (the deployment prevalence) or "sampled" (the rows as they are)."""
    return st.session_state.get(DECIDE_AT, DECIDE_CHOICES[0])


def costs() -> tuple[float, float | str]:
    """(review fee per alert, cost of a missed fraud: "amount" or a fixed sum in euros)."""
    fee = float(st.session_state.get(FEE, DEFAULT_FEE))
    if st.session_state.get(COST_MODE, "amount") == "amount":
        return fee, "amount"
    return fee, float(st.session_state.get(FIXED_COST, DEFAULT_FIXED_COST))


def params_for(page: str) -> dict[str, str]:
    """The query parameters that reproduce `page`'s current view (defaults left out)."""
    params: dict[str, str] = {}
    model = page_model(page) if page in PAGE_KINDS else None
    if page in ("latent", "decoder"):
        if model is not None and (explorer_kind() != "mnist" or model != default_model("mnist")):
            params["model"] = model
    elif page in ("threshold", "elbo") and model is not None and model != default_model(PAGE_KINDS[page]):
        params["model"] = model
    if page in ("latent", "decoder", "threshold", "elbo") and model is None:
        return params
    if page == "latent":
        point = st.session_state.get(POINT) or {}
        if point.get("model") == model:
            params["point"] = str(point["row"])
        view = st.session_state.get(MAP_VIEW) or {}
        if view.get("model") == model:
            if view["projection"] != "dims":
                params["proj"] = view["projection"]
            elif list(view["dims"]) != [0, 1]:
                params["dims"] = ",".join(map(str, view["dims"]))
            if view["colour"] != "class":
                params["colour"] = view["colour"]
            if view["region"]:
                params["sel"] = view["region"]
            if view.get("filter"):
                params["filter"] = view["filter"]
    elif page == "decoder":
        z = st.session_state.get(DECODER_Z) or {}
        if z.get("model") == model and any(v != 0 for v in z["z"]):
            params["z"] = ",".join(f"{v:.3f}" for v in z["z"])
        ends = st.session_state.get(INTERP) or {}
        if ends.get("model") == model and (ends["a"], ends["b"]) != (0, 1):
            params["from"], params["to"] = str(ends["a"]), str(ends["b"])
    elif page == "threshold":
        state = threshold_state(model)
        if state["strategy"] != MODEL_THRESHOLD and state["value"] is not None:
            params["threshold"] = _number(state["value"])
            params["strategy"] = state["strategy"]
        fee, fraud_cost = costs()
        if fee != DEFAULT_FEE:
            params["fee"] = _number(fee)
        if fraud_cost != "amount":
            params["miss"] = _number(fraud_cost)
        chosen = st.session_state.get(DEPLOY) or {}
        if chosen.get("model") == model and chosen["value"] != chosen.get("default"):
            params["prev"] = _number(chosen["value"])
        if decide_at() != DECIDE_CHOICES[0]:
            params["decide"] = decide_at()
        if st.session_state.get(SCORER, DEFAULT_SCORER) != DEFAULT_SCORER:
            params["scorer"] = st.session_state[SCORER]
    elif page == "elbo" and st.session_state.get(ELBO_ROW):
        params["image"] = str(st.session_state[ELBO_ROW])
    elif page == "compare":
        for param, key, default in zip(("ae", "vae"), (COMPARE_AE, COMPARE_VAE), compare_defaults()):
            if st.session_state.get(key) and st.session_state[key] != default:
                params[param] = st.session_state[key]
    elif page == "models":
        chosen = st.session_state.get(ACTIVE) or {}
        if chosen.get("mnist") and chosen["mnist"] != default_model("mnist"):
            params["mnist"] = chosen["mnist"]
        if chosen.get("fraud") and chosen["fraud"] != default_model("fraud"):
            params["fraud"] = chosen["fraud"]
    for spec in SETTINGS.get(page, ()):
        value = _setting_value(page, spec)
        if value != spec.default:
            params[spec.param] = value if isinstance(value, str) else _number(value)
    return params


def _setting(page: str, param: str) -> Setting:
    return next(spec for spec in SETTINGS[page] if spec.param == param)


def _setting_value(page: str, spec: Setting) -> int | float | str:
    """The setting's value in this session (its default until set)."""
    return (st.session_state.get(_SETTINGS) or {}).get(page, {}).get(spec.param, spec.default)


def setting(page: str, param: str) -> int | float | str:
    """`page`'s setting `param` in this session (from a link, its widget, or its default), for code
    that needs it before its widget is drawn."""
    return _setting_value(page, _setting(page, param))


def setting_widget(page: str, param: str, options=None) -> dict[str, Any]:
    """The keyword arguments that bind a widget to `page`'s setting `param` (its key, and a callback
    that keeps its value across pages and in the link); the widget shows the setting's value, or its
    default when that is not among `options`. Pass no value or index to the widget itself."""
    spec = _setting(page, param)
    value = _setting_value(page, spec)
    if options is not None and value not in options:
        value = spec.default if spec.default in options else next(iter(options))
    st.session_state[spec.key] = value
    return {"key": spec.key, "on_change": _keep_setting, "args": (page, param)}


def _keep_setting(page: str, param: str) -> None:
    value = st.session_state[_setting(page, param).key]
    st.session_state.setdefault(_SETTINGS, {}).setdefault(page, {})[param] = value


def _notify(text: str) -> None:
    """Add `text` to what the page says about the link it was opened with."""
    earlier = st.session_state.get(_NOTICE)
    st.session_state[_NOTICE] = f"{earlier} {text}" if earlier else text


def _apply_model(page: str, name: str | None) -> str | None:
    """Make the model a link names active for `page`; a missing one is reported and the default kept."""
    kind = PAGE_KINDS.get(page)
    if name is None:
        fallback = kind or "mnist"
        st.session_state.setdefault(ACTIVE, {})[fallback] = default_model(fallback)
        if page in ("latent", "decoder"):
            st.session_state[EXPLORER_KIND] = "mnist"
        return active_model(fallback)
    info = next((i for i in usable() if i.name == name and (kind is None or i.kind == kind)), None)
    if info is None:
        fallback = kind or "mnist"
        _notify(f"The link names a model {name!r}, which is not here (or is not a "
                f"{'fraud' if fallback == 'fraud' else 'usable'} model); showing {default_model(fallback)!r} instead.")
        return _apply_model(page, None)
    st.session_state.setdefault(ACTIVE, {})[info.kind] = info.name
    if page in ("latent", "decoder"):
        st.session_state[EXPLORER_KIND] = info.kind
    return info.name


def apply_params(page: str, params: dict[str, str]) -> None:
    """Set `page`'s view state from query parameters; missing or unreadable ones mean defaults."""
    if page in ("latent", "decoder", "threshold", "elbo"):
        model = _apply_model(page, params.get("model"))
    if page == "latent":
        row = _int(params.get("point"))
        _unreadable(params, "point", row is not None and row >= 0, "a row number (0 or more)", "no point is chosen")
        st.session_state[POINT] = None if row is None or row < 0 else {"model": model, "row": row}
        st.session_state[MAP_VIEW] = _map_view_from(model, params)
    elif page == "decoder":
        z = _floats(params.get("z"))
        _unreadable(params, "z", z is not None, "a list of numbers (z=0.5,-1.2)", "z starts at the origin")
        if z is None:  # the origin, once the page knows the latent size; the revision still counts up
            revision = (st.session_state.get(DECODER_Z) or {}).get("rev", 0)
            st.session_state[DECODER_Z] = {"model": None, "z": [], "rev": revision}
        else:
            set_decoder_z(model, z)
        a, b = _int(params.get("from")), _int(params.get("to"))
        ends = (a, b) if a is not None and b is not None and min(a, b) >= 0 else (0, 1)
        for name, row in (("from", a), ("to", b)):
            _unreadable(params, name, row is not None and row >= 0, "a row number (0 or more)",
                        "interpolating from row 0 to row 1")
        st.session_state[INTERP] = {"model": model, "a": ends[0], "b": ends[1]}
    elif page == "threshold" and model is not None:
        value = _float(params.get("threshold"))
        _unreadable(params, "threshold", value is not None, "a finite number", "the model's own threshold is in force")
        strategy = params.get("strategy")
        if strategy is not None and strategy not in (*thresholds.STRATEGIES, "manual"):
            _notify(f"The link's strategy={strategy!r} is not one of {', '.join(thresholds.STRATEGIES)} or manual; "
                    "its threshold counts as set by hand.")
        if strategy not in (*thresholds.STRATEGIES, "manual"):
            strategy = "manual"
        if value is None:
            st.session_state[THRESHOLD] = {"model": model, "value": None, "strategy": MODEL_THRESHOLD, "params": {}}
        else:
            set_threshold(model, value, strategy)
        fee = _float(params.get("fee"))
        st.session_state[FEE] = fee if fee is not None and fee >= 0 else DEFAULT_FEE
        miss = _float(params.get("miss"))
        unusable = [f"{name}={params[name]!r}" for name, value in (("fee", fee), ("miss", miss))
                    if params.get(name) is not None and (value is None or value < 0)]
        if unusable:
            _notify(f"The link's {' and '.join(unusable)} {'is not a' if len(unusable) == 1 else 'are not'} "
                    f"non-negative number{'' if len(unusable) == 1 else 's'} of euros; using the defaults "
                    f"({presentation.money(DEFAULT_FEE, cents=None)} per review, a missed fraud costs its amount).")
        st.session_state[COST_MODE] = "fixed" if miss is not None and miss >= 0 else "amount"
        st.session_state[FIXED_COST] = miss if miss is not None and miss >= 0 else DEFAULT_FIXED_COST
        _apply_prevalence(model, params)
    elif page == "elbo":
        row = _int(params.get("image"))
        _unreadable(params, "image", row is not None and row >= 0, "an image number (0 or more)", "showing image 0")
        st.session_state[ELBO_ROW] = row if row is not None and row >= 0 else 0
    elif page == "compare":
        for param, key in (("ae", COMPARE_AE), ("vae", COMPARE_VAE)):
            st.session_state.pop(key, None)
            if params.get(param) in {i.name for i in usable("mnist")}:
                st.session_state[key] = params[param]
    elif page == "models":
        for kind in KINDS:
            if params.get(kind):
                _apply_model("threshold" if kind == "fraud" else "elbo", params[kind])
    _apply_settings(page, params)


def _apply_settings(page: str, params: dict[str, str]) -> None:
    """`page`'s SETTINGS from a link: each missing or unusable one means its default."""
    kept = st.session_state.setdefault(_SETTINGS, {}).setdefault(page, {})
    for spec in SETTINGS.get(page, ()):
        value = spec.read(params.get(spec.param))
        default = spec.default if isinstance(spec.default, str) else f"{spec.default:g}"
        _unreadable(params, spec.param, value is not None, spec.expected(), f"using {default}")
        kept[spec.param] = spec.default if value is None else value


def _unreadable(params: dict[str, str], name: str, usable: bool, expected: str, instead: str) -> None:
    """Report a link parameter that is there but unusable (the address then drops it)."""
    if params.get(name) is not None and not usable:
        _notify(f"The link's {name}={params[name]!r} is not {expected}; {instead}.")


def _apply_prevalence(model: str, params: dict[str, str]) -> None:
    """The Fraud threshold link's deployment prevalence ("prev", a fraction) and where to decide
    ("decide"); an unusable value is reported and the model's own prevalence kept."""
    st.session_state.pop(DEPLOY, None)
    text = params.get("prev")
    value = _float(text)
    if value is not None and 0 < value < 1:
        st.session_state[DEPLOY] = {"model": model, "value": value, "default": None}
    elif text is not None:
        _notify(f"The link's deployment prevalence prev={text!r} is not a fraction strictly between 0 and 1 "
                "(0.00172 for 0.172%); using the model's own.")
    st.session_state[DECIDE_AT] = params.get("decide") if params.get("decide") in DECIDE_CHOICES else DECIDE_CHOICES[0]
    st.session_state[SCORER] = params.get("scorer") or DEFAULT_SCORER  # the page checks the model has it


def use_scorer(model: str) -> None:
    """After the scorer changed: the chosen scorer's own threshold is in force."""
    st.session_state[THRESHOLD] = {"model": model, "value": None, "strategy": MODEL_THRESHOLD, "params": {}}


# --- the page's life cycle ----------------------------------------------------------------------

def begin(page: str) -> None:
    """Before a page runs: read its state from the URL when the URL (or the page) changed from
    outside — a link, Back, Forward — and say what a link asked for that could not be shown."""
    st.session_state[_PAGE] = page
    now = (page, st.query_params.to_dict())
    if now not in (st.session_state.get(_WRITTEN), st.session_state.get(_SEEN)):
        apply_params(page, now[1])
        st.session_state[_SEEN] = now
        st.session_state[_WRITTEN] = (page, params_for(page))
        if st.session_state.get(_NOTICE):  # the link asked for something unusable: show what is shown
            st.query_params.from_dict(st.session_state[_WRITTEN][1])
            st.session_state[_SEEN] = st.session_state[_WRITTEN]
    notice = st.session_state.pop(_NOTICE, None)
    if notice:
        st.warning(notice, icon=":material/link_off:")


def end() -> None:
    """After a page (or a fragment of it) ran: write its view into the URL when it changed (one
    browser history entry per deliberate change, none per rerun)."""
    page = st.session_state.get(_PAGE)
    if page is None:
        return
    wanted = (page, params_for(page))
    if wanted != st.session_state.get(_WRITTEN):
        st.query_params.from_dict(wanted[1])
        st.session_state[_WRITTEN] = st.session_state[_SEEN] = wanted


def link_params(page: str) -> dict[str, str]:
    """The query parameters a link to `page` carries: that page's current view."""
    return params_for(page)
