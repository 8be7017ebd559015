"""Exceptions whose messages are meant for people: what was wrong and what to do."""


class VAEError(Exception):
    """Base class for errors the CLI and the dashboard show as one clear line."""


class DataError(VAEError, ValueError):
    """Input data is missing, malformed or unusable."""


class RegistryError(VAEError):
    """A model folder is missing, broken, or a save would replace another model."""


class ConfigError(VAEError, ValueError):
    """A model or training setting is out of range."""


class ReadOnlyError(VAEError):
    """A write was asked of a view-only (viewer mode) server."""
