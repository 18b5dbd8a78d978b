"""The runbook-004 situation in the fake: ``k-back`` after a bad deploy of v1.3.0.

Three Ready revisions (v1.2.8, v1.2.9, v1.3.0, oldest to newest); traffic is
100% LATEST (so v1.3.0 serves it all), and the revision before carries the tag
``prev`` at 0%, as a team that tags its last good revision would have it.
``failed_latest=True`` adds a fourth deploy whose revision never became Ready
(latest created != latest ready).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from console.config import CloudRunConfig, ErrorRateConfig, HealthCheck, ServiceConfig
from tests.cloudrun_server.server import CloudRunServer
from tests.cloudrun_server.store import LATEST, REVISION

PROJECT = "keikakun-prod"
REGION = "asia-northeast1"
SERVICE = "k-back"
IMAGE = "asia-northeast1-docker.pkg.dev/keikakun-prod/app/k-back"

OLDEST = "k-back-00040-def"
PREVIOUS = "k-back-00041-xyz"
CURRENT = "k-back-00042-abc"
FAILED = "k-back-00043-bad"


@dataclass(frozen=True)
class Scenario:
    server: CloudRunServer
    service_name: str

    @property
    def endpoint(self) -> str:
        return self.server.url

    def service(self) -> dict[str, object]:
        return self.server.store.public_service(self.service_name)

    def served(self) -> list[tuple[str, int, str]]:
        """(revision, percent, tag) of every traffic status, as the API reports it."""
        svc = self.server.store.public_service(self.service_name)
        return sorted(
            (str(s.get("revision", "")), int(s.get("percent", 0)), str(s.get("tag", "")))
            for s in svc["trafficStatuses"]
        )

    def spec(self) -> list[dict[str, object]]:
        return list(self.server.store.public_service(self.service_name)["traffic"])


def runbook_service(server: CloudRunServer, *, failed_latest: bool = False) -> Scenario:
    store = server.store
    now = datetime.now(UTC)
    name = store.add_service(PROJECT, REGION, SERVICE, created=now - timedelta(days=30))
    store.deploy(name, f"{IMAGE}:v1.2.8", revision=OLDEST, created=now - timedelta(days=1))
    store.deploy(name, f"{IMAGE}:v1.2.9", revision=PREVIOUS, created=now - timedelta(hours=3))
    store.deploy(name, f"{IMAGE}:v1.3.0", revision=CURRENT, created=now - timedelta(minutes=20))
    store.set_traffic(
        name,
        [
            {"type": LATEST, "percent": 100},
            {"type": REVISION, "revision": PREVIOUS, "percent": 0, "tag": "prev"},
        ],
    )
    if failed_latest:
        store.deploy(
            name,
            f"{IMAGE}:v1.3.1",
            revision=FAILED,
            created=now - timedelta(minutes=5),
            ready=False,
            message="The user-provided container failed to start and listen on the port "
            "defined provided by the PORT=8080 environment variable.",
        )
    return Scenario(server, name)


def service_config(
    endpoint: str,
    *,
    health_url: str = "",
    project: str = PROJECT,
    service: str = SERVICE,
    gate_s: float = 0.6,
    operation_timeout_s: float = 10.0,
    gradual_steps: tuple[int, ...] = (10, 50, 100),
    error_rate: ErrorRateConfig | None = None,
) -> ServiceConfig:
    """The console's view of ``k-back``: the fake as endpoint, short gates for tests."""
    health = (HealthCheck(url=health_url, timeout_s=2.0),) if health_url else ()
    if error_rate is None:
        error_rate = (
            ErrorRateConfig(source="probe", urls=(health_url,), interval_s=0.05, window_s=5)
            if health_url
            else ErrorRateConfig(source="cloudmonitoring", url=endpoint, window_s=300)
        )
    return ServiceConfig(
        name="k-back",
        environment="production",
        provider="cloudrun",
        verify_window_s=1.0,
        ready_timeout_s=10.0,
        cloudrun=CloudRunConfig(
            project=project,
            region=REGION,
            service=service,
            endpoint=endpoint,
            gradual_steps=gradual_steps,
            gate_s=gate_s,
            operation_timeout_s=operation_timeout_s,
        ),
        health=health,
        error_rate=error_rate,
    )


def console_toml(
    *,
    endpoint: str,
    health_url: str,
    monitoring_url: str,
    gate_s: float,
    operation_timeout_s: float,
) -> str:
    """A console config file for ``k-back``, for a console run as its own process.

    The Run API at ``endpoint``, one health check at ``health_url``, the error
    rate from Cloud Monitoring at ``monitoring_url``; the history file and the
    state directory next to the config file.
    """
    return f"""
[console]
operator = "oncall"
history_file = "rollback-history.md"
state_dir = "state"

[[services]]
name = "{SERVICE}"
environment = "production"
provider = "cloudrun"
verify_window_s = 1
ready_timeout_s = 10

[services.cloudrun]
project = "{PROJECT}"
region = "{REGION}"
service = "{SERVICE}"
endpoint = "{endpoint}"
gradual_steps = [10, 50, 100]
gate_s = {gate_s}
operation_timeout_s = {operation_timeout_s}

[[services.health]]
url = "{health_url}"
timeout_s = 2

[services.error_rate]
source = "cloudmonitoring"
url = "{monitoring_url}"
window_s = 120
"""
