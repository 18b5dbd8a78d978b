"""Prove a service recovered: watch it for the verify window after a rollback.

Every ``interval_s`` the health checks run and the error-rate source is read;
each round is reported as a ``VerifyTick`` for the live progress view.  The
verdict (runbook 001, "after a rollback"): **passed** only if

* health held for the whole window: every check of every round passed;
* the error rate was below ``thresholds.ok_error_rate`` (1%);
* p95 latency was below ``thresholds.ok_p95_ms`` (500 ms);
* and there was data to say so: no error-rate data is "not verified", said
  plainly, never a pass;
* and there was **enough** of it: at least ``min_rounds`` health rounds (3)
  and ``min_requests`` requests measured by the error-rate source (20), both
  counted from the first fully passing round.  A short window does not end
  the watch before the minimum is in: it goes on, at most until
  ``watch_limit(window_s)`` = max(2 x window, 60 s), and a watch that still
  has too little then is "not enough evidence", never a pass.  (A watch
  whose health already failed ends with the window: more data cannot save
  it; so does one whose error-rate source cannot be read at the end of the
  window: it is not verified either way.)  What a source reports as
  ``requests`` is taken as it is.

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
  After the first passing round nothing is forgiven again, whenever it
  happens (in the window or in the watch past it).
* **Requests in flight count as failures until answered.**  A service that
  stops answering must not look healthy by never answering: a source that
  knows about requests in flight (``CountsInFlight``, the probe) reports
  them as errors, and the verdict is taken once the requests sent before the
  end have been answered or have run out of time.
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
from console.signals.base import CountsInFlight, ErrorRateSource, SignalError
from console.signals.health import check_health, new_client

#: Failing rounds forgiven at the start, before the service has passed one round.
GRACE_TICKS = 2
#: The least evidence a pass needs, by default (``[services] verify_min_rounds`` and
#: ``verify_min_requests``).
MIN_ROUNDS = 3
MIN_REQUESTS = 20
#: A short window is watched past its end for the minimum, but not past
#: max(2 x window, this many seconds).
MIN_LIMIT_S = 60.0


def watch_limit(window_s: float) -> float:
    """How long the watch may go on for its minimum evidence: max(2 x window, 60 s)."""
    return max(2.0 * window_s, MIN_LIMIT_S)


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
    #: Passing health rounds and requests counted so far, and the least a pass needs.
    rounds: int = 0
    rounds_needed: int = 0
    requests_needed: int = 0
    #: The longest the watch may last waiting for that minimum (``watch_limit``).
    limit_s: float = 0.0

    @property
    def enough(self) -> bool:
        """Whether the minimum evidence is in."""
        requests = self.sample.requests if self.sample is not None else 0
        return self.rounds >= self.rounds_needed and requests >= self.requests_needed


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
    min_rounds: int = MIN_ROUNDS,
    min_requests: int = MIN_REQUESTS,
    limit_s: float | None = None,
) -> Verification:
    """Watch ``service`` for ``window_s`` seconds and return the verdict (module doc).

    ``check`` defaults to ``check_health(service.health)`` over one client kept
    for the whole watch.  ``source`` must already be started; it is read with
    ``sample(since=...)`` so only data from after the watch began counts.
    ``before`` is the sample from the assessment, quoted in the message.
    ``min_rounds`` / ``min_requests`` are the least evidence a pass needs; the
    watch goes on past the window for them until ``limit_s`` (default
    ``watch_limit(window_s)``).  Blocking: the TUI runs it in a worker thread.
    """
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    limit = max(window_s, watch_limit(window_s) if limit_s is None else limit_s)
    stop = stop if stop is not None else threading.Event()
    client = None
    if check is None:
        client = new_client()
        checks, http = service.health, client

        def default_check() -> tuple[HealthResult, ...]:
            return check_health(checks, http)

        check = default_check

    watch = _Watch(
        window_s=window_s,
        grace_ticks=grace_ticks,
        min_rounds=min_rounds,
        min_requests=min_requests,
        limit_s=limit,
    )
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
            if watch.elapsed_s >= window_s and (
                watch.failures or watch.enough or watch.sample_error
            ):
                break
            if watch.elapsed_s >= limit:
                break
            end = window_s if watch.elapsed_s < window_s else limit
            next_at = min(end, (math.floor(watch.elapsed_s / interval_s) + 1) * interval_s)
            if stop.wait(max(0.0, next_at - (time.monotonic() - started))):
                watch.aborted = True
                watch.elapsed_s = time.monotonic() - started
                break
    finally:
        if client is not None:
            client.close()
    if not watch.aborted:
        watch.settle(source, utcnow())
    return watch.verdict(service, before)


@dataclass
class _Watch:
    """What the watch has seen so far."""

    window_s: float
    grace_ticks: int
    min_rounds: int = MIN_ROUNDS
    min_requests: int = MIN_REQUESTS
    limit_s: float = 0.0
    start_at: datetime | None = None
    settled_at: datetime | None = None
    settled_after_s: float = 0.0
    elapsed_s: float = 0.0
    rounds: int = 0
    #: Rounds from the first fully passing one on: the health evidence a pass rests on.
    settled_rounds: int = 0
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
        if self.settled_at is None and not bad:
            self.settled_at = at
            self.settled_after_s = (at - self.start_at).total_seconds()
        if self.settled_at is not None:
            self.settled_rounds += 1
        if not bad:
            return
        # Forgiven only while no round has passed yet, and only in the first rounds.
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

    def settle(self, source: ErrorRateSource, end: datetime) -> None:
        """The final reading: every request sent before ``end`` answered, or counted as failed.

        Only a source that knows its requests in flight can wait for them; the
        others are simply read once more.
        """
        since = self.settled_at or self.start_at
        if since is None:
            return
        if not isinstance(source, CountsInFlight):
            self.read(source)
            return
        try:
            self.sample = source.sample_settled(since, end)
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
            rounds=self.settled_rounds,
            rounds_needed=self.min_rounds,
            requests_needed=self.min_requests,
            limit_s=self.limit_s,
        )

    @property
    def requests(self) -> int:
        return self.sample.requests if self.sample is not None else 0

    @property
    def enough(self) -> bool:
        return self.settled_rounds >= self.min_rounds and self.requests >= self.min_requests

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
        passed = not self.aborted and self.health_held and rate_ok and p95_ok and self.enough

        parts = [self._health_part()]
        parts.extend(self._rate_parts(sample, before, th.ok_error_rate, th.ok_p95_ms))
        message = "; ".join(p for p in parts if p)
        if self.aborted:
            message = f"aborted after {_secs(self.elapsed_s)} of {_secs(self.window_s)}: {message}"
        elif not self.enough and self.health_held and rate_ok and p95_ok:
            # Everything seen was good, but too little of it.  (A failure needs no
            # minimum to be one; no data at all says "not verified" in its own words.)
            message = f"{self._evidence_part()}: {message}"
        return Verification(
            passed=passed,
            message=message,
            window_s=self.window_s,
            before=before,
            after=sample,
            health=self.health,
            health_held=self.health_held and not self.aborted,
        )

    def _evidence_part(self) -> str:
        """``not enough evidence (2 of 3 health rounds, 7 of 20 requests in 60 s)``."""
        return (
            f"not enough evidence ({self.settled_rounds} of {self.min_rounds} health rounds, "
            f"{self.requests} of {self.min_requests} requests in {_secs(self.elapsed_s)})"
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
        unanswered = f", {sample.pending} of them never answered" if sample.pending else ""
        parts = [
            f"error rate {_percent(rate)} of {sample.requests} requests{unanswered}{verdict}{was}"
        ]
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
