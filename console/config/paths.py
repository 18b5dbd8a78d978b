"""Where the config file and the state folder are when nobody says."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

APP_NAME = "rollback-console"
ENV_CONFIG = "ROLLBACK_CONSOLE_CONFIG"


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def default_state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME))


def resolve_config_path(cli_path: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """``--config``, else ``$ROLLBACK_CONSOLE_CONFIG``, else the XDG config path."""
    env = os.environ if environ is None else environ
    if cli_path:
        return Path(cli_path).expanduser()
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG]).expanduser()
    return default_config_path()
