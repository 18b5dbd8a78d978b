"""Prove a service recovered: watch it for the verify window after a rollback.

Every ``interval_s`` the health checks run and the error-rate source is read;
each round is reported as a ``VerifyTick`` for the live progress view.  The
verdict (runbook 001, "after a rollback"): **passed** only if

* health held for the whole window: every check of every round passed;
* the error rate was below ``thresholds.ok_error_rate`` (1%);
* p95 latency was below ``thresholds.ok_p95_ms`` (500 ms);
* and there was data to say so: no error-rate data is "not verified", said
  plainly, never a pass.

Choices an operator would otherwise have to guess:

* **Start-up grace.**  The platform has just said "ready", but a load
  balancer or a slow first request can still fail a check or two.  Failures in
  the first ``grace_ticks`` rounds (2) are forgiven *only while the service
  has not yet passed a round*; once a round passes, any later failure counts.
  Forgiven failures are reported (``VerifyTick.ignored`` and the message), and
  the error rate and p95 are then measured from the first fully passing round,
  so the start-up blip is neither hidden nor double-counted.  A service that
  never passes a round is never verified, and once the grace is used up
  without a passing round the forgiven failures count as failures again.
* **No fail-fast.**  A failure decides the verdict at once (the tick says so),
  but watching goes on to the end of the window, so the record says whether the
  service flapped once or stayed down.  The operator who has seen enough sets
  ``stop``, which ends the watch at once as "aborted" (never a pass) with what
  was seen so far.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from console.config import ServiceConfig
from console.model import HealthResult, Sample, Verification, utcnow
from console.signals.base import ErrorRateSource, SignalError
from console.signals.health import check_health, new_client

#: Failing rounds forgiven at the start, before the service has passed one round.
GRACE_TICKS = 2


@dataclass(frozen=True)
class VerifyTick:
    """One round of the watch, for the live progress view."""

    #: Seconds since the watch began, and how long it lasts.
    elapsed_s: float
    window_s: float
    #: This round's health results, in the order of the checks.
    health: tuple[HealthResult, ...]
    #: Error rate and p95 measured so far (None when the source could not be read).
    sample: Sample | None
    #: Failed checks that count against the verdict so far.
    failures: int
    #: Failed checks forgiven as start-up (see the module doc).
    ignored: int = 0
    #: Whether every check of this round passed.
    healthy: bool = True
    #: Whether the verdict is already known to be a failure (health failed after the grace).
    failed: bool = False


def verify(
    service: ServiceConfig,
    source: ErrorRateSource,
    *,
    before: Sample | None,
    window_s: float,
    on_tick: Callable[[VerifyTick], None] | None = None,
    stop: threading.Event | None = None,
    check: Callable[[], tuple[HealthResult, ...]] | None = None,
    interval_s: float = 1.0,
    grace_ticks: int = GRACE_TICKS,
) -> Verification:
    """Watch ``service`` for ``window_s`` seconds and return the verdict (module doc).

    ``check`` defaults to ``check_health(service.health)`` over one client kept
    for the whole watch.  ``source`` must already be started; it is read with
    ``sample(since=...)`` so only data from after the watch began counts.
    ``before`` is the sample from the assessment, quoted in the message.
    Blocking: the TUI runs it in a worker thread.
    """
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    stop = stop if stop is not None else threading.Event()
    client = None
    if check is None:
        client = new_client()
        checks, http = service.health, client

        def default_check() -> tuple[HealthResult, ...]:
            return check_health(checks, http)

        check = default_check

    watch = _Watch(window_s=window_s, grace_ticks=grace_ticks)
    started = time.monotonic()
    try:
        while True:
            if stop.is_set():
                watch.aborted = True
                break
            tick_at = utcnow()
            results = tuple(check())
            watch.elapsed_s = time.monotonic() - started
            if stop.is_set():  # set while the checks ran: this round does not count
                watch.aborted = True
                break
            watch.add_round(tick_at, results)
            watch.read(source)
            if on_tick is not None:
                on_tick(watch.tick())
            if watch.elapsed_s >= window_s:
                break
            next_at = min(window_s, (math.floor(watch.elapsed_s / interval_s) + 1) * interval_s)
            if stop.wait(max(0.0, next_at - (time.monotonic() - started))):
                watch.aborted = True
                watch.elapsed_s = time.monotonic() - started
                break
    finally:
        if client is not None:
            client.close()
    return watch.verdict(service, before)


@dataclass
class _Watch:
    """What the watch has seen so far."""

    window_s: float
    grace_ticks: int
    start_at: datetime | None = None
    settled_at: datetime | None = None
    settled_after_s: float = 0.0
    elapsed_s: float = 0.0
    rounds: int = 0
    failures: int = 0
    failed_rounds: int = 0
    ignored: int = 0
    first_failure: str = ""
    first_failure_s: float = 0.0
    grace_problem: str = ""
    grace_first_s: float = 0.0
    grace_rounds: int = 0
    configured_checks: int = 0
    health: tuple[HealthResult, ...] = ()
    sample: Sample | None = None
    sample_error: str = ""
    aborted: bool = False

    def add_round(self, at: datetime, results: tuple[HealthResult, ...]) -> None:
        if self.start_at is None:
            self.start_at = at
        self.rounds += 1
        self.health = results
        self.configured_checks = max(self.configured_checks, len(results))
        bad = [r for r in results if not r.ok]
        if not bad:
            if self.settled_at is None:
                self.settled_at = at
                self.settled_after_s = (at - self.start_at).total_seconds()
            return
        if self.settled_at is None and self.rounds <= self.grace_ticks:
            if not self.grace_rounds:
                self.grace_problem = _problem(bad[0])
                self.grace_first_s = self.elapsed_s
            self.ignored += len(bad)
            self.grace_rounds += 1
            return
        if self.settled_at is None and self.ignored:
            # Never came up: the start-up failures were failures after all.
            self.failures += self.ignored
            self.failed_rounds += self.grace_rounds
            self.first_failure = self.grace_problem
            self.first_failure_s = self.grace_first_s
            self.ignored = self.grace_rounds = 0
        self.failures += len(bad)
        self.failed_rounds += 1
        if not self.first_failure:
            self.first_failure = _problem(bad[0])
            self.first_failure_s = self.elapsed_s

    def read(self, source: ErrorRateSource) -> None:
        since = self.settled_at or self.start_at
        try:
            self.sample = source.sample(since=since)
            self.sample_error = ""
        except SignalError as err:
            self.sample = None
            self.sample_error = str(err)

    def tick(self) -> VerifyTick:
        return VerifyTick(
            elapsed_s=self.elapsed_s,
            window_s=self.window_s,
            health=self.health,
            sample=self.sample,
            failures=self.failures,
            ignored=self.ignored,
            healthy=all(r.ok for r in self.health),
            failed=self.failures > 0,
        )

    @property
    def health_held(self) -> bool:
        return self.rounds > 0 and self.settled_at is not None and self.failures == 0

    def verdict(self, service: ServiceConfig, before: Sample | None) -> Verification:
        th = service.thresholds
        sample = self.sample
        rate = sample.error_rate if sample is not None else None
        p95 = sample.p95_ms if sample is not None else None
        has_data = sample is not None and sample.requests > 0 and rate is not None
        rate_ok = has_data and rate is not None and rate < th.ok_error_rate
        p95_ok = has_data and p95 is not None and p95 < th.ok_p95_ms
        passed = not self.aborted and self.health_held and rate_ok and p95_ok

        parts = [self._health_part()]
        parts.extend(self._rate_parts(sample, before, th.ok_error_rate, th.ok_p95_ms))
        message = "; ".join(p for p in parts if p)
        if self.aborted:
            message = f"aborted after {_secs(self.elapsed_s)} of {_secs(self.window_s)}: {message}"
        return Verification(
            passed=passed,
            message=message,
            window_s=self.window_s,
            before=before,
            after=sample,
            health=self.health,
            health_held=self.health_held and not self.aborted,
        )

    def _health_part(self) -> str:
        if self.rounds == 0:
            return "nothing checked yet"
        if self.configured_checks == 0:
            return "no health checks configured"
        if self.failures:
            rounds = f"{self.failed_rounds} of {self.rounds} rounds"
            return (
                f"health failed in {rounds}, first at {_secs(self.first_failure_s)} "
                f"({self.first_failure})"
            )
        if self.settled_at is None:
            rounds = f"{self.grace_rounds} round{'s' if self.grace_rounds > 1 else ''}"
            return f"health never passed in {rounds} ({self.grace_problem})"
        held = max(0.0, self.elapsed_s - self.settled_after_s)
        text = f"health held {_secs(held)}"
        if self.ignored:
            text += (
                f" (after {self.ignored} failed start-up check"
                f"{'s' if self.ignored > 1 else ''} in the first {_secs(self.settled_after_s)})"
            )
        return text

    def _rate_parts(
        self, sample: Sample | None, before: Sample | None, ok_rate: float, ok_p95: float
    ) -> list[str]:
        if self.sample_error:
            return [f"error rate unavailable: {self.sample_error}"]
        if sample is None or sample.requests == 0 or sample.error_rate is None:
            requests = sample.requests if sample is not None else 0
            return [f"no error-rate data ({requests} requests), so not verified"]
        was = ""
        if before is not None and before.error_rate is not None:
            was = f" (was {_percent(before.error_rate)})"
        rate = sample.error_rate
        verdict = "" if rate < ok_rate else f", not below {ok_rate * 100:g}%"
        parts = [f"error rate {_percent(rate)} of {sample.requests} requests{verdict}{was}"]
        if sample.p95_ms is None:
            parts.append("no latency data (no request was answered)")
        else:
            slow = "" if sample.p95_ms < ok_p95 else f", not below {ok_p95:g} ms"
            parts.append(f"p95 {sample.p95_ms:.0f} ms{slow}")
        return parts


def _problem(result: HealthResult) -> str:
    if result.error:
        return f"{result.url}: {result.error}"
    if result.status_code is not None:
        return f"{result.url}: HTTP {result.status_code}"
    return f"{result.url}: failed"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _secs(seconds: float) -> str:
    """ "0.4 s" under ten seconds, "58 s" above."""
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
