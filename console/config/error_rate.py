"""``[services.error_rate]``: where the error rate (and p95) comes from.

The source names are ``console.registry.ERROR_RATE_SOURCES``' keys; this
module checks that each source has what it needs (a Prometheus URL and query,
an ALB or a metric-math expression for CloudWatch).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from console.config.bounds import MIN_PROBE_INTERVAL_S, MIN_REQUEST_TIMEOUT_S
from console.config.reader import Reader, shown
from console.config.urls import is_url, url_error
from console.registry import ERROR_RATE_SOURCES

#: Where an error rate can come from ([services.error_rate] source).
KNOWN_SOURCES = tuple(ERROR_RATE_SOURCES)


@dataclass(frozen=True)
class ErrorRateConfig:
    """Where the error rate comes from.  ``probe`` samples the health URLs itself."""

    source: str = "probe"
    #: Seconds between probe requests (per URL).
    interval_s: float = 0.5
    #: Sliding window, seconds, over which rate and p95 are computed.
    window_s: float = 30.0
    #: URLs to probe; default: the service's health URLs.
    urls: tuple[str, ...] = ()
    timeout_s: float = 3.0
    #: prometheus: the server's base URL; cloudwatch / cloudmonitoring: an API endpoint
    #: override (tests, LocalStack).
    url: str = ""
    #: prometheus: PromQL giving the error ratio (0..1) as one instant value.
    query: str = ""
    #: prometheus: PromQL giving p95 latency in seconds.
    latency_query: str = ""
    #: cloudwatch: region / profile (default: the ECS or ALB section's), and either an ALB
    #: (load_balancer + target_group, "app/NAME/ID" / "targetgroup/NAME/ID") or
    #: ``expression`` (metric math over ``metrics``) giving the error ratio.
    region: str = ""
    profile: str = ""
    load_balancer: str = ""
    target_group: str = ""
    expression: str = ""
    metrics: tuple[dict[str, Any], ...] = ()
    #: cloudmonitoring: project / service / region (default: the cloudrun section's).
    project: str = ""
    service: str = ""


#: A service on ``provider = "alb"`` without ``[services.error_rate]``: its load
#: balancer's CloudWatch metrics over every target group of ``[services.alb]``
#: (``console.signals.cloudwatch``).
ALB_ERROR_RATE = ErrorRateConfig(
    source="cloudwatch", interval_s=15.0, window_s=300.0, timeout_s=10.0
)


def read_error_rate(r: Reader, *, alb: bool = False) -> ErrorRateConfig:
    """``[services.error_rate]``; ``alb``: the service is a load balancer's (``provider =
    "alb"``), whose target groups a ``cloudwatch`` source without metrics reads."""
    r.expect(*(f.name for f in fields(ErrorRateConfig)))
    source = r.get("source", str, "probe")
    if source not in KNOWN_SOURCES:
        raise r.error(
            "source", f"unknown error-rate source {source!r} (known: {', '.join(KNOWN_SOURCES)})"
        )
    urls = r.get("urls", list, [])
    for url in urls:
        if not is_url(url):
            raise url_error(r, "urls", url)
    url = r.get("url", str, "")
    if url and not is_url(url):
        raise url_error(r, "url", url)
    metrics = r.get("metrics", list, [])
    for i, metric in enumerate(metrics):
        if not isinstance(metric, dict) or "id" not in metric:
            raise r.error(f"metrics[{i}]", "must be a table with at least an id (GetMetricData)")
    cfg = ErrorRateConfig(
        source=source,
        interval_s=r.duration(
            "interval_s", 0.5 if source == "probe" else 15.0, low=MIN_PROBE_INTERVAL_S
        ),
        window_s=r.duration("window_s", 30.0 if source == "probe" else 300.0),
        urls=tuple(urls),
        timeout_s=r.duration(
            "timeout_s", 3.0 if source == "probe" else 10.0, low=MIN_REQUEST_TIMEOUT_S
        ),
        url=url,
        query=r.get("query", str, ""),
        latency_query=r.get("latency_query", str, ""),
        region=r.get("region", str, ""),
        profile=r.get("profile", str, ""),
        load_balancer=r.get("load_balancer", str, ""),
        target_group=r.get("target_group", str, ""),
        expression=r.get("expression", str, ""),
        metrics=tuple(metrics),
        project=r.get("project", str, ""),
        service=r.get("service", str, ""),
    )
    if cfg.window_s < cfg.interval_s:
        raise r.error(
            "window_s",
            f"must be at least interval_s ({cfg.interval_s:g} s): the window must hold a sample, "
            f"got {shown(cfg.window_s)}",
        )
    if source == "prometheus":
        if not cfg.url:
            raise r.error("url", "is required for source = 'prometheus' (the server's base URL)")
        if not cfg.query:
            raise r.error("query", "is required for source = 'prometheus' (PromQL error ratio)")
    named = cfg.expression or (cfg.load_balancer and cfg.target_group)
    if source == "cloudwatch" and not named and not alb:
        raise r.error(
            "load_balancer",
            "source = 'cloudwatch' needs load_balancer and target_group, or expression + metrics",
        )
    if cfg.expression and not cfg.metrics:
        raise r.error("metrics", "is required with expression (the metrics it refers to)")
    r.done()
    return cfg
