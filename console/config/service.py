"""``[[services]]``: one service, its platform's section and the sections every service has.

``PROVIDER_SECTIONS`` maps each provider name (``console.registry.PROVIDERS``)
to the module of its ``[services.NAME]`` table (holding ``read_NAME``); the
table the service's ``provider`` names is required, the others are read (and
checked) if present.  A section's module, and the database section's, is
imported only when a service has that table: a config for one platform does
not create the others' config classes before the console's first frame.
"""

from __future__ import annotations

import importlib
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.config.checklist import read_checklist
from console.config.error_rate import ALB_ERROR_RATE, ErrorRateConfig, read_error_rate
from console.config.health import HealthCheck, read_health
from console.config.reader import Reader, shown
from console.config.thresholds import Thresholds, read_thresholds
from console.registry import PROVIDERS

if TYPE_CHECKING:
    from console.config.alb import AlbConfig
    from console.config.cdn import CdnConfig
    from console.config.cloudrun import CloudRunConfig
    from console.config.database import DatabaseConfig
    from console.config.ecs import EcsConfig
    from console.config.host import HostConfig
    from console.config.kubernetes import KubernetesConfig
    from console.config.steps import CustomStep
    from console.config.swarm import SwarmConfig
    from console.model import ChecklistItem

#: Providers the console knows (``console.registry.PROVIDERS``); only the chosen one
#: is ever imported (see ``providers.load_provider``).
KNOWN_PROVIDERS = tuple(PROVIDERS)


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    environment: str
    provider: str
    verify_window_s: float = 60.0
    ready_timeout_s: float = 300.0
    #: The least evidence a "verified" needs (``console.verify``): this many health
    #: rounds and this many requests measured by the error-rate source.
    verify_min_requests: int = 20
    verify_min_rounds: int = 3
    host: HostConfig | None = None
    kubernetes: KubernetesConfig | None = None
    ecs: EcsConfig | None = None
    cloudrun: CloudRunConfig | None = None
    alb: AlbConfig | None = None
    swarm: SwarmConfig | None = None
    database: DatabaseConfig | None = None
    #: The CDN invalidated after the switch (``[services.cdn]``, any provider).
    cdn: CdnConfig | None = None
    health: tuple[HealthCheck, ...] = ()
    error_rate: ErrorRateConfig = field(default_factory=ErrorRateConfig)
    thresholds: Thresholds = field(default_factory=Thresholds)
    #: Replaces the runbook checklist when given (see ``console.checklist``).
    checklist: tuple[ChecklistItem, ...] | None = None
    #: The team's own runbook steps before and after the switch (``console.custom_steps``).
    steps: tuple[CustomStep, ...] = ()
    #: ``[console] state_dir``, copied here so a provider built from its service
    #: alone (Kubernetes manifest backups) keeps its files where the console does.
    state_dir: Path | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.environment})"


#: [services.<provider>] table -> the module of its reader; the table named by ``provider``
#: is required.
PROVIDER_SECTIONS: dict[str, str] = {
    "host": "console.config.host",
    "kubernetes": "console.config.kubernetes",
    "ecs": "console.config.ecs",
    "cloudrun": "console.config.cloudrun",
    "alb": "console.config.alb",
    "swarm": "console.config.swarm",
}


def section_reader(section: str) -> Callable[[Reader], Any]:
    """``read_<section>`` of ``PROVIDER_SECTIONS[section]``, its module imported now."""
    reader: Callable[[Reader], Any] = getattr(
        importlib.import_module(PROVIDER_SECTIONS[section]), f"read_{section}"
    )
    return reader


def read_service(r: Reader) -> ServiceConfig:
    r.expect(*_SERVICE_KEYS)
    name = r.require("name", str)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name) or ".." in name:
        raise r.error(
            "name", f"must be letters, digits, '-', '_' or '.' (no '..'), got {shown(name)}"
        )
    environment = _environment(r, r.require("environment", str))
    provider = r.require("provider", str)
    if provider not in KNOWN_PROVIDERS:
        raise r.error(
            "provider", f"unknown provider {provider!r} (known: {', '.join(KNOWN_PROVIDERS)})"
        )
    verify_window = r.duration("verify_window_s", 60.0)
    ready_timeout = r.duration("ready_timeout_s", 300.0)
    min_requests = r.integer("verify_min_requests", 20, 1, 1_000_000)
    min_rounds = r.integer("verify_min_rounds", 3, 1, 10_000)
    health = tuple(read_health(h) for h in r.subs("health"))
    sections: dict[str, Any] = {}
    for section in PROVIDER_SECTIONS:
        table = r.sub(section)
        sections[section] = section_reader(section)(table) if table else None
    if sections.get(provider) is None:
        raise r.error(provider, f"is required when provider = {provider!r}")
    db_reader = r.sub("database")
    database: DatabaseConfig | None = None
    if db_reader:
        from console.config.database import read_database

        database = read_database(db_reader)
    cdn_reader = r.sub("cdn")
    cdn: CdnConfig | None = None
    if cdn_reader:
        from console.config.cdn import read_cdn

        cdn = read_cdn(cdn_reader)
    rate_reader = r.sub("error_rate")
    on_alb = provider == "alb"
    if rate_reader:
        error_rate = read_error_rate(rate_reader, alb=on_alb)
    else:
        # Behind a load balancer the error rate is its target groups' 5xx over requests
        # (CloudWatch), read from [services.alb]: no health URL needs probing for it.
        error_rate = ALB_ERROR_RATE if on_alb else ErrorRateConfig()
    if error_rate.source == "probe" and not (error_rate.urls or health):
        raise r.error("error_rate.source", "'probe' needs [[services.health]] urls or urls")
    th_reader = r.sub("thresholds")
    thresholds = read_thresholds(th_reader) if th_reader else Thresholds()
    if error_rate.source == "probe":
        urls = len(error_rate.urls or health)
        fits = error_rate.window_s / error_rate.interval_s * urls  # (inf for extreme values)
        if fits + 1e-9 < thresholds.min_requests:
            # Else the severity would stay "assessing" for ever.
            raise r.error(
                "thresholds.min_requests",
                f"{thresholds.min_requests} requests never fit in the probe's window "
                f"(error_rate.window_s {error_rate.window_s:g} s at one request every "
                f"{error_rate.interval_s:g} s to {urls} URL(s) holds {math.floor(fits + 1e-9)})",
            )
    checklist = read_checklist(r)
    steps: tuple[CustomStep, ...] = ()
    if r.get("steps", list) is not None:
        from console.config.steps import read_steps

        steps = read_steps(r)
    r.done()
    return ServiceConfig(
        name=name,
        environment=environment,
        provider=provider,
        verify_window_s=verify_window,
        ready_timeout_s=ready_timeout,
        verify_min_requests=min_requests,
        verify_min_rounds=min_rounds,
        host=sections["host"],
        kubernetes=sections["kubernetes"],
        ecs=sections["ecs"],
        cloudrun=sections["cloudrun"],
        alb=sections["alb"],
        swarm=sections["swarm"],
        database=database,
        cdn=cdn,
        health=health,
        error_rate=error_rate,
        thresholds=thresholds,
        checklist=checklist,
        steps=steps,
    )


def _environment(r: Reader, value: str) -> str:
    """``environment`` names files (locks) and fills table cells and messages: keep it plain.

    No ``/`` or ``..`` (a path), no ``|`` (a markdown table cell), no line
    break or other control or invisible formatting character.
    """
    bad = next(
        (c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")), None
    )
    if bad is not None:
        problem = f"a control character ({bad.encode('unicode_escape').decode('ascii')})"
    elif "/" in value or "\\" in value:
        problem = "a '/' or '\\'"
    elif ".." in value:
        problem = "'..'"
    elif "|" in value:
        problem = "'|'"
    else:
        return value
    raise r.error("environment", f"must not contain {problem}, got {shown(value)}")


_SERVICE_KEYS = (
    "name",
    "environment",
    "provider",
    "verify_window_s",
    "ready_timeout_s",
    "verify_min_requests",
    "verify_min_rounds",
    "health",
    "host",
    "kubernetes",
    "ecs",
    "cloudrun",
    "alb",
    "swarm",
    "database",
    "cdn",
    "error_rate",
    "thresholds",
    "checklist",
    "steps",
)
