"""The names a config may give a pluggable part, and the class each name loads: one place.

A config names its platform (``[[services]] provider = "ecs"``) and where its
error rate comes from (``[services.error_rate] source = "cloudwatch"``).  The
maps below are the only list of those names: the config accepts exactly their
keys (``console.config``), and the loaders import only the module of the name
in use (``providers.load_provider``, ``console.signals.make_error_rate_source``),
so a console configured for one platform never pays for another's SDK.

Values are ``"module:Class"`` strings, never imports: this module imports no
provider, so the core can know the names without loading one.

Providers are an entry-point group, ``rollback_console.providers`` (name ->
``module:Class``), as Harlequin does for its adapters: the built-in ones are
registered there by this distribution's pyproject.toml, and another
distribution installed beside it adds its own the same way.  The group is
read (``importlib.metadata``, no provider module imported) only when a config
names a provider that is not built in (``provider_target``): reading every
installed distribution's metadata costs the start-up of the common case some
30 ms for nothing.  A source checkout run without installed metadata has the
built-in ones all the same, and a built-in name cannot be taken over by
another distribution.

``EXTRAS`` names, for each part that needs a cloud SDK, the pip extra that
installs it and the modules it imports: a config naming a provider whose SDK
is missing is refused with ``pip install 'rollback-console[EXTRA]'``
(``console.config.extras``) instead of failing at the first API call.

Adding a platform: its package under ``providers/`` (the class), one line in
``PROVIDERS``, and its ``[services.NAME]`` section (a module in
``console/config/`` and a line in ``console.config.service.PROVIDER_SECTIONS``).
Adding an error-rate source: its module under ``console/signals/`` (a class
with ``from_config(service)``) and one line in ``ERROR_RATE_SOURCES``.
"""

from __future__ import annotations

#: The entry-point group providers register in (pyproject.toml ``[project.entry-points]``).
PROVIDER_GROUP = "rollback_console.providers"

#: The providers this distribution ships (``provider = NAME`` -> the provider class,
#: built with the ``ServiceConfig``); also registered in ``PROVIDER_GROUP``.
BUILTIN_PROVIDERS: dict[str, str] = {
    "host": "providers.host:HostProvider",
    "kubernetes": "providers.kubernetes:KubernetesProvider",
    "ecs": "providers.ecs:EcsProvider",
    "cloudrun": "providers.cloudrun:CloudRunProvider",
    "alb": "providers.alb:AlbProvider",
    "swarm": "providers.swarm:SwarmProvider",
}


#: ``provider = NAME`` -> the provider class: the built-in ones, and once the entry-point
#: group has been read (``discover_providers``), other distributions' too.
PROVIDERS: dict[str, str] = dict(BUILTIN_PROVIDERS)
_discovered: list[bool] = []


def discover_providers() -> dict[str, str]:
    """``PROVIDERS`` with those other distributions register in ``PROVIDER_GROUP`` added
    (read once a process).  Reads installed metadata only: no provider module is
    imported.  A name a built-in provider has is kept for the built-in one."""
    if _discovered:
        return PROVIDERS
    _discovered.append(True)
    import importlib.metadata

    try:
        points = importlib.metadata.entry_points(group=PROVIDER_GROUP)
    except Exception:  # unreadable metadata of some other distribution: keep the built-ins
        return PROVIDERS
    for point in points:
        if point.name not in BUILTIN_PROVIDERS and ":" in point.value:
            PROVIDERS.setdefault(point.name, point.value)
    return PROVIDERS


def provider_target(name: str) -> str | None:
    """``"module:Class"`` of provider ``name`` (built in, else from the entry-point group)."""
    if name not in PROVIDERS:
        discover_providers()
    return PROVIDERS.get(name)


#: Backends of plan parts that are not a platform (a service's ``[services.database]``,
#: ``[services.cdn]``): name -> the class, loaded by ``providers.load_database`` /
#: ``providers.load_cdn`` so the core never imports it.
PART_BACKENDS: dict[str, str] = {
    "database": "providers.database:DatabaseProvider",
    "cdn": "providers.cdn:CloudFrontInvalidations",
}

#: ``[services.error_rate] source = NAME`` -> the source class (``from_config(service)``).
ERROR_RATE_SOURCES: dict[str, str] = {
    "probe": "console.signals.probe:ProbeSource",
    "prometheus": "console.signals.prometheus:PrometheusSource",
    "cloudwatch": "console.signals.cloudwatch:CloudWatchSource",
    "cloudmonitoring": "console.signals.cloudmonitoring:CloudMonitoringSource",
}

#: Parts that need an SDK the core does not install: name -> (the pip extra that
#: installs it, the top-level modules it imports).  Names are providers
#: (``provider = NAME``), plan parts (``database``, ``cdn``) and error-rate sources.
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "kubernetes": ("kubernetes", ("kubernetes",)),
    "ecs": ("ecs", ("boto3", "botocore")),
    "alb": ("ecs", ("boto3", "botocore")),
    "cdn": ("ecs", ("boto3", "botocore")),
    "cloudwatch": ("ecs", ("boto3", "botocore")),
    "cloudrun": ("cloudrun", ("google.cloud.run_v2", "google.auth", "google.api_core")),
    "cloudmonitoring": ("cloudrun", ("google.auth",)),
    "database": ("database", ("psycopg", "alembic")),
    "web": ("web", ("textual_serve",)),
}

#: The distribution's name on the package index (what ``pip install`` takes).
DISTRIBUTION = "rollback-console"
