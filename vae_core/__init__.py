"""VAE Latent Explorer's engine: data, VAE models, training, scoring, thresholds, registry, CLI.

Importing the package is light; modules that need TensorFlow (`model`, `training` at call time,
`registry.load_model`) import it lazily. Never imports Streamlit.
"""

__version__ = "0.1.0"
