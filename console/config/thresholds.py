"""``[services.thresholds]``: when a rollback is critical, high or medium, and what "ok" is."""

from __future__ import annotations

from dataclasses import dataclass

from console.config.bounds import MAX_LATENCY_MS
from console.config.reader import Reader


@dataclass(frozen=True)
class Thresholds:
    """Severity thresholds; defaults come from runbooks 001, 002 and 004."""

    #: Error rate (0..1) at or above which a rollback is critical (runbook 001: 50%).
    critical_error_rate: float = 0.50
    #: Error rate at or above which a rollback is high priority (runbook 001: 10%).
    high_error_rate: float = 0.10
    #: Error rate above which the service is degraded but a forward fix may do.
    medium_error_rate: float = 0.01
    #: p95 latency as a multiple of the baseline that makes it high (runbook 001: 3x).
    latency_factor: float = 3.0
    #: The service's normal p95 in ms; without it the latency rule is not applied.
    baseline_p95_ms: float | None = None
    #: Unit restarts at or above which restarts count as "frequent" (runbook 001).
    restarts_high: int = 3
    #: After a rollback the error rate must be below this (runbook 001: 1%).
    ok_error_rate: float = 0.01
    #: After a rollback p95 must be below this (runbook 001: 500 ms).
    ok_p95_ms: float = 500.0
    #: Time to decide, from detection, per severity (runbook 001: 5 and 15 minutes).
    critical_deadline_s: float = 300.0
    high_deadline_s: float = 900.0
    medium_deadline_s: float = 1800.0
    #: Requests the error-rate source must have measured in its window before the
    #: console gives a severity; below it the verdict is "assessing (n of N samples)".
    min_requests: int = 20


def read_thresholds(r: Reader) -> Thresholds:
    d = Thresholds()
    th = Thresholds(
        critical_error_rate=r.fraction("critical_error_rate", d.critical_error_rate),
        high_error_rate=r.fraction("high_error_rate", d.high_error_rate),
        medium_error_rate=r.fraction("medium_error_rate", d.medium_error_rate),
        latency_factor=r.duration(
            "latency_factor", d.latency_factor, low=1.0, high=1000.0, unit="(times the baseline)"
        ),
        baseline_p95_ms=r.duration("baseline_p95_ms", None, high=MAX_LATENCY_MS, unit="ms"),
        restarts_high=r.integer("restarts_high", d.restarts_high, 1, 1_000_000),
        ok_error_rate=r.fraction("ok_error_rate", d.ok_error_rate),
        ok_p95_ms=r.duration("ok_p95_ms", d.ok_p95_ms, high=MAX_LATENCY_MS, unit="ms"),
        critical_deadline_s=r.duration("critical_deadline_s", d.critical_deadline_s),
        high_deadline_s=r.duration("high_deadline_s", d.high_deadline_s),
        medium_deadline_s=r.duration("medium_deadline_s", d.medium_deadline_s),
        min_requests=r.integer("min_requests", d.min_requests, 1, 1_000_000),
    )
    if not th.high_error_rate <= th.critical_error_rate:
        raise r.error("high_error_rate", "must not exceed critical_error_rate")
    if not th.medium_error_rate <= th.high_error_rate:
        raise r.error("medium_error_rate", "must not exceed high_error_rate")
    r.done()
    return th
