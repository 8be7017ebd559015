"""Frozen, JSON-round-trippable configs: a saved model folder holds the one it was built from."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any, Literal

from vae_core.errors import ConfigError

Architecture = Literal["dense", "conv"]
Likelihood = Literal["bernoulli", "gaussian"]
ModelType = Literal["vae", "ae"]
DecoderVariance = Literal["unit", "per_feature", "heteroscedastic"]
Activation = Literal["relu", "silu"]
ARCHITECTURES: tuple[str, ...] = ("dense", "conv")
LIKELIHOODS: tuple[str, ...] = ("bernoulli", "gaussian")
MODEL_TYPES: tuple[str, ...] = ("vae", "ae")
DECODER_VARIANCES: tuple[str, ...] = ("unit", "per_feature", "heteroscedastic")
ACTIVATIONS: tuple[str, ...] = ("relu", "silu")
LRSchedule = Literal["constant", "cosine"]
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")


def _from_dict(cls: type, data: dict[str, Any]):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"Unknown {cls.__name__} field(s): {', '.join(unknown)}.")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**values)


@dataclass(frozen=True)
class VAEConfig:
    """Everything needed to rebuild a VAE's layers.

    `input_shape` is (28, 28, 1) for images or (n_features,) for tabular rows. `model_type` "ae"
    builds the same encoder/decoder shapes as a plain deterministic autoencoder; `num_classes` > 0
    makes the model conditional on a class label (given to both encoder and decoder).
    """

    input_shape: tuple[int, ...] = (28, 28, 1)
    architecture: Architecture = "dense"
    latent_dim: int = 2
    # 512-256 is the dense MNIST VAE that reaches ~147 nats in 10 epochs at latent 2.
    hidden_units: tuple[int, ...] = (512, 256)
    # Keras's canonical conv VAE: two stride-2 convs (32, 64 filters), then a 16-unit dense layer.
    conv_filters: tuple[int, ...] = (32, 64)
    conv_dense_units: int = 16
    likelihood: Likelihood = "bernoulli"
    beta: float = 1.0
    # Epochs over which the KL weight ramps linearly from 0 to beta (0 = no warm-up).
    kl_warmup_epochs: int = 0
    # "ae": the encoder outputs z directly and the loss is reconstruction only (KL reported as 0).
    model_type: ModelType = "vae"
    # > 0: a conditional model; the one-hot label joins the encoder's features and the decoder's z.
    # 0 keeps configs saved before conditioning existed loading unchanged.
    num_classes: int = 0
    # Gaussian decoders only. "unit": σ = 1, so −log p(x|z) is half the squared error; "per_feature":
    # one learned log σ² per feature, so features that normal rows reconstruct tightly weigh more;
    # "heteroscedastic": log σ²(z) from a network of its own. "unit" keeps older configs unchanged.
    decoder_variance: DecoderVariance = "unit"
    # The learned log σ² never goes below this (−6: σ ≈ 0.05 in standardised units), or a feature
    # that normal rows reconstruct almost exactly could drive its likelihood to infinity. 0 (σ ≥ 1)
    # lets the variance only widen, e.g. where normal rows have heavy tails.
    decoder_log_var_floor: float = -6.0
    # Dense VAEs: a linear path beside the ReLU layers (x → μ and z → mean), so the model contains
    # PCA and can reconstruct extreme but linear variation exactly. False keeps older configs unchanged.
    linear_skip: bool = False
    # Dense decoder layer sizes from z outwards; () mirrors the encoder (hidden_units reversed).
    decoder_hidden_units: tuple[int, ...] = ()
    # Free bits (nats per latent dim): training ignores a dim's batch-mean KL below this floor, so
    # the optimiser cannot buy reconstruction by switching dims off. Changes the training objective
    # only; reported losses stay the true ELBO terms. 0 = the plain ELBO.
    free_bits: float = 0.0
    # Dropout rate after each dense encoder layer while training: the encoder, not the decoder,
    # is what overfits first on MNIST (q(z|x) fits training images better than test images).
    encoder_dropout: float = 0.0
    # Hidden layers' nonlinearity. "silu" (x·sigmoid(x), also called swish) is smooth; on MNIST it
    # reaches a lower −ELBO than ReLU in the same epochs (bench/results/mnist_quality.json).
    activation: Activation = "relu"

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"Architecture must be one of {ARCHITECTURES}, got {self.architecture!r}.")
        if self.likelihood not in LIKELIHOODS:
            raise ConfigError(f"Likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}.")
        if not isinstance(self.latent_dim, int) or not 1 <= self.latent_dim <= 512:
            raise ConfigError(f"Latent dim must be an integer from 1 to 512, got {self.latent_dim!r}.")
        if not self.input_shape or any(int(d) < 1 for d in self.input_shape):
            raise ConfigError(f"Input shape must be positive sizes, got {self.input_shape!r}.")
        if self.architecture == "conv" and tuple(self.input_shape[:2]) != (28, 28):
            raise ConfigError("The conv architecture is for 28x28 images; use 'dense' for tabular data.")
        if not self.hidden_units or any(not 1 <= int(u) <= 8192 for u in self.hidden_units):
            raise ConfigError(f"Hidden units must be integers from 1 to 8192, got {self.hidden_units!r}.")
        if not 0.0 <= float(self.beta) <= 1000.0:
            raise ConfigError(f"Beta must be between 0 and 1000, got {self.beta!r}.")
        if int(self.kl_warmup_epochs) < 0:
            raise ConfigError("KL warm-up epochs cannot be negative.")
        if self.model_type not in MODEL_TYPES:
            raise ConfigError(f"Model type must be one of {MODEL_TYPES}, got {self.model_type!r}.")
        if (not isinstance(self.num_classes, int) or isinstance(self.num_classes, bool)
                or self.num_classes < 0 or self.num_classes == 1 or self.num_classes > 1000):
            raise ConfigError(f"Number of classes must be 0 (unconditional) or from 2 to 1000, got {self.num_classes!r}.")
        if self.decoder_variance not in DECODER_VARIANCES:
            raise ConfigError(f"Decoder variance must be one of {DECODER_VARIANCES}, got {self.decoder_variance!r}.")
        if not isinstance(self.decoder_log_var_floor, (int, float)) or not -20.0 <= self.decoder_log_var_floor <= 5.0:
            raise ConfigError(f"The decoder's log-variance floor must be a number from -20 to 5, got "
                              f"{self.decoder_log_var_floor!r}.")
        if self.linear_skip not in (True, False):
            raise ConfigError(f"linear_skip must be true or false, got {self.linear_skip!r}.")
        if self.linear_skip and (self.architecture != "dense" or not self.variational):
            raise ConfigError("A linear skip path is for the dense VAE; turn linear_skip off for conv or AE models.")
        if self.decoder_variance != "unit" and self.likelihood != "gaussian":
            raise ConfigError("A learned decoder variance needs the Gaussian likelihood; use decoder_variance='unit' "
                              "with the Bernoulli likelihood.")
        if any(not 1 <= int(u) <= 8192 for u in self.decoder_hidden_units):
            raise ConfigError(f"Decoder hidden units must be integers from 1 to 8192, got {self.decoder_hidden_units!r}.")
        if not 0.0 <= float(self.free_bits) <= 100.0:
            raise ConfigError(f"Free bits must be between 0 and 100 nats per latent dim, got {self.free_bits!r}.")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"Activation must be one of {ACTIVATIONS}, got {self.activation!r}.")
        if not 0.0 <= float(self.encoder_dropout) < 1.0:
            raise ConfigError(f"Encoder dropout must be in [0, 1), got {self.encoder_dropout!r}.")

    @property
    def conditional(self) -> bool:
        """True when encoder and decoder take a class label."""
        return self.num_classes > 0

    @property
    def variational(self) -> bool:
        """True for a VAE (a distribution q(z|x)), False for a plain autoencoder (one point z)."""
        return self.model_type == "vae"

    @property
    def decoder_units(self) -> tuple[int, ...]:
        """The decoder's dense layer sizes, from z outwards."""
        return self.decoder_hidden_units or tuple(reversed(self.hidden_units))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VAEConfig:
        return _from_dict(cls, data)


# Training seeds seed NumPy's legacy generator too (keras.utils.set_random_seed), which takes 0…2³² − 1.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class TrainConfig:
    """How to fit a VAE; recorded in the model's metadata."""

    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 0
    # Stop when validation loss has not improved for this many epochs (0 = never stop early).
    early_stopping_patience: int = 5
    # "default" (one device), "mirrored" (all local GPUs) or "multi_worker" (TF_CONFIG cluster).
    strategy: Literal["default", "mirrored", "multi_worker"] = "default"
    # "cosine": the learning rate falls from learning_rate to 0 along a half cosine over all
    # planned steps, which settles the weights at the end; "constant" keeps it fixed.
    lr_schedule: LRSchedule = "constant"
    # Decoupled weight decay (AdamW) per step, scaled by the learning rate; 0 = plain Adam.
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or not 1 <= self.epochs <= 10_000:
            raise ConfigError(f"Epochs must be an integer from 1 to 10000, got {self.epochs!r}.")
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= 65_536:
            raise ConfigError(f"Batch size must be an integer from 1 to 65536, got {self.batch_size!r}.")
        if not 0.0 < float(self.learning_rate) < 1.0:
            raise ConfigError(f"Learning rate must be in (0, 1), got {self.learning_rate!r}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"The seed must be a whole number from 0 to {MAX_SEED}, got {self.seed!r}.")
        if not isinstance(self.early_stopping_patience, int) or self.early_stopping_patience < 0:
            raise ConfigError(f"Early-stopping patience must be a whole number ≥ 0, got {self.early_stopping_patience!r}.")
        if self.strategy not in ("default", "mirrored", "multi_worker"):
            raise ConfigError(f"Unknown distribution strategy {self.strategy!r}.")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"Learning-rate schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}.")
        if not 0.0 <= float(self.weight_decay) < 1.0:
            raise ConfigError(f"Weight decay must be in [0, 1), got {self.weight_decay!r}.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, data)


# --- defaults per dataset, and configs from people's settings -----------------------------------

DATASETS: tuple[str, ...] = ("mnist", "fraud")
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    # Dense 512-256 reaches ~147 nats at latent 2 in 10 epochs on full MNIST (see ANCHORS.md).
    "mnist": {"architecture": "dense", "latent_dim": 2, "hidden_units": (512, 256), "likelihood": "bernoulli"},
    # A few thousand normal rows of ~30 standardised features: a narrow net with PCA(10)'s latent size
    # and a unit-variance Gaussian decoder, scored by constrained squared error (vae_core.tables.fraud
    # ScoringConfig; best validation AP of the variants in bench/results/fraud_quality.json).
    "fraud": {"architecture": "dense", "latent_dim": 10, "hidden_units": (64, 32), "likelihood": "gaussian"},
}
TRAIN_DEFAULTS: dict[str, TrainConfig] = {
    # At batch 256 a peak rate of 0.004 decayed to 0 along a cosine reaches ~150 nats at latent 2 in
    # 6 epochs: `train --dataset mnist` in ~40 s on 2 cores, start-up and evaluation included (8
    # epochs: ~147 nats in ~55 s; bench/results/mnist_quality.json).
    "mnist": TrainConfig(epochs=6, batch_size=256, learning_rate=4e-3, lr_schedule="cosine"),
    # Early stopping rarely triggers before ~150 epochs on the subset's ~1,600 training normals.
    "fraud": TrainConfig(epochs=300, batch_size=64, early_stopping_patience=30),
}
_VAE_FIELDS = {f.name for f in dataclasses.fields(VAEConfig)} - {"input_shape"}
_TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def parse_hidden_units(text: str | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """'512, 256' (or a sequence) → (512, 256); a clear ConfigError for anything else."""
    if isinstance(text, (tuple, list)):
        parts = list(text)
    else:
        parts = [part for part in str(text).replace(" ", "").split(",") if part]
    try:
        units = tuple(int(part) for part in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"Hidden layer sizes must be whole numbers separated by commas, like 512,256; "
                          f"got {text!r}.") from None
    if not units or min(units) < 1:
        raise ConfigError(f"Give at least one positive hidden layer size, like 512,256; got {text!r}.")
    return units


def build_configs(dataset: str, *, n_features: int | None = None,
                  **settings: Any) -> tuple[VAEConfig, TrainConfig]:
    """(VAEConfig, TrainConfig) for `dataset` from people's settings (CLI flags, the Train form).

    `settings` are VAEConfig / TrainConfig field names; a missing or None value takes the dataset's
    default; `hidden_units` may be text like "512,256". Fraud models take `n_features` inputs, and
    with `n_features` given their defaults follow the shape rule of `fraud_model_defaults`.
    """
    if dataset not in DATASETS:
        raise ConfigError(f"Unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}.")
    unknown = sorted(set(settings) - _VAE_FIELDS - _TRAIN_FIELDS)
    if unknown:
        raise ConfigError(f"Unknown setting(s): {', '.join(unknown)}.")
    given = {key: value for key, value in settings.items() if value is not None}
    defaults = fraud_model_defaults(n_features) if dataset == "fraud" and n_features else MODEL_DEFAULTS[dataset]
    model = {**defaults, **{k: v for k, v in given.items() if k in _VAE_FIELDS}}
    model["hidden_units"] = parse_hidden_units(model["hidden_units"])
    input_shape: tuple[int, ...] = (int(n_features or 30),) if dataset == "fraud" else (28, 28, 1)
    train = {**TRAIN_DEFAULTS[dataset].to_dict(), **{k: v for k, v in given.items() if k in _TRAIN_FIELDS}}
    if dataset == "fraud":  # before VAEConfig, whose own checks would name a less helpful problem
        _check_fraud_settings(model["architecture"], model.get("num_classes"), model["likelihood"])
    return VAEConfig(input_shape=input_shape, **model), TrainConfig(**train)


def check_fraud_config(config: VAEConfig) -> None:
    """ConfigError unless `config` can model standardised tabular rows: dense, unconditional, Gaussian."""
    _check_fraud_settings(config.architecture, config.num_classes, config.likelihood)


def _check_fraud_settings(architecture: str, num_classes: int | None, likelihood: str) -> None:
    if architecture != "dense":
        raise ConfigError("Fraud models are dense (tabular rows): the conv architecture is for 28×28 images.")
    if num_classes:
        raise ConfigError("Fraud models are not conditional: the label marks fraud, it is not an input.")
    if likelihood != "gaussian":
        raise ConfigError("Fraud models use the Gaussian likelihood (standardised features are real numbers, "
                          "not probabilities); drop the Bernoulli likelihood.")


def fraud_model_defaults(n_features: int) -> dict[str, Any]:
    """The fraud VAE's default model settings for rows of `n_features` features, by one rule on the
    table's shape (never on which table it is): latent_dim = round((n_features − 4) / 2.5), clipped to
    2…10. Narrow tables keep a real bottleneck (latent 10 on 6–9 features can copy every row,
    anomalies included; latent 2 beat 3 and 10 on the 8–9-feature tables tried), about a third of the
    features from ~20 on, and the credit-card schema's 29 features keep latent 10. The other settings
    are MODEL_DEFAULTS["fraud"]. Measured on 17 public tables: bench/results/tables.json.
    """
    if not isinstance(n_features, int) or n_features < 1:
        raise ConfigError(f"A fraud model needs at least one feature, got {n_features!r}.")
    return {**MODEL_DEFAULTS["fraud"], "latent_dim": min(10, max(2, round((n_features - 4) / 2.5)))}
