"""The load balancer in front of the ECS service, for consoles run end to end against moto.

moto keeps CloudWatch metrics but nothing produces them: no load balancer
counts requests, and what it would count does not follow what ECS runs.  A
console verifying a rollback needs both, so ``ALB`` plays the target group:
a thread that reports requests, 5xx and response time to moto's CloudWatch
every 0.2 s, with 40% 5xx while the bad task definition serves and none
otherwise.  Rolling back therefore really brings the error rate down.
``write_config`` writes the console's config for the service, its error rate
read from those metrics.

Shared by the ECS end-to-end tests (``tests/providers/test_ecs_e2e.py``) and
the ECS fault tests (``tests/e2e/test_faults_ecs.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

from tests.aws.moto_server import (
    CLUSTER,
    LOAD_BALANCER,
    REGION,
    SERVICE,
    TARGET_GROUP,
    Background,
    World,
    ecs_backend,
    key_of,
)


class ALB(Background):
    """The target group's CloudWatch metrics every 0.2 s: 40% 5xx while ``bad`` serves.

    ``bad`` may be changed while the thread runs (``""``: no revision is bad).
    """

    def __init__(self, world: World, bad: str = "web:3") -> None:
        self.world = world
        self.bad = bad
        world.client("cloudwatch")  # made here: making clients is not thread-safe
        super().__init__("alb")

    def _run(self) -> None:
        while not self._stop.is_set():
            # Stamped before looking at what serves: a 5xx of the bad revision never
            # carries a time after the rollout finished.
            at = datetime.now(UTC)
            svc = ecs_backend().services.get(f"{CLUSTER}:{SERVICE}")
            serving = key_of(str(svc.deployments[0]["taskDefinition"])) if svc else ""
            errors = 40.0 if serving == self.bad else 0.0
            self.world.put_alb_traffic(100.0, errors, latency_s=0.08, at=at)
            self._stop.wait(0.2)


def write_config(
    root: Path,
    *,
    endpoint: str,
    verify_window_s: float,
    ready_timeout_s: float,
    metrics_url: str | None = None,
) -> Path:
    """``root/console.toml``: the service ``web`` (production) on ECS at ``endpoint``.

    The history file and the state directory in ``root``; the error rate from
    the ALB's metrics, read from CloudWatch at ``metrics_url`` (by default at
    ``endpoint``, as ECS).
    """
    metric = {
        "namespace": "AWS/ApplicationELB",
        "dimensions": {"LoadBalancer": LOAD_BALANCER, "TargetGroup": TARGET_GROUP},
    }
    error_rate: dict[str, Any] = {"source": "cloudwatch"}
    if metrics_url is not None:
        error_rate["url"] = metrics_url
    error_rate |= {
        "window_s": 60,
        "interval_s": 1,
        "expression": "errors / requests",
        "metrics": [
            {"id": "errors", "metric_name": "HTTPCode_Target_5XX_Count", **metric},
            {"id": "requests", "metric_name": "RequestCount", **metric},
            # moto cannot compute percentiles (GetMetricData with p95 answers
            # HTTP 500), so latency here is the Maximum, as a config may say.
            {"id": "latency", "metric_name": "TargetResponseTime", "stat": "Maximum", **metric},
        ],
    }
    config = {
        "console": {
            "operator": "oncall",
            "history_file": str(root / "rollback-history.md"),
            "state_dir": str(root / "state"),
        },
        "services": [
            {
                "name": "web",
                "environment": "production",
                "provider": "ecs",
                "verify_window_s": verify_window_s,
                "ready_timeout_s": ready_timeout_s,
                "ecs": {
                    "cluster": CLUSTER,
                    "service": SERVICE,
                    "region": REGION,
                    "endpoint_url": endpoint,
                    "container": "app",
                    "lock_ttl_s": 600,
                },
                "error_rate": error_rate,
            }
        ],
    }
    path = root / "console.toml"
    path.write_text(tomli_w.dumps(config))
    return path
