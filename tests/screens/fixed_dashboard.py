"""The dashboard on fixed data, for snapshots and the README picture.

Rendering tests need data that never changes: a provider and an error-rate
source that are plain objects returning fixed ``console.model`` values, a
fixed round of health checks, and a frozen clock.  They satisfy the same
protocols as the real ones and go through the same ``make_app`` and
``Backends`` seam, so everything from the poll workers to the panels is the
real code.  Tests about real behaviour use the demo sandbox instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.app import RollbackConsoleApp, make_app
from console.config import (
    Config,
    ConsoleConfig,
    ErrorRateConfig,
    HealthCheck,
    HostConfig,
    ServiceConfig,
    Thresholds,
)
from console.model import (
    HealthResult,
    Plan,
    ProgressEvent,
    ReadyResult,
    Revision,
    Sample,
    Snapshot,
    Unit,
)
from console.runtime import Backends
from providers.base import NotFound

#: The frozen "now" of every fixed-data test: 02:00 UTC, the classic bad hour.
T0 = datetime(2026, 1, 16, 2, 0, tzinfo=UTC)

REVISIONS: tuple[Revision, ...] = (
    Revision(
        "v1.3.0",
        "v1.3.0",
        T0 - timedelta(minutes=52),
        "deploy v1.3.0: new checkout flow (#482)",
        current=True,
    ),
    Revision("v1.2.9", "v1.2.9", T0 - timedelta(days=1, hours=3), "deploy v1.2.9: cache headers"),
    Revision("v1.2.8", "v1.2.8", T0 - timedelta(days=3), "deploy v1.2.8: fix [prod] login loop"),
    Revision("v1.2.7", "v1.2.7", T0 - timedelta(days=9), "deploy v1.2.7"),
)

UNITS: tuple[Unit, ...] = (
    Unit("pid 4242", "running", True, "v1.3.0", 0, T0 - timedelta(minutes=51), "app-01"),
    Unit("pid 4243", "running", True, "v1.3.0", 0, T0 - timedelta(minutes=51), "app-01"),
    Unit("pid 5120", "restarting", False, "v1.3.0", 4, T0 - timedelta(seconds=40), "app-02"),
    Unit("pid 5121", "running", True, "v1.3.0", 1, T0 - timedelta(minutes=12), "app-02"),
)

HEALTH_CHECKS: tuple[HealthCheck, ...] = (
    HealthCheck("http://10.0.0.5:8080/health", name="app-01 /health"),
    HealthCheck("http://10.0.0.6:8080/health", name="app-02 /health"),
)

HEALTH: tuple[HealthResult, ...] = (
    HealthResult("http://10.0.0.5:8080/health", False, 500, 382.0, at=T0),
    HealthResult("http://10.0.0.6:8080/health", True, 200, 14.0, at=T0),
)


def rate_history(points: int = 60) -> list[Sample]:
    """Healthy for the first two thirds, then the v1.3.0 deploy: ~60% errors, a fixed wobble."""
    samples = []
    wobble = (0.58, 0.63, 0.61, 0.66, 0.59, 0.62)
    for i in range(points):
        at = T0 - timedelta(seconds=points - i)
        if i < points * 2 // 3:
            rate = 0.0 if i % 7 else 0.004
            samples.append(Sample(at, rate, 18.0, 20, "probe"))
        else:
            samples.append(Sample(at, wobble[i % len(wobble)], 380.0, 20, "probe"))
    return samples


class FrozenClock:
    """A clock that only moves when a test says so."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FixedProvider:
    """A provider as plain data; tests may change ``revisions`` / ``units`` or make it fail."""

    name = "host"

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.revisions: tuple[Revision, ...] = REVISIONS
        self.units: tuple[Unit, ...] = UNITS
        self.fail: Exception | None = None
        self.calls = 0

    def snapshot(self) -> Snapshot:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        current = next((r for r in self.revisions if r.current), None)
        return Snapshot(
            service="web",
            environment="production",
            provider="host",
            taken_at=self.clock(),
            current=current,
            revisions=self.revisions,
            units=self.units,
        )

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        raise NotFound("fixed data: no plans")

    def execute(self, plan: Plan) -> Iterator[ProgressEvent]:
        raise NotFound("fixed data: nothing to execute")

    def wait_ready(
        self, plan: Plan, timeout_s: float, on_progress: Callable[[str], None] | None = None
    ) -> ReadyResult:
        return ReadyResult(False, "fixed data")


class FixedSource:
    """An error-rate source that always reports the same window and history."""

    name = "probe"

    def __init__(self) -> None:
        self.history_samples = rate_history()
        self.started = False
        self.stopped = False
        self.fail: Exception | None = None

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def sample(self, since: datetime | None = None) -> Sample:
        if self.fail is not None:
            raise self.fail
        return Sample(T0, 0.61, 380.0, 300, "probe")

    def history(self, points: int = 60) -> list[Sample]:
        return self.history_samples[-points:]

    def wait_for_data(self, timeout_s: float) -> bool:
        return True


class FixedHealth:
    """``check_health`` on fixed results; ``fail`` makes the next rounds raise."""

    def __init__(self) -> None:
        self.results = HEALTH
        self.fail: Exception | None = None

    def __call__(self, checks: Sequence[HealthCheck]) -> tuple[HealthResult, ...]:
        if self.fail is not None:
            raise self.fail
        return self.results


def fixed_config(root: Path = Path("/srv/rollback-console"), services: int = 1) -> Config:
    """A config for ``web (production)`` on a host; nothing under ``root`` is read or written
    unless a test starts the rollback flow."""
    web = ServiceConfig(
        "web",
        "production",
        "host",
        host=HostConfig(
            releases_dir=Path("/srv/web/releases"), current_link=Path("/srv/web/current")
        ),
        health=HEALTH_CHECKS,
        error_rate=ErrorRateConfig(source="probe", interval_s=0.5, window_s=30),
        thresholds=Thresholds(baseline_p95_ms=40),
    )
    extra = tuple(
        replace(web, name=f"api{i}", environment="production") for i in range(1, services)
    )
    return Config(
        root / "config.toml",
        ConsoleConfig("alice", root / "rollback-history.md", root / "state"),
        (web, *extra),
    )


class FixedWorld:
    """The fixed provider, source, health checks and clock one app runs on."""

    def __init__(self) -> None:
        self.clock = FrozenClock()
        self.provider = FixedProvider(self.clock)
        self.source = FixedSource()
        self.health = FixedHealth()

    def backends(self) -> Backends:
        return Backends(
            load_provider=lambda service: self.provider,
            make_source=lambda service: self.source,
            check_health=self.health,
        )

    def app(self, config: Config | None = None) -> RollbackConsoleApp:
        return make_app(config or fixed_config(), backends=self.backends(), clock=self.clock)


def fixed_app() -> RollbackConsoleApp:
    """The dashboard of ``web (production)`` during a bad v1.3.0 deploy, on fixed data."""
    return FixedWorld().app()
