"""``[[services]]``: one service, its platform's section and the sections every service has.

``PROVIDER_SECTIONS`` maps each provider name (``console.registry.PROVIDERS``)
to the module of its ``[services.NAME]`` table (holding ``read_NAME``); the
table the service's ``provider`` names is required, the others are read (and
checked) if present.  A section's module, and the database section's, is
imported only when a service has that table: a config for one platform does
not create the others' config classes before the console's first frame.
"""

from __future__ import annotations

import functools
import importlib
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.config import extras
from console.config.checklist import read_checklist
from console.config.error_rate import ALB_ERROR_RATE, ErrorRateConfig, read_error_rate
from console.config.health import HealthCheck, read_health
from console.config.reader import Reader, shown
from console.config.thresholds import Thresholds, read_thresholds
from console.registry import EXTRAS, PROVIDERS, discover_providers, provider_target

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

#: Providers the console ships (``console.registry.PROVIDERS``; other distributions'
#: are looked up when a config names one); only the chosen one is ever imported (see
#: ``providers.load_provider``).
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
    #: The ``[services.NAME]`` table of a provider from another distribution
    #: (``console.registry``), as written: that provider reads it.
    plugin: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

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
    """One ``[[services]]`` entry.  Each part is read on its own (``Loader.attempt``): a
    problem in one is recorded and the others are still read, so one run reports them all;
    the checks across parts are made only on parts that were read without a problem."""
    loader = r.loader
    start = len(loader.problems)
    named = r.table.get("provider")
    plugin = isinstance(named, str) and named not in PROVIDER_SECTIONS and provider_target(named)
    # A provider from another distribution has a [services.NAME] table of its own.
    r.expect(*_SERVICE_KEYS, *((named,) if plugin else ()))
    name = loader.attempt(lambda: _name(r))
    environment = loader.attempt(lambda: _environment(r, r.require("environment", str)))
    provider = loader.attempt(lambda: _provider(r))
    verify_window = loader.attempt(lambda: r.duration("verify_window_s", 60.0))
    ready_timeout = loader.attempt(lambda: r.duration("ready_timeout_s", 300.0))
    min_requests = loader.attempt(lambda: r.integer("verify_min_requests", 20, 1, 1_000_000))
    min_rounds = loader.attempt(lambda: r.integer("verify_min_rounds", 3, 1, 10_000))
    health_readers = loader.attempt(lambda: r.subs("health"))
    read = (loader.attempt(functools.partial(read_health, h)) for h in health_readers or ())
    health = tuple(h for h in read if h is not None)
    health_ok = health_readers is not None and len(health) == len(health_readers)
    sections: dict[str, Any] = {}
    for section in PROVIDER_SECTIONS:
        table = loader.attempt(functools.partial(r.sub, section))
        if table:
            sections[section] = loader.attempt(functools.partial(section_reader(section), table))
    # A provider from another distribution (``console.registry``) reads its own
    # [services.NAME] table: it gets it as it is, unchecked here.
    plugin_table: dict[str, Any] = {}
    if provider is not None and provider not in PROVIDER_SECTIONS:
        plugin_table = dict(loader.attempt(lambda: r.get(provider, dict, {})) or {})
    elif provider is not None and r.table.get(provider) is None:
        loader.report(r.error(provider, f"is required when provider = {provider!r}"))
    database = loader.attempt(lambda: _database(r))
    if database is not None and provider is not None:
        loader.attempt(lambda: _pitr_provider(r, database, provider))
    cdn = loader.attempt(lambda: _cdn(r))
    on_alb = (provider or named) == "alb"  # also when its SDK is missing: no false probe
    error_rate = loader.attempt(lambda: _error_rate(r, on_alb))
    thresholds = loader.attempt(lambda: _thresholds(r))
    if error_rate is not None and health_ok:
        loader.attempt(lambda: _probe_needs_urls(r, error_rate, health))
        if thresholds is not None:
            loader.attempt(lambda: _requests_fit(r, error_rate, health, thresholds))
    checklist = loader.attempt(lambda: read_checklist(r))
    steps: tuple[CustomStep, ...] | None = ()
    if loader.attempt(lambda: r.get("steps", list)) is not None:
        from console.config.steps import read_steps

        steps = loader.attempt(lambda: read_steps(r))
    _require_sdks(
        r,
        ("provider", provider),
        ("database", "database" if database else None),
        ("cdn", "cdn" if cdn else None),
        ("error_rate.source", error_rate.source if error_rate else None),
    )
    r.done()
    loader.check_since(start)
    assert name and environment and provider and error_rate and thresholds  # else raised
    assert verify_window and ready_timeout and min_requests and min_rounds and steps is not None
    return ServiceConfig(
        name=name,
        environment=environment,
        provider=provider,
        verify_window_s=verify_window,
        ready_timeout_s=ready_timeout,
        verify_min_requests=min_requests,
        verify_min_rounds=min_rounds,
        host=sections.get("host"),
        kubernetes=sections.get("kubernetes"),
        ecs=sections.get("ecs"),
        cloudrun=sections.get("cloudrun"),
        alb=sections.get("alb"),
        swarm=sections.get("swarm"),
        database=database,
        cdn=cdn,
        health=health,
        error_rate=error_rate,
        thresholds=thresholds,
        checklist=checklist,
        steps=steps,
        plugin=plugin_table,
    )


def _name(r: Reader) -> str:
    name = r.require("name", str)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name) or ".." in name:
        raise r.error(
            "name", f"must be letters, digits, '-', '_' or '.' (no '..'), got {shown(name)}"
        )
    return name


def _provider(r: Reader) -> str:
    provider = r.require("provider", str)
    if provider_target(provider) is None:
        known = ", ".join(discover_providers())
        raise r.error("provider", f"unknown provider {provider!r} (known: {known})")
    return provider


def _database(r: Reader) -> DatabaseConfig | None:
    db_reader = r.sub("database")
    if not db_reader:
        return None
    from console.config.database import read_database

    return read_database(db_reader)


def _cdn(r: Reader) -> CdnConfig | None:
    cdn_reader = r.sub("cdn")
    if not cdn_reader:
        return None
    from console.config.cdn import read_cdn

    return read_cdn(cdn_reader)


def _error_rate(r: Reader, on_alb: bool) -> ErrorRateConfig:
    rate_reader = r.sub("error_rate")
    if rate_reader:
        error_rate = read_error_rate(rate_reader, alb=on_alb)
    else:
        # Behind a load balancer the error rate is its target groups' 5xx over requests
        # (CloudWatch), read from [services.alb]: no health URL needs probing for it.
        error_rate = ALB_ERROR_RATE if on_alb else ErrorRateConfig()
    return error_rate


def _thresholds(r: Reader) -> Thresholds:
    th_reader = r.sub("thresholds")
    return read_thresholds(th_reader) if th_reader else Thresholds()


def _probe_needs_urls(
    r: Reader, error_rate: ErrorRateConfig, health: tuple[HealthCheck, ...]
) -> None:
    if error_rate.source == "probe" and not (error_rate.urls or health):
        raise r.error("error_rate.source", "'probe' needs [[services.health]] urls or urls")


def _requests_fit(
    r: Reader, error_rate: ErrorRateConfig, health: tuple[HealthCheck, ...], thresholds: Thresholds
) -> None:
    urls = len(error_rate.urls or health)
    if error_rate.source != "probe" or not urls:
        return  # no URL to probe is its own problem (_probe_needs_urls), said once
    fits = error_rate.window_s / error_rate.interval_s * urls  # (inf for extreme values)
    if fits + 1e-9 < thresholds.min_requests:
        # Else the severity would stay "assessing" for ever.
        raise r.error(
            "thresholds.min_requests",
            f"{thresholds.min_requests} requests never fit in the probe's window "
            f"(error_rate.window_s {error_rate.window_s:g} s at one request every "
            f"{error_rate.interval_s:g} s to {urls} URL(s) holds {math.floor(fits + 1e-9)})",
        )


def _require_sdks(r: Reader, *parts: tuple[str, str | None]) -> None:
    """Record (exit 2, naming the pip extra) each part whose SDK is not installed here;
    an extra is named once a service (ECS and its CloudWatch source: one line)."""
    named: set[str] = set()
    for key, part in parts:
        line = extras.missing(part) if part else ""
        extra = EXTRAS.get(part or "", ("", ()))[0]
        if line and extra not in named:
            named.add(extra)
            r.loader.report(r.error(key, line))


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


def _pitr_provider(r: Reader, database: DatabaseConfig, provider: str) -> None:
    """An engine sub-table on a provider that cannot run it would never be offered: named."""
    from console.config.pitr import ENGINE_PROVIDERS

    engine = database.pitr.engine if database.pitr is not None else ""
    allowed = ENGINE_PROVIDERS.get(engine)
    if allowed and provider not in allowed:
        raise r.error(
            f"database.pitr.{engine}",
            f"needs provider = {' or '.join(repr(p) for p in allowed)} (this service's is "
            f"{provider!r})",
        )
