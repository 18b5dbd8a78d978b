"""Thresholds -> severity, the recommended action and the decision deadline.

The rules are runbook 001's, on runbook 002's scale (thresholds in
``console.config.Thresholds``; every comparison is "at or above"):

========  ==============================================================  ============
severity  when                                                            decide by
========  ==============================================================  ============
CRITICAL  error rate >= critical_error_rate (50%), or every health check  detected + 5 min
          fails (at least one is configured)
HIGH      error rate >= high_error_rate (10%), or p95 >= latency_factor   detected + 15 min
          (3x) the baseline p95 (only when a baseline is configured), or
          a unit restarted >= restarts_high times, or some (not all)
          health checks fail
MEDIUM    error rate >= medium_error_rate (1%)                            detected + 30 min
LOW       none of the above, with at least one signal                     no deadline
UNKNOWN   no signal at all: no error rate, no latency, no health check    no deadline
          result, and no rule fired
========  ==============================================================  ============

**No verdict on too little data.**  While the error-rate source has measured
fewer than ``thresholds.min_requests`` requests (20) in its window, or the
health checks have not answered yet, the severity is UNKNOWN with
``assessing`` set and the recommendation says "Assessing (n of N samples)":
a few lucky requests of a failing service must not read "LOW — no rollback
needed".  What the data shows so far is still listed in the reasons.  A
source that could not be read at all (``sample`` None) is not waited for:
the verdict then rests on the health checks and the units, and says so.

CRITICAL and HIGH recommend rolling back; MEDIUM and LOW a forward fix (runbook
002: "Medium: Forward Fix 検討", "Low: Forward Fix"; runbook 004: a warning is
decided within 30 minutes, the rest is fixed in the next deploy).  Every rule
that fired is given as a reason, most severe first, with its numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from console.config import Thresholds
from console.model import Assessment, HealthResult, Sample, Severity, Unit, utcnow

#: Error-rate data older than this (relative to ``now``) is called out as stale.
STALE_AFTER_S = 120.0

#: The severities that call for a decision (and start the decision clock).
UNHEALTHY: tuple[Severity, ...] = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM)

#: At most this many restarted units are named one by one.
_MAX_UNITS_NAMED = 3


def assess(
    thresholds: Thresholds,
    sample: Sample | None,
    health: Sequence[HealthResult],
    units: Sequence[Unit],
    detected_at: datetime,
    now: datetime | None = None,
    *,
    health_pending: bool = False,
) -> Assessment:
    """How urgent a rollback is, from the latest signals (see the module doc for the rules).

    ``detected_at`` is when the incident was opened: the deadline counts from
    it, not from this assessment.  ``now`` only serves to call out stale data.
    ``health_pending`` says the configured health checks have not answered yet
    (the dashboard's first seconds): no verdict until they have.
    """
    now = now or utcnow()
    th = thresholds
    rate = sample.error_rate if sample is not None else None
    p95 = sample.p95_ms if sample is not None else None
    found: list[tuple[Severity, str]] = []

    if rate is not None:
        if rate >= th.critical_error_rate:
            found.append(
                (Severity.CRITICAL, _rate_reason(rate, th.critical_error_rate, "critical"))
            )
        elif rate >= th.high_error_rate:
            found.append((Severity.HIGH, _rate_reason(rate, th.high_error_rate, "high")))
        elif rate >= th.medium_error_rate:
            found.append((Severity.MEDIUM, _rate_reason(rate, th.medium_error_rate, "medium")))

    failing = [h for h in health if not h.ok]
    if health and failing:
        level = Severity.CRITICAL if len(failing) == len(health) else Severity.HIGH
        details = "; ".join(f"{h.url}: {_health_problem(h)}" for h in failing)
        found.append((level, f"{len(failing)} of {len(health)} health checks failing ({details})"))

    if p95 is not None and th.baseline_p95_ms is not None and th.baseline_p95_ms > 0:
        limit = th.latency_factor * th.baseline_p95_ms
        if p95 >= limit:
            found.append(
                (
                    Severity.HIGH,
                    f"p95 {p95:.0f} ms >= {_factor(th.latency_factor)}x baseline "
                    f"{th.baseline_p95_ms:g} ms",
                )
            )

    restarted = [u for u in units if u.restarts >= th.restarts_high]
    if restarted:
        restarted.sort(key=lambda u: u.restarts, reverse=True)
        named = ", ".join(
            f"{u.name} restarted {_times(u.restarts)}" for u in restarted[:_MAX_UNITS_NAMED]
        )
        more = len(restarted) - _MAX_UNITS_NAMED
        extra = f" and {more} more unit{'s' if more > 1 else ''}" if more > 0 else ""
        found.append((Severity.HIGH, f"{named}{extra} (>= {th.restarts_high})"))

    has_signal = rate is not None or p95 is not None or bool(health)
    if found:
        severity = min((level for level, _ in found), key=_RANK.__getitem__)
    elif has_signal:
        severity = Severity.LOW
    else:
        severity = Severity.UNKNOWN

    reasons = [text for _, text in sorted(found, key=lambda f: _RANK[f[0]])]
    if rate is None and (has_signal or found):
        requests = sample.requests if sample is not None else 0
        reasons.append(f"no error-rate data ({requests} requests in the window)")
    if severity is Severity.UNKNOWN:
        reasons.append("no error-rate data and no health check results")
    if sample is not None and rate is not None:
        age = (now - sample.at).total_seconds()
        if age >= STALE_AFTER_S:
            reasons.append(f"error-rate data is {_clock(age)} old")

    seen = sample.requests if sample is not None else 0
    needed = th.min_requests
    if health_pending or (sample is not None and seen < needed):
        return _assessing(found, sample, seen, needed, health_pending)

    return Assessment(
        severity=severity,
        recommendation=recommendation(severity, th),
        reasons=tuple(reasons),
        deadline=deadline_for(severity, detected_at, th),
        error_rate=rate,
        p95_ms=p95,
        samples=seen,
        samples_needed=needed,
    )


def _assessing(
    found: list[tuple[Severity, str]],
    sample: Sample | None,
    seen: int,
    needed: int,
    health_pending: bool,
) -> Assessment:
    """Too little data for a verdict: UNKNOWN, no deadline, and what was seen so far."""
    waiting = []
    if sample is not None and seen < needed:
        waiting.append(f"{seen} of {needed} samples")
    if health_pending:
        waiting.append("health checks not answered yet")
    reasons = [f"so far: {text}" for _, text in sorted(found, key=lambda f: _RANK[f[0]])]
    rate = sample.error_rate if sample is not None else None
    if rate is not None:
        reasons.append(f"error rate so far {_percent(rate)} of {seen} requests")
    reasons.append(f"no verdict before {needed} requests are measured (thresholds.min_requests)")
    return Assessment(
        severity=Severity.UNKNOWN,
        recommendation=f"Assessing ({'; '.join(waiting)}): no verdict yet",
        reasons=tuple(reasons),
        deadline=None,
        error_rate=rate,
        p95_ms=sample.p95_ms if sample is not None else None,
        assessing=True,
        samples=seen,
        samples_needed=needed,
    )


def describe(assessment: Assessment) -> str:
    """``severity high: Roll back …`` or ``assessing (7 of 20 samples): no verdict yet``.

    The one line the headless commands print, so ``rollback`` and ``status``
    say the same thing about the same data.
    """
    if assessment.assessing:
        return assessment.recommendation[0].lower() + assessment.recommendation[1:]
    return f"severity {assessment.severity.value}: {assessment.recommendation}"


def recommendation(severity: Severity, thresholds: Thresholds) -> str:
    """The one sentence an operator acts on, with the decision time from the thresholds."""
    th = thresholds
    if severity is Severity.CRITICAL:
        return f"Roll back now — decide within {_minutes(th.critical_deadline_s)}"
    if severity is Severity.HIGH:
        return (
            f"Roll back unless a fix is minutes away — decide within {_minutes(th.high_deadline_s)}"
        )
    if severity is Severity.MEDIUM:
        return (
            "Consider a forward fix: degraded but serving; roll back if it gets worse — "
            f"decide within {_minutes(th.medium_deadline_s)}"
        )
    if severity is Severity.LOW:
        return "Forward fix: no rollback needed; fix it in the next deploy"
    return "No signals: check the health URL and the logs by hand before deciding"


def deadline_for(
    severity: Severity, detected_at: datetime, thresholds: Thresholds
) -> datetime | None:
    """When the decision is due: detection + the severity's time; None for LOW and UNKNOWN."""
    seconds = {
        Severity.CRITICAL: thresholds.critical_deadline_s,
        Severity.HIGH: thresholds.high_deadline_s,
        Severity.MEDIUM: thresholds.medium_deadline_s,
    }.get(severity)
    return None if seconds is None else detected_at + timedelta(seconds=seconds)


def format_remaining(deadline: datetime, now: datetime | None = None) -> str:
    """ "4:32 left" before the deadline, "overdue by 0:41" at or after it.

    The time left is rounded up (a countdown shows 0:01 until it is over), the
    time overdue rounded down; an hour or more reads "1:02:03".
    """
    now = now or utcnow()
    seconds = (deadline - now).total_seconds()
    if seconds > 0:
        return f"{_clock(math.ceil(seconds))} left"
    return f"overdue by {_clock(math.floor(-seconds))}"


# --------------------------------------------------------------------------- helpers

_RANK: dict[Severity, int] = {
    Severity.CRITICAL: 0,
    Severity.HIGH: 1,
    Severity.MEDIUM: 2,
    Severity.LOW: 3,
    Severity.UNKNOWN: 4,
}


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _threshold(value: float) -> str:
    return f"{value * 100:g}%"


def _rate_reason(rate: float, threshold: float, label: str) -> str:
    return f"error rate {_percent(rate)} >= {_threshold(threshold)} ({label})"


def _health_problem(result: HealthResult) -> str:
    if result.error:
        return result.error
    if result.status_code is not None:
        return f"HTTP {result.status_code}"
    return "failed"


def _factor(value: float) -> str:
    return f"{value:.1f}" if round(value, 1) == value else f"{value:g}"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _minutes(seconds: float) -> str:
    minutes = seconds / 60.0
    if minutes == 1:
        return "1 minute"
    return f"{minutes:g} minutes" if minutes >= 1 else f"{seconds:g} seconds"


def _clock(seconds: float) -> str:
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def suggested_reason(
    assessment: Assessment, *, since: datetime, version: str, alert: str = ""
) -> str:
    """The reason the Assess screen offers, from the assessment's strongest finding.

    "error rate 56.8% ≥ 50% (critical) since 23:01 on v1.3.0": what crossed
    which threshold, since when, on which release, so that accepting it with
    Enter records a reason a reader of the history understands.  When the
    signals call for nothing but the platform raised an ``alert`` (a Swarm
    update paused on a failing task), the alert is the reason ("update paused:
    ... on v3").  Empty when neither calls for a rollback (still assessing,
    low, unknown): then the operator has to say why.
    """
    if assessment.assessing:
        return ""
    if assessment.severity not in UNHEALTHY or not assessment.reasons:
        return f"{alert} on {version}" if alert and version else alert
    first = assessment.reasons[0].replace(" >= ", " ≥ ")
    label = f"({assessment.severity.value})"
    if label not in first:
        first += f" {label}"
    local = since.astimezone().strftime("%H:%M")
    on = f" on {version}" if version else ""
    return f"{first} since {local}{on}"
