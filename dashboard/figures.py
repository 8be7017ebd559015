"""Plotly figure builders for the dashboard: arrays in, `go.Figure` out.

Scatter plots use WebGL (`Scattergl`) so tens of thousands of points stay responsive; histograms
and density maps arrive pre-binned, so a figure's size does not grow with the data.

The pages draw these with Streamlit's Plotly theme (st.plotly_chart's default), which sets the
background, text and grid colours for the light or dark theme the browser shows; colours set here
read on both (at least 3:1 against either background for guides such as the threshold line, 2:1
for data), so no figure needs to know the theme.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

if TYPE_CHECKING:
    from vae_core.images.anatomy import Anatomy, BetaRow

# Ten distinct colours for digits (Plotly's D3 palette) and a clear normal/fraud pair.
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
FRAUD_COLOURS = {0: "#4c78a8", 1: "#e45756"}
OUTCOME_COLOURS = {"TP": "#2ca02c", "FP": "#ff7f0e", "FN": "#d62728", "TN": "#9e9e9e"}
# Guides (threshold line, chance and prevalence lines, the prior's circle, rings and markers of the
# current point): a mid grey, ≥ 3:1 against white and against the dark theme's background.
GUIDE = "#808080"
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def wrapped(text: str, width: int = 30) -> str:
    """`text` on lines of at most `width` characters (broken at spaces), joined by Plotly's <br>: a
    long axis title then fits beside a short chart instead of running past it."""
    return "<br>".join(textwrap.wrap(text, width)) or text


def _layout(fig: go.Figure, title: str | None = None, height: int = 420, **kwargs) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=_MARGIN, **kwargs)
    return fig


def latent_scatter(xy: np.ndarray, labels: np.ndarray, label_names: dict[int, str], rows: np.ndarray,
                   hover: Sequence[str], axis_titles: tuple[str, str], *, selected: int | None = None,
                   colours: dict[int, str] | None = None, title: str | None = None,
                   monospace_hover: bool = True) -> go.Figure:
    """μ scatter, one WebGL trace per class; customdata holds each point's row number.

    xy: (n, 2); labels: (n,); rows: (n,) row numbers into the data; hover: (n,) text.
    `selected` (a row number) is ringed.
    """
    fig = go.Figure()
    hover = np.asarray(hover, dtype=object)
    for k, (label, name) in enumerate(label_names.items()):
        mask = labels == label
        if not mask.any():
            continue
        colour = (colours or {}).get(label, CLASS_COLOURS[k % len(CLASS_COLOURS)])
        fig.add_trace(go.Scattergl(
            x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=name,
            marker={"size": 5, "color": colour, "opacity": 0.75},
            customdata=rows[mask], hovertext=hover[mask], hoverinfo="text"))
    if selected is not None and (rows == selected).any():
        at = int(np.flatnonzero(rows == selected)[0])
        fig.add_trace(go.Scattergl(
            x=[xy[at, 0]], y=[xy[at, 1]], mode="markers", name="selected", hoverinfo="skip",
            marker={"size": 16, "color": "rgba(0,0,0,0)", "line": {"color": GUIDE, "width": 2.5}}))
    fig.update_xaxes(title=axis_titles[0])
    fig.update_yaxes(title=axis_titles[1])
    hoverlabel = {"font": {"family": "DejaVu Sans Mono, Menlo, Consolas, monospace", "size": 11}} if monospace_hover else {}
    return _layout(fig, title, height=560, legend={"itemsizing": "constant"}, hoverlabel=hoverlabel,
                   clickmode="event+select", dragmode="pan")


def loss_chart(curves: dict[str, list[float]], title: str = "Loss per epoch (nats per example)") -> go.Figure:
    """Training (solid) and validation (dashed) curves for loss, reconstruction and KL."""
    fig = go.Figure()
    colours = {"loss": "#1f77b4", "reconstruction": "#2ca02c", "kl": "#d62728"}
    names = {"loss": "total", "reconstruction": "reconstruction", "kl": "KL"}
    for key, values in curves.items():
        base = key.removeprefix("val_")
        validation = key.startswith("val_")
        fig.add_trace(go.Scatter(
            x=list(range(1, len(values) + 1)), y=values, mode="lines+markers",
            name=f"{names[base]} ({'validation' if validation else 'train'})",
            line={"color": colours[base], "dash": "dash" if validation else "solid"}))
    fig.update_xaxes(title="epoch", dtick=1 if len(next(iter(curves.values()), [])) <= 20 else None)
    fig.update_yaxes(title="nats")
    return _layout(fig, title, height=340)


def scorer_costs(curves: dict[str, dict[str, np.ndarray]], where: str) -> go.Figure:
    """Cost per 1,000 rows against alerts per 1,000, one line per scorer (fraud_analysis.scorer_cost_curves):
    the first (the VAE) solid, the baselines dashed; `where` says at which prevalence."""
    fig = go.Figure()
    for i, (name, curve) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=curve["alerts_per_1000"], y=curve["cost_per_1000"], mode="lines", name=name,
                                 line={"color": CLASS_COLOURS[i % len(CLASS_COLOURS)], "dash": "dash" if i else "solid"},
                                 hovertemplate="%{x:.1f} alerts · €%{y:,.0f}<extra>" + name + "</extra>"))
    fig.update_xaxes(title="alerts per 1,000 transactions", type="log")
    # Up to 1.5 × flagging nothing: flagging nearly everything costs far more and would flatten the rest
    # (double-click the chart for the whole range).
    lowest = min(float(np.min(curve["cost_per_1000"])) for curve in curves.values())
    ceiling = 1.5 * max(float(curve["cost_per_1000"][0]) for curve in curves.values())
    fig.update_yaxes(title="cost per 1,000 transactions (€)", range=[0.9 * lowest, ceiling])
    return _layout(fig, f"Cost by how much each scorer flags, {where}", height=340)


def feature_bars(names: Sequence[str], values: np.ndarray, *, compare: np.ndarray | None = None,
                 labels: tuple[str, str] = ("decoded", "input"), title: str | None = None,
                 value_title: str = "standardised value") -> go.Figure:
    """One bar per feature; with `compare`, two bars per feature side by side."""
    fig = go.Figure(go.Bar(x=list(names), y=np.asarray(values, float), name=labels[0], marker_color="#4c78a8"))
    if compare is not None:
        fig.add_trace(go.Bar(x=list(names), y=np.asarray(compare, float), name=labels[1], marker_color="#f58518"))
    fig.update_yaxes(title=wrapped(value_title), automargin=True)
    return _layout(fig, title, height=320, barmode="group", legend={"orientation": "h", "y": 1.12})


def feature_heatmap(names: Sequence[str], values: np.ndarray, row_titles: Sequence[str],
                    title: str | None = None) -> go.Figure:
    """values (k, d) as a heatmap: one row per decoded point, one column per feature."""
    fig = go.Figure(go.Heatmap(x=list(names), y=list(row_titles), z=np.asarray(values, float),
                               colorscale="RdBu", zmid=0.0))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=max(220, 28 * len(row_titles) + 90))


# --- lessons: AE vs VAE, ELBO anatomy, β ------------------------------------------------------------

def _prior_circle(fig: go.Figure, radius: float) -> None:
    fig.add_shape(type="circle", x0=-radius, y0=-radius, x1=radius, y1=radius, layer="below",
                  fillcolor="rgba(128,128,128,0.12)", line={"color": GUIDE, "dash": "dash", "width": 1.5})


def code_scatter(mu: np.ndarray, labels: np.ndarray, title: str, *, rows: np.ndarray | None = None,
                 height: int = 420, legend: bool = True) -> go.Figure:
    """Codes (n, ≥2) coloured by digit (WebGL), with the prior's 95% circle (‖z‖ ≤ 2.45 in 2-D)."""
    fig = go.Figure()
    for digit in range(10):
        mask = labels == digit
        if not mask.any():
            continue
        fig.add_trace(go.Scattergl(
            x=mu[mask, 0], y=mu[mask, 1] if mu.shape[1] > 1 else np.zeros(mask.sum()), mode="markers",
            name=str(digit), marker={"size": 4, "color": CLASS_COLOURS[digit], "opacity": 0.7},
            customdata=None if rows is None else rows[mask],
            hovertemplate=f"digit {digit}<br>z0 %{{x:.2f}}, z1 %{{y:.2f}}<extra></extra>"))
    _prior_circle(fig, float(np.sqrt(5.991)))  # χ²₂ 95% quantile
    fig.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"itemsizing": "constant"}, showlegend=legend, dragmode="pan")
    fig.update_xaxes(title="z0")
    fig.update_yaxes(title="z1", scaleanchor="x", scaleratio=1)
    return fig


def terms_chart(curves: dict[str, list[float]], beta: float = 1.0) -> go.Figure:
    """Reconstruction and KL per epoch as stacked areas (training), validation dashed on top."""
    epochs = list(range(1, len(curves["reconstruction"]) + 1))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=epochs, y=curves["kl"], name="KL (train)", stackgroup="train",
                             line={"color": "#e45756"}))
    fig.add_trace(go.Scatter(x=epochs, y=curves["reconstruction"], name="reconstruction (train)",
                             stackgroup="train", line={"color": "#4c78a8"}))
    if "val_reconstruction" in curves and "val_kl" in curves:
        total = [r + k for r, k in zip(curves["val_reconstruction"], curves["val_kl"])]
        fig.add_trace(go.Scatter(x=epochs, y=total, name="−ELBO (validation)", mode="lines+markers",
                                 line={"color": GUIDE, "dash": "dash"}))
    title = "The two terms of −ELBO per epoch (nats per image; stacked)"
    if beta != 1.0:
        title += f" · trained with β = {beta:g}"
    fig.update_layout(title=title, height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      hovermode="x unified")
    fig.update_xaxes(title="epoch", dtick=1 if len(epochs) <= 20 else None)
    fig.update_yaxes(title="nats", rangemode="tozero")
    return fig


def posterior_chart(anatomy: Anatomy, max_dims: int = 32) -> go.Figure:
    """μ ± σ per latent dim (bars with error bars) against the prior's 0 ± 1, and each draw of z."""
    k = min(len(anatomy.mu), max_dims)
    names = [f"z{i}" for i in range(k)]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=names, y=[0] * k, mode="markers", name="prior N(0, 1)",
                             error_y={"type": "constant", "value": 1.0, "color": "#9e9e9e", "thickness": 6, "width": 0},
                             marker={"color": "#9e9e9e", "size": 6}))
    fig.add_trace(go.Scatter(x=names, y=anatomy.mu[:k], mode="markers", name="q(z|x): μ ± σ",
                             error_y={"type": "data", "array": anatomy.sigma[:k], "color": "#4c78a8", "thickness": 2},
                             marker={"color": "#4c78a8", "size": 10}))
    for s, z in enumerate(anatomy.z_samples):
        fig.add_trace(go.Scatter(x=names, y=z[:k], mode="markers", name="draws of z" if s == 0 else None,
                                 showlegend=s == 0, legendgroup="draws",
                                 marker={"color": "#f58518", "size": 6, "symbol": "x"}))
    fig.update_layout(title="Posterior per latent dim", height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_yaxes(title="value")
    return fig


def beta_chart(rows: list[BetaRow]) -> go.Figure:
    """Reconstruction vs KL, one point per model labelled by β (marker size ∝ spread of μ)."""
    fig = go.Figure(go.Scatter(
        x=[r.kl for r in rows], y=[r.reconstruction for r in rows], mode="markers+text",
        text=[f"β={r.beta:g}" for r in rows], textposition="top center",
        marker={"size": [10 + 20 * min(1.5, r.spread["mean_std"]) for r in rows], "color": "#4c78a8", "opacity": 0.8},
        customdata=[[r.name, r.spread["mean_std"]] for r in rows],
        hovertemplate="%{customdata[0]}<br>KL %{x:.2f} nats<br>reconstruction %{y:.2f} nats"
                      "<br>mean std of μ %{customdata[1]:.2f}<extra></extra>"))
    fig.update_layout(title="Reconstruction vs KL, by β (size: spread of μ)", height=360,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_xaxes(title="KL (nats per image)")
    fig.update_yaxes(title="reconstruction (nats per image)")
    return fig

