"""Words, numbers and tables as people read them: labels, captions, hover text, table rows.

Plain functions of engine results; nothing here computes a model output.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_core import registry, sources
from vae_core.tables import thresholds
from vae_core.tables.fraud import PREVALENCE_NOTE

if TYPE_CHECKING:
    from pathlib import Path

    from vae_core.images.anatomy import Anatomy, BetaRow
    from vae_core.images.compare import Comparison
    from vae_core.tables.fraud import FraudModel, ScoredData
    from vae_core.registry import ModelInfo

DIGIT_NAMES = {i: str(i) for i in range(10)}
FRAUD_NAMES = {0: "normal", 1: "fraud"}
KIND_NAMES = {"mnist": "Digits (MNIST)", "fraud": "Transactions (fraud)"}
MNIST_SOURCE_LABELS = {"auto": "Best available", "bundled": "Bundled 5,000 digits (offline)",
                       "path": "A folder of IDX files or an mnist.npz"}
TRAINING_SOURCE_LABELS = {"auto": "Best available", "path": "A CSV path", "upload": "Upload a CSV",
                          "synthetic": "Synthetic transactions"}
VIEW_SOURCE_LABELS = {"model": "The model's training data", "upload": "An uploaded CSV",
                      "synthetic": "Synthetic transactions"}
STRATEGY_LABELS = thresholds.STRATEGY_NAMES
PROJECTION_LABELS = {"dims": "Two latent dims", "pca": "PCA", "tsne": "t-SNE"}
# Plotly's hover label cannot show an image, so a digit's hover carries a 14×14 text thumbnail.
_HALF_BLOCKS = np.array(["\u00a0", "\u2580", "\u2584", "\u2588"])  # nbsp, upper, lower, full block


VAE_SCORER_NAME = "VAE (this model)"  # the VAE beside the stored baselines in tables and curves
VIEW_ONLY_BADGE = "View only"
VIEW_ONLY_NOTE = ("This server is view only: training, deleting, renaming and importing models are off. Exploring, "
                  "threshold tuning, scoring uploads, downloads and share links work as usual.")


# --- models -------------------------------------------------------------------------------------

def model_variant(info: ModelInfo) -> str:
    """'VAE', 'AE', 'conditional VAE'…, for a valid entry."""
    config = info.vae_config
    name = "VAE" if config.variational else "AE"
    return f"conditional {name}" if config.conditional else name


def model_label(info: ModelInfo) -> str:
    """One line naming a model for pickers: 'name — MNIST VAE, latent 2'."""
    if not info.valid:
        return f"{info.name} — broken"
    dataset = {"mnist": "MNIST", "fraud": "fraud"}.get(info.kind or "", info.kind or "?")
    return f"{info.name} — {dataset} {model_variant(info)}, latent {info.vae_config.latent_dim}"


def registry_folder_text(root: Path) -> str:
    """The registry folder in use, without the machine's path: the project's `models/`, or the end of
    the VAE_MODELS_DIR path."""
    if root.resolve() == registry.DEFAULT_MODELS_DIR.resolve():
        return "`models/` (set VAE_MODELS_DIR to use another)"
    return f"`{short_source(str(root.resolve()))}/` (VAE_MODELS_DIR)"


def headline_metric(info: ModelInfo) -> str:
    """The metric people compare for this kind of model, as text ('' when none); an autoencoder has
    no ELBO, so its figure is named as its reconstruction loss."""
    metrics = info.metadata.get("metrics", {}) or {}
    if "test_neg_elbo" in metrics and not info.vae_config.variational:
        return f"test reconstruction loss {metrics['test_neg_elbo']:.1f} nats"
    if "test_neg_elbo" in metrics:
        bound = (f", −log p(x) ≤ {metrics['test_iw_nll']:.1f} (IWAE, {metrics['iw_samples']:,} draws)"
                 if isinstance(metrics.get("test_iw_nll"), (int, float)) and metrics.get("iw_samples") else "")
        return f"test −ELBO {metrics['test_neg_elbo']:.1f} nats{bound}"
    parts = [f"{label} {metrics[key]:.3f}" for key, label in (("roc_auc", "AUROC"), ("average_precision", "AP"))
             if isinstance(metrics.get(key), (int, float))]
    if parts and isinstance(metrics.get("prevalence"), (int, float)):
        parts.append(f"at {metrics['prevalence']:.1%} fraud prevalence")  # AP depends on it
    return ", ".join(parts)


_METRIC_LABELS = {"test_neg_elbo": "test −ELBO {:.1f} nats", "test_reconstruction": "reconstruction {:.1f}",
                  "test_kl": "KL {:.2f}", "test_iw_nll": "−log p(x) ≤ {:.1f} nats (IWAE)", "roc_auc": "AUROC {:.3f}", "average_precision": "AP {:.3f}",
                  "precision": "precision {:.3f}", "recall": "recall {:.3f}", "f1": "F1 {:.3f}",
                  "prevalence": "at {:.1%} fraud prevalence"}


NO_ALERTS = "—, no alerts"


def precision_text(precision: float | None) -> str:
    """Precision to three places, or NO_ALERTS where nothing is flagged (TP / alerts has no value)."""
    return NO_ALERTS if precision is None else f"{precision:.3f}"


def metrics_text(metrics: dict[str, Any]) -> str:
    """A finished training's headline metrics as one readable line."""
    return ", ".join(template.format(metrics[key]) for key, template in _METRIC_LABELS.items()
                     if isinstance(metrics.get(key), (int, float)))


def short_source(text: str | None) -> str:
    """A recorded data source without machine paths: 'MNIST IDX files in …/data/mnist'."""
    if not text:
        return "unknown"
    words = []
    for word in str(text).split(" "):
        if "/" in word and len(word) > 1:
            parts = [p for p in word.split("/") if p]
            word = "…/" + "/".join(parts[-2:]) if len(parts) > 2 else word
        words.append(word)
    return " ".join(words)


def architecture_text(info: ModelInfo) -> str:
    """'dense 512-256, latent 2, Bernoulli' (or 'conv 32-64 → 16, …'); a decoder of its own sizes
    and SiLU layers are named: 'dense 512-256, decoder 256-512-1024, SiLU, latent 20, Bernoulli'."""
    config = info.vae_config
    if config.architecture == "conv":
        parts = [f"conv {'-'.join(map(str, config.conv_filters))} → {config.conv_dense_units}"]
    else:
        parts = [f"dense {'-'.join(map(str, config.hidden_units))}"]
        if config.decoder_hidden_units:
            parts.append(f"decoder {'-'.join(map(str, config.decoder_hidden_units))}")
    if config.activation != "relu":
        parts.append({"silu": "SiLU"}.get(config.activation, config.activation))
    extras = [f"β {config.beta:g}"] if config.beta != 1.0 else []
    return ", ".join([*parts, f"latent {config.latent_dim}", config.likelihood.capitalize(), *extras])


def model_table(infos: list[ModelInfo], active: dict[str, str | None]) -> list[dict[str, Any]]:
    """Rows for the Models table, one per valid model: readable columns, no raw JSON."""
    rows = []
    for info in infos:
        if not info.valid:
            continue
        metadata = info.metadata
        rows.append({
            "active": "✓" if active.get(info.kind or "") == info.name else "",
            "name": info.name,
            "kind": KIND_NAMES.get(info.kind or "", info.kind),
            "model": model_variant(info),
            "architecture": architecture_text(info),
            "result": headline_metric(info),
            "epochs": metadata.get("epochs_run"),
            "training s": metadata.get("training_seconds"),
            "trained on": short_source(metadata.get("data_source")),
            "created": str(metadata.get("created") or "")[:16].replace("T", " "),
        })
    return rows


def baseline_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """A fraud model's test metrics beside the baselines stored with it: one row per scorer ([] when
    the model was saved without baselines)."""
    baselines = metrics.get("baselines")
    if not isinstance(baselines, dict):
        return []
    keys = ("roc_auc", "average_precision", "recall_at_1pct_fpr", "min_cost")
    scorers = {VAE_SCORER_NAME: metrics, **{name: row for name, row in baselines.items() if isinstance(row, dict)}}
    return [{"scorer": name, "AUROC": row.get("roc_auc"), "AP": row.get("average_precision"),
             "recall at 1% FPR": row.get("recall_at_1pct_fpr"), "minimum cost (€)": row.get("min_cost")}
            for name, row in scorers.items() if any(isinstance(row.get(key), (int, float)) for key in keys)]


METRIC_NAMES = {
    "test_iw_nll": "Test −log p(x) (IWAE, nats)", "iw_samples": "IWAE draws per image",
    "iw_seconds": "IWAE evaluation time (s)", "n_test": "Test images",
    "test_neg_elbo": "Test −ELBO (nats)", "test_reconstruction": "Test reconstruction −log p(x|z) (nats)",
    "test_kl": "Test KL (nats)", "train_neg_elbo": "Training −ELBO (nats)", "val_neg_elbo": "Validation −ELBO (nats)",
    "evaluated_on": "Evaluated on", "n": "Rows", "prevalence": "Fraud prevalence", "threshold": "Threshold (score)",
    "alerts": "Alerts", "tp": "Frauds flagged (TP)", "fp": "Normal rows flagged (FP)", "fn": "Frauds missed (FN)",
    "tn": "Normal rows passed (TN)", "precision": "Precision", "recall": "Recall", "f1": "F1",
    "fpr": "False-positive rate", "roc_auc": "ROC AUC", "average_precision": "Average precision",
    "recall_at_1pct_fpr": "Recall at 1% false positives", "cost": "Total cost (€)", "min_cost": "Minimum cost (€)",
}
# An autoencoder has no ELBO: its loss is the reconstruction alone, and its KL is not a figure of it.
_AE_METRIC_NAMES = {"test_neg_elbo": "Test reconstruction loss (nats)",
                    "train_neg_elbo": "Training reconstruction loss (nats)",
                    "val_neg_elbo": "Validation reconstruction loss (nats)",
                    "test_reconstruction": None, "test_kl": None}


def metrics_rows(metrics: dict[str, Any], variational: bool = True) -> list[dict[str, Any]]:
    """A model's saved metrics as (metric, value) rows: named for people, with readable numbers.
    `variational` False (an autoencoder) names its losses as reconstruction losses and drops KL."""
    names = METRIC_NAMES if variational else {**METRIC_NAMES, **_AE_METRIC_NAMES}
    rows = []
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            continue
        label = names.get(key, key.replace("_", " ").capitalize())
        if label is None:
            continue
        shown = f"{value:,}" if isinstance(value, int) else f"{value:.4g}" if isinstance(value, float) else value
        rows.append({"metric": label, "value": shown})
    return rows


def loss_history(epoch_losses: tuple[dict[str, float], ...] | list[dict[str, float]],
                 epoch_val_losses: tuple[dict[str, float], ...] | list[dict[str, float]]) -> dict[str, list[float]]:
    """Per-epoch curves for the loss chart: {'loss', 'reconstruction', 'kl', 'val_loss', ...} → lists."""
    curves: dict[str, list[float]] = {}
    for prefix, rows in (("", epoch_losses), ("val_", epoch_val_losses)):
        for key in ("loss", "reconstruction", "kl"):
            values = [row[key] for row in rows if key in row]
            if values and len(values) == len(rows):
                curves[prefix + key] = values
    return curves


# --- data ---------------------------------------------------------------------------------------

def sources_text() -> dict[str, list[str]]:
    """What data is here, as lines for the Home page: kind, short name and when it is used."""
    return {kind: [f"**{s.kind}** — {s.name}: {s.note}" for s in found] for kind, found in sources.available().items()}


def best_source_note(kind: str) -> str:
    """Which source "best available" picks here, in a few words (for captions)."""
    first = sources.available()[kind][0]
    return f"{first.kind} — {first.name}"


def describe(scored: ScoredData) -> str:
    """'<source> · <which rows> · n rows, k frauds (p%)' for the data banner."""
    text = f"{short_source(scored.source)} · {scored.evaluated_on} · {len(scored.scores):,} rows"
    if scored.labels is not None:
        frauds = int(scored.labels.sum())
        text += f", {frauds:,} frauds ({frauds / max(1, len(scored.labels)):.2%})"
    else:
        text += " (no label column: which rows are frauds is unknown)"
    return text


def constraint_caption(model: FraudModel) -> str | None:
    """What a constrained score weighs beyond the squared error, in words; None for other scores."""
    if model.constraints is None:
        return None
    relations = "; ".join(model.constraints.describe(model.feature_names))
    return ("Beyond the squared error, the score weighs how far a row breaks the linear relation that the "
            f"training normals' errors keep, in standardised units: {relations}. The features of a broken "
            "relation share its weight in these bars.")


def prevalence_text(prevalence: float | None) -> str:
    """This data's fraud prevalence, next to the two reference values."""
    here = "unknown (no labels)" if prevalence is None else f"{prevalence:.3%}"
    return f"Fraud prevalence here: {here}. {PREVALENCE_NOTE}"


# --- hover text ---------------------------------------------------------------------------------

def text_thumbnails(images: np.ndarray, threshold: float = 0.35) -> list[str]:
    """(n, 28, 28[, 1]) → n hover-label thumbnails: 2×2-pooled to 14×14, two rows per text line
    (half-block characters), joined by '<br>' for Plotly's monospace hover label."""
    n = len(images)
    if n == 0:
        return []
    pooled = np.asarray(images, np.float32).reshape(n, 14, 2, 14, 2).mean(axis=(2, 4)) > threshold
    codes = pooled[:, 0::2, :].astype(np.int8) + 2 * pooled[:, 1::2, :].astype(np.int8)  # (n, 7, 14)
    chars = _HALF_BLOCKS[codes]
    return ["<br>".join("".join(line) for line in image) for image in chars]


def digit_hover(rows: np.ndarray, labels: np.ndarray, images: np.ndarray) -> list[str]:
    """'test #12 · digit 7' plus a text thumbnail, per row."""
    return [f"test #{i} · digit {y}<br>{t}"
            for i, y, t in zip(rows.tolist(), labels.tolist(), text_thumbnails(images))]


def fraud_hover(scored: ScoredData, feature_names: tuple[str, ...], positions: np.ndarray) -> list[str]:
    """Row, class, amount, score and the three worst-reconstructed features, per scored position."""
    errors = scored.feature_errors[positions]
    worst = np.argsort(-errors, axis=1)[:, :3]
    amounts = None if scored.amounts is None else scored.amounts[positions]
    lines = []
    for k, position in enumerate(positions.tolist()):
        label = "" if scored.labels is None else f" · {FRAUD_NAMES[int(scored.labels[position])]}"
        amount = "" if amounts is None else f"<br>amount {money(amounts[k], cents=True)}"
        worst_text = ", ".join(f"{feature_names[j]} {errors[k, j]:.1f}" for j in worst[k])
        lines.append(f"row {int(scored.rows[position])}{label}{amount}<br>score {scored.scores[position]:.2f}"
                     f"<br>worst reconstructed: {worst_text}")
    return lines


# --- lessons ------------------------------------------------------------------------------------

def comparison_table(comparison: Comparison) -> list[dict[str, Any]]:
    """One row per model, the numbers the AE vs VAE page shows."""
    table = []
    for m in comparison.models:
        row = {
            "model": m.name, "type": m.kind,
            "reconstruction −log p(x|μ) (nats)": round(m.reconstruction["nll"], 2),
            "reconstruction MSE per pixel": round(m.reconstruction["mse"], 5),
            "KL (nats)": round(m.test_kl, 2),
            "codes inside N(0, I)'s 95% ball": f"{m.spread['inside_prior']:.0%}",
            "mean ‖code‖": round(m.spread["mean_norm"], 2),
        }
        if m.quality is not None:
            row["prior samples: mean max class prob."] = round(m.quality["mean_max_prob"], 3)
            row["prior samples: digit score (1–10)"] = round(m.quality["digit_score"], 2)
            row["prior samples: most common digit"] = (
                f"{int(np.argmax(m.quality['class_share']))} ({np.max(m.quality['class_share']):.0%})")
        table.append(row)
    return table


def clock(seconds: float) -> str:
    """Seconds as m:ss (h:mm:ss from an hour)."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def queue_text(position: int, wait_seconds: float, waited_seconds: float) -> str:
    """A queued training's line: its place in line, the estimated wait and how long it has waited."""
    wait = ("the wait shows once a training ahead has measured its pace" if math.isnan(wait_seconds)
            else f"starts in about {clock(wait_seconds)}")
    ahead = "it is next" if position == 1 else f"{position - 1} ahead of it"
    return (f"Queued: number {position} in line for a training slot ({ahead}) · {wait} · "
            f"waiting {clock(waited_seconds)}")


def drift_feature_rows(features: list[dict]) -> list[dict]:
    """The drift check's features, most moved first, as table rows."""
    return [{"feature": f["name"], "KS D": round(f["ks"], 3), "mean shift (validation sd)": round(f["shift_sd"], 2)}
            for f in features]


def segment_table_rows(rows: list[dict], first: str) -> list[dict]:
    """fraud_analysis.segment_rows / window_rows as table rows headed `first` ("Amount", "Hour of day",
    "Window"): counts, and rates as percentages (blank where undefined: no fraud, nothing flagged)."""
    def percent(value: float | None) -> float | None:
        return None if value is None else round(100 * value, 1)

    table = []
    for row in rows:
        shown = {first: row["segment"], "rows": row["rows"]}
        if "frauds" in row:
            shown["frauds"] = row["frauds"]
        shown |= {"flagged": row["flagged"], "alert rate %": percent(row["alert_rate"])}
        if "frauds" in row:
            shown |= {"recall %": percent(row["recall"]), "precision %": percent(row["precision"]),
                      "FPR %": percent(row["fpr"])}
        table.append(shown)
    return table


def neighbour_rows(indices, distances, file_rows, scores, labels, amounts, threshold: float) -> list[dict]:
    """A fraud map point's nearest points as table rows: file row, class, Amount, score, whether the
    threshold in force flags it, and the latent distance. indices, distances (k,); the rest (n,)
    aligned with the map's points (labels and amounts may be None)."""
    table = []
    for index, distance in zip(indices, distances):
        row = {"file row": int(file_rows[index])}
        if labels is not None:
            row["class"] = "fraud" if labels[index] else "normal"
        if amounts is not None:
            row["Amount"] = money(float(amounts[index]), cents=True)
        row |= {"score": f"{float(scores[index]):.2f}", "flagged": "yes" if scores[index] >= threshold else "no",
                "distance": f"{float(distance):.3f}"}
        table.append(row)
    return table


def window_spread_text(rows: list[dict]) -> str:
    """How much recall and the alert rate move from one time window to the next, in one line."""
    alerts = [row["alert_rate"] for row in rows]
    text = (f"Across {len(rows)} time windows of equal size, the alert rate runs from {min(alerts):.2%} to "
            f"{max(alerts):.2%}")
    recalls = [row["recall"] for row in rows if row.get("recall") is not None]
    if recalls:
        text += f" and recall from {min(recalls):.1%} to {max(recalls):.1%}"
    return text + " at this threshold."


def drift_metrics_text(metrics: dict) -> str:
    """A labelled batch's quality at the threshold in force, in one line."""
    return (f"On the batch's labels at this threshold: precision {metrics['precision']:.3f}, recall "
            f"{metrics['recall']:.3f}, ROC AUC {metrics['roc_auc']:.3f}, {metrics['alerts']:,} alerts in "
            f"{metrics['n']:,} rows.")


def sweep_progress_text(beta: float, elapsed: float, fraction: float) -> str:
    """The β sweep's progress line: which VAE trains, the time elapsed and, from the share done so
    far (once 5% is), the time left at that pace."""
    left = (f"about {clock(elapsed * (1 - fraction) / fraction)} left" if fraction >= 0.05
            else "estimating the time left")
    return f"Training the VAE for β {beta:g} · {clock(elapsed)} elapsed, {left}"


# Money columns of st.dataframe tables: whole euros with thousands separators, as `money` writes them.
MONEY_COLUMN = "€%,.0f"


def money(euros: float, cents: bool | None = False) -> str:
    """Euros as every page writes them: €1,149 (whole euros), €1,149.50 (cents=True), or for
    cents=None whole euros unless the amount has cents (a typed fee of 12.5 reads €12.50)."""
    if cents is None:
        cents = not float(euros).is_integer()
    text = f"€{abs(euros):,.{2 if cents else 0}f}"
    return f"-{text}" if euros < 0 else text


def distinct_numbers(first: float, second: float, digits: int = 4) -> tuple[str, str]:
    """Both numbers to `digits` significant digits, or as many more (up to 17) as it takes for
    different numbers to read differently: (118.4, 118.4) → ('118.41', '118.44')."""
    for places in range(digits, 18):
        texts = f"{first:.{places}g}", f"{second:.{places}g}"
        if texts[0] != texts[1] or first == second:
            return texts
    return texts


def flagged_caption(flagged: int, listed: int) -> str:
    """How many rows are flagged, and which of them the table lists."""
    if flagged <= listed:
        return f"{flagged:,} flagged, all listed."
    return f"{flagged:,} flagged; the {listed:,} highest scores are listed (the CSV export has all)."


def outcome_scatter_title(shown: int, n_positive: int, n_rows: int, names: tuple[str, str]) -> str:
    """The latent-by-outcome chart's title: how many rows it shows and whether normal rows were sampled."""
    normal = f"sampled {names[0]} rows" if shown < n_rows else f"every {names[0]} row"
    return f"μ of {shown:,} rows (every {names[1]} row, {normal})" if n_positive else f"μ of {shown:,} rows ({normal})"


def reconstruction_at_mu_text(nll_at_mu: float, reconstruction: float, draws: int) -> str:
    """What decoding μ itself says next to the mean over `draws` draws, in the order the two
    numbers actually have (as shown, to 0.1 nats)."""
    at_mu, mean = round(nll_at_mu, 1), round(reconstruction, 1)
    start = f"At μ itself the reconstruction term would be {at_mu:.1f} nats"
    if at_mu < mean:
        return (f"{start}, {mean - at_mu:.1f} less than the mean over the {draws} draws: the draws pay for the "
                "encoder's uncertainty.")
    if at_mu > mean:
        return (f"{start}, {at_mu - mean:.1f} more than the mean over the {draws} draws: for this image, points "
                "near μ decode it better than μ does (a mean over few draws also varies from seed to seed).")
    return f"{start}, the same as the mean over the {draws} draws: here the encoder's uncertainty costs nothing."


def anatomy_table(anatomy: Anatomy) -> list[dict[str, Any]]:
    """Per latent dim: μ, σ and that dim's share of the KL."""
    return [{"dim": f"z{i}", "μ": round(float(m), 3), "σ": round(float(s), 3), "KL (nats)": round(float(k), 3)}
            for i, (m, s, k) in enumerate(zip(anatomy.mu, anatomy.sigma, anatomy.kl_per_dim))]


def beta_table(rows: list[BetaRow]) -> list[dict[str, Any]]:
    """One row per model on the β trade-off."""
    return [{"model": r.name, "β": r.beta, "latent dim": r.latent_dim,
             "reconstruction (nats)": round(r.reconstruction, 2), "KL (nats)": round(r.kl, 2),
             "−ELBO at β=1 (nats)": round(r.reconstruction + r.kl, 2),
             "spread: mean std of μ": round(r.spread["mean_std"], 3),
             "active dims": r.spread["active_dims"],
             "codes inside N(0, I)'s 95% ball": f"{r.spread['inside_prior']:.0%}"} for r in rows]


BETA_TABLE_IMAGES = 2000  # the β table measures the first this many test images


def beta_table_basis(n_images: int) -> str:
    """Which images the β table measures, and why its figures differ from the other pages'."""
    return (f"Measured here on the first {n_images:,} test images, one draw of z each. Home and Models show the "
            "−ELBO over the whole test set from training time, and AE vs VAE counts codes inside the 95% ball on "
            "its own random sample of test images: the same model's figures differ slightly between them.")


def comparison_basis(n_points: int, seed: int) -> str:
    """Which images the AE vs VAE table measures, and why its figures differ from the other pages'."""
    return (f"Codes of {n_points:,} test images drawn at random (seed {seed}). The β table on ELBO anatomy uses "
            f"the first {BETA_TABLE_IMAGES:,} test images, and Home and Models the whole test set: the same model's "
            "figures differ slightly between them.")


def compare_commentary(comparison: Comparison) -> dict[str, str]:
    """What the AE vs VAE page says about each panel, following the measured values (never a fixed
    claim that the numbers beside it could contradict): keys "codes", "samples", "reconstruction"."""
    ae, vae = comparison.models
    inside_ae, inside_vae = ae.spread["inside_prior"], vae.spread["inside_prior"]
    measured = (f"Measured here: the autoencoder has {inside_ae:.0%} of its codes inside the circle (mean ‖z‖ "
                f"{ae.spread['mean_norm']:.1f}), the VAE {inside_vae:.0%} (mean ‖μ‖ {vae.spread['mean_norm']:.1f}).")
    if inside_vae > inside_ae:
        codes = (f"{measured} The VAE's KL term pulls its codes towards the prior, as the theory says; the "
                 "autoencoder places codes wherever reconstruction is easiest.")
    else:
        codes = (f"{measured} Here the autoencoder's codes happen to sit at least as close to the prior as the "
                 "VAE's: nothing in its loss asks for that, so it depends on the run (a VAE trained with a small β "
                 "behaves more like an autoencoder).")
    samples = ("The digit score (the Inception Score with a small MNIST classifier) rewards samples that are "
               "both clearly digits and varied: 1 is worst, 10 best.")
    if ae.quality is not None and vae.quality is not None:
        score_ae, score_vae = ae.quality["digit_score"], vae.quality["digit_score"]
        if score_vae > score_ae:
            samples += (f" The VAE's draws score {score_vae:.1f} against the autoencoder's {score_ae:.1f}: the prior's "
                        "region decodes to digits for the VAE, which was trained for that.")
        else:
            samples += (f" Here the autoencoder's draws score {score_ae:.1f}, at least as well as the VAE's "
                        f"{score_vae:.1f}: with a 2-D code even an autoencoder can fill the region the prior "
                        "covers; the difference shows at higher latent dims and with fewer training epochs.")
        if comparison.reference_confidence is not None:
            samples += f" On real test digits the classifier's mean confidence is {comparison.reference_confidence:.2f}."
    gap = ae.reconstruction["nll"] - vae.reconstruction["nll"]
    better = "VAE" if gap > 0 else "autoencoder"
    reconstruction = (f"Reconstruction decodes each image's code mean (μ for the VAE, z for the autoencoder): "
                      f"−log p(x|μ) in nats per image over {comparison.n_error_rows:,} test digits. The VAE also "
                      f"pays {vae.test_kl:.1f} nats of KL per image for a latent space it can sample from. Here the "
                      f"{better} reconstructs better, by {abs(gap):.1f} nats per image"
                      + (", as expected: the autoencoder spends all of its capacity on reconstruction."
                         if better == "autoencoder" else
                         ": unusual, since the autoencoder optimises reconstruction alone — it may be "
                         "under-trained or over-fitted."))
    return {"codes": codes, "samples": samples, "reconstruction": reconstruction}
