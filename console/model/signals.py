"""What the signals measured and what the assessment made of it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from console.clock import utcnow

# --------------------------------------------------------------------------- signals


@dataclass(frozen=True)
class HealthResult:
    """One health-check request and what came back."""

    url: str
    ok: bool
    status_code: int | None
    latency_ms: float | None
    error: str = ""
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class Sample:
    """Error rate and latency over the source's window at one moment."""

    at: datetime
    error_rate: float | None
    p95_ms: float | None
    requests: int = 0
    source: str = ""
    #: Of ``requests``, how many were still waiting for an answer when the sample was
    #: taken; they count as errors until answered (``ProbeSource.sample(since=...)``).
    pending: int = 0


# --------------------------------------------------------------------------- assessment


class Severity(enum.StrEnum):
    """Runbook 002's scale; CRITICAL and HIGH mean roll back, the rest forward-fix."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Assessment:
    """How urgent a rollback is and by when the operator must decide."""

    severity: Severity
    recommendation: str
    reasons: tuple[str, ...]
    deadline: datetime | None
    error_rate: float | None = None
    p95_ms: float | None = None
    #: True while there is too little data for a verdict (fewer requests than
    #: ``thresholds.min_requests``, or no health result yet): the severity is then
    #: UNKNOWN and the recommendation says "assessing (n of N samples)".
    assessing: bool = False
    #: Requests the error-rate source had measured, and how many a verdict needs.
    samples: int = 0
    samples_needed: int = 0
