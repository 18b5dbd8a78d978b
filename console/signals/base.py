"""What the console needs from an error-rate source (probe, Prometheus, CloudWatch...)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from console.errors import ConsoleError
from console.model import Sample


class SignalError(ConsoleError):
    """A source could not be read; ``str(err)`` is the one line a panel shows."""


class ErrorRateSource(Protocol):
    """A live error-rate / latency feed for one service.

    ``start`` may begin background sampling (the probe does; query-based
    sources need not).  ``sample`` and ``history`` never block on the network
    for a background source; a query-based source does blocking I/O there and
    is called from a worker.
    """

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def sample(self, since: datetime | None = None) -> Sample:
        """Error rate and p95 over the window (or only over data taken after ``since``)."""
        ...

    def history(self, points: int = 60) -> list[Sample]:
        """Up to ``points`` recent samples, oldest first, for the sparkline."""
        ...

    def wait_for_data(self, timeout_s: float) -> bool:
        """Block until at least one window's worth of data exists or the timeout passes."""
        ...


@runtime_checkable
class CountsInFlight(Protocol):
    """A source that sends the requests it measures (the probe) and so knows which are
    still waiting for an answer.

    Verification reads it one last time with ``sample_settled``: a service that
    stops answering must not look healthy by never answering.
    """

    def sample_settled(self, since: datetime, until: datetime) -> Sample:
        """Requests sent between ``since`` and ``until``, once each is answered or has run
        out of time (bounded by the source's own timeout); the ones still unanswered
        then count as errors (``Sample.pending``)."""
        ...
