"""VAE Latent Explorer's engine: data, VAE models, training, scoring, thresholds, registry, CLI.

The shared core (configs, models, training, latent tools, registry, archives, data sources, jobs,
CLI) sits here; `tables/` holds what is particular to labelled tables (fraud, thresholds, baselines,
drift) and `images/` what is particular to images (MNIST, the digit judge, ELBO anatomy).

Importing the package is light; modules that need TensorFlow (`model`, `training` at call time,
`registry.load_model`) import it lazily. Never imports Streamlit.
"""

__version__ = "0.1.0"
