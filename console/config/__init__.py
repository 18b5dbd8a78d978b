"""TOML config -> typed, validated objects.

The file is read with ``tomllib`` and every table is walked by a small reader
that knows which keys it consumed, so an unknown key, a wrong type or a missing
path becomes one ``ConfigError`` naming ``file:line: key``.  Relative paths are
resolved against the config file's folder.  Secrets never live in the file: it
names environment variables (``*_env`` keys) and the console reads them when
needed.

One module a concern:

- ``reader``, ``urls``, ``bounds``: the reader kit (typed getters, file:line:key
  errors, URL checks, the limits numbers must keep);
- ``console``: the ``[console]`` table; ``paths``: where the file and the state
  folder are by default;
- ``service``: ``[[services]]``, and one module per section it may hold
  (``host``, ``kubernetes``, ``ecs``, ``cloudrun``, ``alb``, ``database``, ``cdn``,
  ``health``, ``error_rate``, ``thresholds``, ``checklist``, ``steps``: the team's own
  runbook steps);
- ``load``: ``load_config``, the whole file to a ``Config``.

The names a config may give a provider or an error-rate source, and the class
each loads, are listed once, in ``console.registry``.  Everything public is
re-exported here: import it from ``console.config``.  The platforms' sections
(``HostConfig``, ``KubernetesConfig``, ``EcsConfig``, ``CloudRunConfig``,
``AlbConfig``, ``DatabaseConfig``, ``DatabaseCheck``, ``CdnConfig``) and the steps'
(``CustomStep``, ``StepAction``, ``HttpCall``) are imported on first use: a config for
one platform does not create the others' classes before the first frame.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from console.config.bounds import (
    MAX_DURATION_S,
    MAX_EXIT_WAIT_S,
    MAX_LATENCY_MS,
    MIN_DURATION_S,
    MIN_LOCK_TTL_S,
    MIN_PROBE_INTERVAL_S,
    MIN_REQUEST_TIMEOUT_S,
)
from console.config.console import ConsoleConfig, is_utf8
from console.config.error_rate import KNOWN_SOURCES, ErrorRateConfig
from console.config.health import HealthCheck
from console.config.load import Config, load_config
from console.config.paths import (
    APP_NAME,
    ENV_CONFIG,
    default_config_path,
    default_state_dir,
    resolve_config_path,
)
from console.config.reader import ConfigError, ConfigNotFound
from console.config.service import KNOWN_PROVIDERS, ServiceConfig
from console.config.thresholds import Thresholds

if TYPE_CHECKING:
    from console.config.alb import AlbConfig, TargetGroup
    from console.config.cdn import CdnConfig
    from console.config.cloudrun import CloudRunConfig
    from console.config.database import DatabaseCheck, DatabaseConfig
    from console.config.ecs import EcsConfig
    from console.config.host import HostConfig
    from console.config.kubernetes import KubernetesConfig
    from console.config.pitr import (
        CloudSqlPitrConfig,
        NeonPitrConfig,
        PitrConfig,
        RdsPitrConfig,
        WalPitrConfig,
    )
    from console.config.steps import CustomStep, HttpCall, StepAction
    from console.config.swarm import SwarmConfig

#: The platforms' sections, imported on first use (see the module docstring).
_SECTIONS = {
    "AlbConfig": "console.config.alb",
    "CdnConfig": "console.config.cdn",
    "TargetGroup": "console.config.alb",
    "CloudRunConfig": "console.config.cloudrun",
    "DatabaseCheck": "console.config.database",
    "DatabaseConfig": "console.config.database",
    "PitrConfig": "console.config.pitr",
    "CloudSqlPitrConfig": "console.config.pitr",
    "NeonPitrConfig": "console.config.pitr",
    "RdsPitrConfig": "console.config.pitr",
    "WalPitrConfig": "console.config.pitr",
    "EcsConfig": "console.config.ecs",
    "HostConfig": "console.config.host",
    "KubernetesConfig": "console.config.kubernetes",
    "CustomStep": "console.config.steps",
    "HttpCall": "console.config.steps",
    "StepAction": "console.config.steps",
    "SwarmConfig": "console.config.swarm",
}


def __getattr__(name: str) -> Any:
    module = _SECTIONS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "APP_NAME",
    "ENV_CONFIG",
    "KNOWN_PROVIDERS",
    "KNOWN_SOURCES",
    "MAX_DURATION_S",
    "MAX_EXIT_WAIT_S",
    "MAX_LATENCY_MS",
    "MIN_DURATION_S",
    "MIN_LOCK_TTL_S",
    "MIN_PROBE_INTERVAL_S",
    "MIN_REQUEST_TIMEOUT_S",
    "AlbConfig",
    "CdnConfig",
    "CloudRunConfig",
    "CloudSqlPitrConfig",
    "Config",
    "ConfigError",
    "ConfigNotFound",
    "ConsoleConfig",
    "CustomStep",
    "DatabaseCheck",
    "DatabaseConfig",
    "EcsConfig",
    "ErrorRateConfig",
    "HealthCheck",
    "HostConfig",
    "HttpCall",
    "KubernetesConfig",
    "NeonPitrConfig",
    "PitrConfig",
    "RdsPitrConfig",
    "ServiceConfig",
    "StepAction",
    "SwarmConfig",
    "TargetGroup",
    "Thresholds",
    "WalPitrConfig",
    "default_config_path",
    "default_state_dir",
    "is_utf8",
    "load_config",
    "resolve_config_path",
]
