"""Messages the dashboard's poll workers post: plain data in, widgets only render.

Each poll (one thread worker per source) posts exactly one of these when it
ends: the data it read, or ``SourceFailed`` with the one line to show.  Data
messages replace an older unprocessed message of the same kind
(``can_replace``, as Toolong does), so a slow UI never renders stale data
twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from console.model import HealthResult, Sample, Snapshot


#: The dashboard's sources, in the order their panels are laid out.
SNAPSHOT = "snapshot"
HEALTH = "health"
ERROR_RATE = "error_rate"
SOURCES: tuple[str, ...] = (SNAPSHOT, HEALTH, ERROR_RATE)


class SourceRead(Message):
    """Base of the data messages: which service, and when the read finished."""

    def __init__(self, service: str, at: datetime) -> None:
        super().__init__()
        self.service = service
        self.at = at

    def can_replace(self, message: Message) -> bool:
        return type(message) is type(self) and getattr(message, "service", None) == self.service


class SnapshotRead(SourceRead):
    """The provider's snapshot: current revision, history, units."""

    def __init__(self, service: str, snapshot: Snapshot, at: datetime) -> None:
        super().__init__(service, at)
        self.snapshot = snapshot


class HealthRead(SourceRead):
    """One round of the service's health checks."""

    def __init__(self, service: str, results: tuple[HealthResult, ...], at: datetime) -> None:
        super().__init__(service, at)
        self.results = results


class ErrorRateRead(SourceRead):
    """The error-rate source's current window and its recent history (oldest first)."""

    def __init__(
        self, service: str, sample: Sample, history: tuple[Sample, ...], at: datetime
    ) -> None:
        super().__init__(service, at)
        self.sample = sample
        self.history = history


class SourceFailed(Message):
    """A poll failed: the panel keeps its last data and shows ``error`` in red."""

    def __init__(self, service: str, source: str, error: str, at: datetime) -> None:
        super().__init__()
        self.service = service
        self.source = source
        self.error = error
        self.at = at
