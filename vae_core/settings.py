"""Server settings: viewer (read-only) mode, how many trainings run at once, and the limits on
what one request may send.

Each setting comes from its environment variable, else from the `[server]` table of the app's
config file, else its default. The config file is the TOML file named by `VAE_CONFIG`, else
`vae-explorer.toml` in the working directory (where `streamlit run app.py` is started):

    [server]
    mode = "viewer"         # VAE_MODE: "full" (default) or "viewer"
    max_trainings = 1       # VAE_MAX_TRAININGS: trainings at once; default 1 per 2 cores
    max_csv_mb = 300        # VAE_MAX_CSV_MB: one uploaded CSV
    max_zip_mb = 256        # VAE_MAX_ZIP_MB: one uploaded model zip
    max_score_rows = 300000 # VAE_MAX_SCORE_ROWS: rows of an uploaded CSV scored in the page
    max_sessions = 20       # VAE_MAX_SESSIONS: browser sessions at once (0: no limit)
    login = false           # VAE_LOGIN: ask for Streamlit's st.login first (needs [auth] in secrets.toml)

A bad value is a ConfigError naming the setting and where it came from.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from vae_core.errors import ConfigError, ReadOnlyError

CONFIG_ENV = "VAE_CONFIG"
CONFIG_FILE = "vae-explorer.toml"
MODES = ("full", "viewer")
# .streamlit/config.toml's server.maxUploadSize: no upload larger than this reaches the app.
UPLOAD_CEILING_MB = 300
# setting → (environment variable, default, smallest and largest allowed value)
_NUMBERS: dict[str, tuple[str, int, int, int]] = {
    "max_trainings": ("VAE_MAX_TRAININGS", max(1, (os.cpu_count() or 2) // 2), 1, 64),
    "max_csv_mb": ("VAE_MAX_CSV_MB", UPLOAD_CEILING_MB, 1, UPLOAD_CEILING_MB),
    "max_zip_mb": ("VAE_MAX_ZIP_MB", 256, 1, UPLOAD_CEILING_MB),
    "max_score_rows": ("VAE_MAX_SCORE_ROWS", 300_000, 1, 10**9),
    "max_sessions": ("VAE_MAX_SESSIONS", 20, 0, 10**6),
}
MODE_ENV = "VAE_MODE"
LOGIN_ENV = "VAE_LOGIN"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    mode: str = "full"
    max_trainings: int = _NUMBERS["max_trainings"][1]
    max_csv_mb: int = _NUMBERS["max_csv_mb"][1]
    max_zip_mb: int = _NUMBERS["max_zip_mb"][1]
    max_score_rows: int = _NUMBERS["max_score_rows"][1]
    max_sessions: int = _NUMBERS["max_sessions"][1]
    login: bool = False

    @property
    def viewer(self) -> bool:
        """Read-only: no training, no delete, rename or import."""
        return self.mode == "viewer"


def config_path() -> Path:
    """The config file read (it need not exist)."""
    return Path(os.environ.get(CONFIG_ENV, "").strip() or CONFIG_FILE)


@lru_cache(maxsize=4)
def _file_table(path: str, stamp: tuple[int, int]) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            table = tomllib.load(handle).get("server", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"The config file {path} is not valid TOML: {exc}.") from None
    except OSError as exc:
        raise ConfigError(f"The config file {path} cannot be read: {exc.strerror or exc}.") from None
    if not isinstance(table, dict):
        raise ConfigError(f"In {path}, [server] must be a table of settings.")
    unknown = sorted(set(table) - {"mode", "login", *_NUMBERS})
    if unknown:
        raise ConfigError(f"In {path}, [server] has unknown setting(s) {', '.join(unknown)}; "
                          f"known: mode, login, {', '.join(_NUMBERS)}.")
    return table


def _from_file() -> dict[str, Any]:
    path = config_path()
    try:
        stat = path.stat()
    except OSError:
        if os.environ.get(CONFIG_ENV, "").strip():
            raise ConfigError(f"{CONFIG_ENV} names {path}, which cannot be read.") from None
        return {}
    return _file_table(str(path), (stat.st_mtime_ns, stat.st_size))


def current() -> Settings:
    """The settings in force now (environment and config file read afresh; the file is parsed once
    per change)."""
    table = _from_file()
    where = f"[server] in {config_path()}"
    mode = os.environ.get(MODE_ENV, "").strip().lower() or str(table.get("mode", "full")).strip().lower()
    if mode not in MODES:
        source = MODE_ENV if os.environ.get(MODE_ENV, "").strip() else f"mode {where}"
        raise ConfigError(f"{source} is {mode!r}; use one of {', '.join(MODES)}.")
    numbers: dict[str, int] = {}
    for name, (variable, default, smallest, largest) in _NUMBERS.items():
        text = os.environ.get(variable, "").strip()
        value, source = (text, variable) if text else (table.get(name, default), f"{name} {where}")
        try:
            number = int(value)
            if isinstance(value, (bool, float)) or not smallest <= number <= largest:
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError(f"{source} is {value!r}; it must be a whole number from {smallest} to {largest:,}.") from None
        numbers[name] = number
    text = os.environ.get(LOGIN_ENV, "").strip().lower()
    if text and text not in _TRUE + _FALSE:
        raise ConfigError(f"{LOGIN_ENV} is {text!r}; use true or false.")
    login = text in _TRUE if text else table.get("login", False)
    if not isinstance(login, bool):
        raise ConfigError(f"login {where} is {login!r}; use true or false.")
    return Settings(mode, **numbers, login=login)


def require_writable(action: str) -> None:
    """ReadOnlyError when the server is in viewer mode: `action` ("delete a model") changes what others see."""
    if current().viewer:
        raise ReadOnlyError(f"This dashboard is view-only ({MODE_ENV}=viewer), so it cannot {action}. Whoever runs "
                            "the server can do it, or you can run your own copy.")
