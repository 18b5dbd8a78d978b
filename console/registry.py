"""The names a config may give a pluggable part, and the class each name loads: one place.

A config names its platform (``[[services]] provider = "ecs"``) and where its
error rate comes from (``[services.error_rate] source = "cloudwatch"``).  The
maps below are the only list of those names: the config accepts exactly their
keys (``console.config``), and the loaders import only the module of the name
in use (``providers.load_provider``, ``console.signals.make_error_rate_source``),
so a console configured for one platform never pays for another's SDK.

Values are ``"module:Class"`` strings, never imports: this module imports
nothing, so the core can know the names without loading a provider.

Adding a platform: its package under ``providers/`` (the class), one line in
``PROVIDERS``, and its ``[services.NAME]`` section (a module in
``console/config/`` and a line in ``console.config.service.PROVIDER_SECTIONS``).
Adding an error-rate source: its module under ``console/signals/`` (a class
with ``from_config(service)``) and one line in ``ERROR_RATE_SOURCES``.
"""

from __future__ import annotations

#: ``provider = NAME`` -> the provider class (built with the ``ServiceConfig``).
PROVIDERS: dict[str, str] = {
    "host": "providers.host:HostProvider",
    "kubernetes": "providers.kubernetes:KubernetesProvider",
    "ecs": "providers.ecs:EcsProvider",
    "cloudrun": "providers.cloudrun:CloudRunProvider",
    "alb": "providers.alb:AlbProvider",
    "swarm": "providers.swarm:SwarmProvider",
}

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
