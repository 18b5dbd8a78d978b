"""One refresh of every dashboard panel against sources that answer after known delays.

Used by ``tests.bench`` (``make bench``).  The app is the real one built by
``make_app``; only its ``Backends`` are swapped for sources that sleep for a
given time and then return fixed data, so the number measured is the
dashboard's own overhead on top of the slowest source.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from console.app import make_app
from console.config import HealthCheck, ServiceConfig, load_config
from console.model import HealthResult, Revision, Sample, Snapshot, Unit, utcnow
from console.runtime import Backends

CONFIG = """
[console]
operator = "bench"
history_file = "history.md"
state_dir = "state"

[[services]]
name = "web"
environment = "bench"
provider = "host"
[services.host]
releases_dir = "releases"
current_link = "current"
restart = ["true"]
[[services.health]]
url = "http://127.0.0.1:9/health"
"""


class DelayedProvider:
    """A provider whose snapshot takes ``delay`` seconds (a slow platform API)."""

    name = "host"

    def __init__(self, service: ServiceConfig, delay: float) -> None:
        self.service = service
        self.delay = delay

    def snapshot(self) -> Snapshot:
        time.sleep(self.delay)
        revisions = tuple(
            Revision(id=f"v1.{i}.0", version=f"v1.{i}.0", current=i == 9) for i in range(9, 0, -1)
        )
        units = tuple(Unit(name=f"app-{i}", state="running", ready=True) for i in range(20))
        return Snapshot(
            service=self.service.name,
            environment=self.service.environment,
            provider="host",
            taken_at=utcnow(),
            current=revisions[0],
            revisions=revisions,
            units=units,
        )

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the benchmark provider has no {name}")


class DelayedSource:
    """An error-rate source whose reads take ``delay`` seconds (a slow metrics API)."""

    name = "bench"

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def sample(self, since: datetime | None = None) -> Sample:
        time.sleep(self.delay)
        return Sample(at=utcnow(), error_rate=0.02, p95_ms=120.0, requests=400, source="bench")

    def history(self, points: int = 60) -> list[Sample]:
        now = utcnow()
        return [Sample(at=now, error_rate=0.01 * (i % 5), p95_ms=100.0) for i in range(points)]

    def wait_for_data(self, timeout_s: float) -> bool:
        return True


def _backends(delays: dict[str, float]) -> Backends:
    def check_health(checks: Sequence[HealthCheck]) -> tuple[HealthResult, ...]:
        time.sleep(delays["health"])
        return tuple(
            HealthResult(url=c.url, ok=True, status_code=200, latency_ms=3.0) for c in checks
        )

    return Backends(
        load_provider=lambda service: DelayedProvider(service, delays["snapshot"]),  # type: ignore[arg-type,return-value]
        make_source=lambda service: DelayedSource(delays["error_rate"]),  # type: ignore[arg-type,return-value]
        check_health=check_health,
    )


def one_refresh(delays: dict[str, float], rounds: int = 5) -> float:
    """Median seconds for ``refresh_all`` to have every panel rendered, after a warm-up."""
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "config.toml"
        config_path.write_text(CONFIG)
        (Path(tmp) / "releases").mkdir()
        app = make_app(load_config(config_path), backends=_backends(delays))
        timings: list[float] = []

        async def measure() -> None:
            async with app.run_test(size=(120, 40)) as pilot:
                await app.refresh_all()  # first polls: provider and source load
                for _ in range(rounds):
                    start = time.perf_counter()
                    await app.refresh_all()
                    timings.append(time.perf_counter() - start)
                await pilot.pause()

        asyncio.run(measure())
    timings.sort()
    return timings[len(timings) // 2]
