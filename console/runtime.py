"""What the console keeps per service while it runs: provider, error-rate source, latest data.

No Textual here: the app (``console.app``) holds one ``ServiceRuntime`` per
configured service and its dashboard polls through it; the rollback flow gets
the same provider and source from it, so whichever needs them first builds
them, exactly once.  ``Backends`` says where the data comes from (the real
providers and sources, imported lazily; tests and benchmarks pass their own).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from console.config import HealthCheck, ServiceConfig

if TYPE_CHECKING:
    from console.model import HealthResult, Sample, Snapshot
    from console.signals.base import ErrorRateSource
    from providers.base import Provider

#: How many samples of error-rate history the dashboard keeps for its sparkline.
HISTORY_POINTS = 120


def _load_provider(service: ServiceConfig) -> Provider:
    from providers import load_provider

    return load_provider(service)


def _make_source(service: ServiceConfig) -> ErrorRateSource:
    from console.signals import make_error_rate_source

    return make_error_rate_source(service)


def _check_health(checks: Sequence[HealthCheck]) -> tuple[HealthResult, ...]:
    from console.signals.health import check_health

    return check_health(checks)


@dataclass(frozen=True)
class Backends:
    """Where the app's data comes from; every function is blocking and runs in a worker.

    The defaults are the real ones (imported lazily, in the worker).  Tests and
    the benchmark pass their own, e.g. a provider that answers after a known
    delay, to measure or render the dashboard on known data.
    """

    #: Build the provider of a service (``providers.load_provider``).
    load_provider: Callable[[ServiceConfig], Provider] = _load_provider
    #: Build the (not yet started) error-rate source (``make_error_rate_source``).
    make_source: Callable[[ServiceConfig], ErrorRateSource] = _make_source
    #: Run one round of health checks (``console.signals.health.check_health``).
    check_health: Callable[[Sequence[HealthCheck]], tuple[HealthResult, ...]] = _check_health


class ServiceRuntime:
    """What the app keeps for one service: provider, error-rate source, and the latest data.

    ``read_*`` are the dashboard's per-source fetch functions: blocking, called
    from thread workers, each returning plain data.  The provider and source
    are created on first use, under a lock, so whichever worker needs them
    first (a poll or the rollback) builds them exactly once.
    """

    def __init__(self, service: ServiceConfig, backends: Backends) -> None:
        self.service = service
        self.backends = backends
        self._lock = threading.Lock()
        self._closed = False
        self.provider: Provider | None = None
        self.source: ErrorRateSource | None = None
        #: Latest data, written by the dashboard on the UI thread when a poll lands.
        self.snapshot: Snapshot | None = None
        self.snapshot_at: datetime | None = None
        self.health: tuple[HealthResult, ...] = ()
        self.health_at: datetime | None = None
        self.sample: Sample | None = None
        self.rate_history: tuple[Sample, ...] = ()
        self.sample_at: datetime | None = None
        #: Last error per source ("snapshot", "health", "error_rate"); absent when fine.
        self.errors: dict[str, str] = {}
        #: When the dashboard first saw the service unhealthy (the decision clock starts).
        self.detected_at: datetime | None = None

    @property
    def name(self) -> str:
        return self.service.name

    def ensure_provider(self) -> Provider:
        """The service's provider, loaded on first use (imports its SDK; blocking)."""
        with self._lock:
            if self.provider is None:
                self.provider = self.backends.load_provider(self.service)
            return self.provider

    def ensure_source(self) -> ErrorRateSource:
        """The service's error-rate source, built and started on first use (blocking).

        Raises ``SignalError`` once the app is closing, so a late poll cannot
        start a probe nobody will stop.
        """
        with self._lock:
            if self._closed:
                from console.signals.base import SignalError

                raise SignalError("the console is closing")
            if self.source is None:
                source = self.backends.make_source(self.service)
                source.start()
                self.source = source
            return self.source

    def read_snapshot(self) -> Snapshot:
        return self.ensure_provider().snapshot()

    def read_health(self) -> tuple[HealthResult, ...]:
        return self.backends.check_health(self.service.health)

    def read_error_rate(self) -> tuple[Sample, tuple[Sample, ...]]:
        source = self.ensure_source()
        return source.sample(), tuple(source.history(HISTORY_POINTS))

    def close(self) -> ErrorRateSource | None:
        """No new source from now on; returns the running one (to stop), if any."""
        with self._lock:
            self._closed = True
            source, self.source = self.source, None
        return source

    def stop(self) -> None:
        """Close, and stop the error-rate source if it was started (blocking, briefly)."""
        source = self.close()
        if source is not None:
            source.stop()
