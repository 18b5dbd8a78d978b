"""verify() against real local HTTP servers and a real probe; windows of about a second."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from console.config import HealthCheck, ServiceConfig, Thresholds
from console.model import HealthResult, Sample
from console.signals.base import SignalError
from console.signals.health import check_health
from console.signals.probe import ProbeSource
from console.verify import VerifyTick, verify
from tests.signals import FlipServer, alternating, failing, healthy, slow

BEFORE = Sample(datetime(2026, 1, 27, 10, 0, tzinfo=UTC), 0.583, 840.0, 240, "probe")
WINDOW_S = 1.0
INTERVAL_S = 0.2


@pytest.fixture
def server() -> Iterator[FlipServer]:
    srv = FlipServer()
    yield srv
    srv.close()


@pytest.fixture
def probe(server: FlipServer) -> Iterator[ProbeSource]:
    source = ProbeSource([server.url], interval_s=0.05, window_s=30)
    source.start()
    yield source
    source.stop()


def service_for(server: FlipServer, **thresholds: float) -> ServiceConfig:
    return ServiceConfig(
        "web",
        "test",
        "host",
        health=(HealthCheck(server.url, timeout_s=1.0),),
        thresholds=Thresholds(**thresholds),  # type: ignore[arg-type]
    )


class Ticks(list[VerifyTick]):
    def __call__(self, tick: VerifyTick) -> None:
        self.append(tick)


def test_healthy_service_passes(server: FlipServer, probe: ProbeSource) -> None:
    ticks = Ticks()
    result = verify(
        service_for(server),
        probe,
        before=BEFORE,
        window_s=WINDOW_S,
        on_tick=ticks,
        interval_s=INTERVAL_S,
    )
    assert result.passed, result.message
    assert re.match(
        r"health held 1\.\d s; error rate 0\.0% of \d+ requests \(was 58\.3%\); p95 \d+ ms$",
        result.message,
    ), result.message
    assert "(was 58.3%)" in result.message
    assert "; p95 " in result.message
    assert result.before is BEFORE
    assert result.after is not None and result.after.requests > 0
    assert result.window_s == WINDOW_S
    assert [h.ok for h in result.health] == [True]
    assert len(ticks) >= 2
    assert ticks[-1].elapsed_s >= WINDOW_S
    assert all(t.failures == 0 and t.healthy and not t.failed for t in ticks)
    assert [t.elapsed_s for t in ticks] == sorted(t.elapsed_s for t in ticks)


def test_server_turning_bad_mid_window_fails(server: FlipServer, probe: ProbeSource) -> None:
    ticks = Ticks()

    def on_tick(tick: VerifyTick) -> None:
        ticks(tick)
        if len(ticks) == 3:  # two rounds passed: the grace is over
            server.behave = failing

    result = verify(
        service_for(server),
        probe,
        before=BEFORE,
        window_s=WINDOW_S,
        on_tick=on_tick,
        interval_s=INTERVAL_S,
    )
    assert not result.passed
    assert result.message.startswith("health failed in ")
    assert "(http://127.0.0.1:" in result.message and "HTTP 500, expected 200" in result.message
    assert "not below 1%" in result.message
    # It kept watching to the end of the window, counting every failed round.
    assert ticks[-1].elapsed_s >= WINDOW_S
    assert ticks[3].failed and ticks[3].failures == 1 and not ticks[3].healthy
    assert ticks[-1].failures == len(ticks) - 3
    assert [h.status_code for h in result.health] == [500]


def test_no_error_rate_data_is_not_verified(server: FlipServer) -> None:
    silent = ProbeSource([server.url])  # never started: no data
    # (No data keeps the watch going for its minimum evidence: limit it to the window.)
    result = verify(
        service_for(server),
        silent,
        before=BEFORE,
        window_s=0.4,
        interval_s=INTERVAL_S,
        limit_s=0.4,
    )
    assert not result.passed
    assert re.match(
        r"health held 0\.\d s; no error-rate data \(0 requests\), so not verified$",
        result.message,
    ), result.message
    assert result.after is not None and result.after.requests == 0


def test_stop_aborts_at_once(server: FlipServer, probe: ProbeSource) -> None:
    stop = threading.Event()
    ticks = Ticks()

    def on_tick(tick: VerifyTick) -> None:
        ticks(tick)
        stop.set()

    result = verify(
        service_for(server),
        probe,
        before=BEFORE,
        window_s=30,
        on_tick=on_tick,
        stop=stop,
        interval_s=INTERVAL_S,
    )
    assert not result.passed
    assert re.match(r"aborted after 0\.\d s of 30 s: health held 0\.0 s; ", result.message)
    assert len(ticks) == 1


def test_stop_set_before_the_start_checks_nothing(server: FlipServer, probe: ProbeSource) -> None:
    stop = threading.Event()
    stop.set()
    result = verify(service_for(server), probe, before=None, window_s=30, stop=stop)
    assert not result.passed
    assert result.message.startswith("aborted after 0.0 s of 30 s: nothing checked yet")
    assert result.health == ()


def test_start_up_failures_are_forgiven_once(server: FlipServer, probe: ProbeSource) -> None:
    server.down()
    ticks = Ticks()

    def on_tick(tick: VerifyTick) -> None:
        ticks(tick)
        server.up()  # the service comes up after the first round

    result = verify(
        service_for(server),
        probe,
        before=BEFORE,
        window_s=WINDOW_S,
        on_tick=on_tick,
        interval_s=INTERVAL_S,
    )
    assert result.passed, result.message
    assert re.match(
        r"health held \d\.\d s \(after 1 failed start-up check in the first \d\.\d s\); ",
        result.message,
    ), result.message
    assert ticks[0].ignored == 1 and ticks[0].failures == 0 and not ticks[0].healthy
    assert not ticks[0].failed


def test_a_service_that_never_comes_up_fails(server: FlipServer, probe: ProbeSource) -> None:
    server.down()
    ticks = Ticks()
    result = verify(
        service_for(server),
        probe,
        before=BEFORE,
        window_s=WINDOW_S,
        on_tick=ticks,
        interval_s=INTERVAL_S,
    )
    assert [(t.ignored, t.failures, t.failed) for t in ticks[:3]] == [
        (1, 0, False),
        (2, 0, False),
        (0, 3, True),
    ]
    assert not result.passed
    # Every round failed, the forgiven start-up rounds included: the service never came up.
    assert re.match(r"health failed in (\d+) of \1 rounds, first at 0\.0 s \(", result.message)
    assert "connection refused" in result.message
    assert "error rate 100.0%" in result.message
    assert "no latency data" in result.message


def test_never_passing_within_the_grace_is_not_held(server: FlipServer) -> None:
    server.down()
    silent = ProbeSource([server.url])
    result = verify(
        service_for(server), silent, before=None, window_s=0, interval_s=INTERVAL_S, limit_s=0
    )
    assert not result.passed
    assert result.message.startswith("health never passed in 1 round (http://127.0.0.1:")


def test_error_rate_above_one_percent_fails_with_healthy_checks(server: FlipServer) -> None:
    flaky = FlipServer(alternating)
    source = ProbeSource([flaky.url], interval_s=0.05)
    source.start()
    try:
        result = verify(
            service_for(server),
            source,
            before=BEFORE,
            window_s=WINDOW_S,
            interval_s=INTERVAL_S,
        )
    finally:
        source.stop()
        flaky.close()
    assert not result.passed
    assert re.match(r"health held 1\.\d s; error rate ", result.message)
    assert ", not below 1% (was 58.3%)" in result.message


def test_slow_p95_fails(server: FlipServer) -> None:
    sluggish = FlipServer(slow(0.15))
    source = ProbeSource([sluggish.url], interval_s=0.05)
    source.start()
    try:
        result = verify(
            service_for(server, ok_p95_ms=100.0),
            source,
            before=None,
            window_s=WINDOW_S,
            interval_s=INTERVAL_S,
        )
    finally:
        source.stop()
        sluggish.close()
    assert not result.passed
    assert result.message.endswith(", not below 100 ms")
    assert "(was" not in result.message


def test_custom_check_and_no_health_checks(server: FlipServer, probe: ProbeSource) -> None:
    def no_checks() -> tuple[HealthResult, ...]:
        return ()

    result = verify(
        service_for(server),
        probe,
        before=None,
        window_s=0.4,
        check=no_checks,
        interval_s=INTERVAL_S,
    )
    assert result.passed, result.message
    assert result.message.startswith("no health checks configured; error rate 0.0%")


def test_default_check_is_the_services_health(server: FlipServer, probe: ProbeSource) -> None:
    svc = service_for(server)
    seen: list[tuple[HealthResult, ...]] = []

    def check() -> tuple[HealthResult, ...]:
        seen.append(check_health(svc.health))
        return seen[-1]

    server.behave = healthy
    result = verify(svc, probe, before=None, window_s=0.2, check=check, interval_s=INTERVAL_S)
    assert result.passed
    assert result.health == seen[-1]


# --------------------------------------------------------------------------- issue 11: evidence


class CountingSource:
    """A query-style source (not a probe): reports whatever request count it is given."""

    name = "prometheus"

    def __init__(self, requests: int, rate: float = 0.0) -> None:
        self.requests = requests
        self.rate = rate

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def sample(self, since: datetime | None = None) -> Sample:
        return Sample(datetime.now(UTC), self.rate, 40.0, self.requests, self.name)

    def history(self, points: int = 60) -> list[Sample]:
        return []

    def wait_for_data(self, timeout_s: float) -> bool:
        return True


def test_a_short_window_is_watched_until_the_minimum_evidence_is_in(server: FlipServer) -> None:
    # One probe request every 0.1 s: a 0.2 s window holds about two of them.
    source = ProbeSource([server.url], interval_s=0.1)
    source.start()
    ticks = Ticks()
    try:
        result = verify(
            service_for(server),
            source,
            before=BEFORE,
            window_s=0.2,
            on_tick=ticks,
            interval_s=INTERVAL_S,
        )
    finally:
        source.stop()
    assert result.passed, result.message
    assert result.after is not None and result.after.requests >= 20
    assert sum(t.healthy for t in ticks) >= 3
    assert ticks[-1].enough and not ticks[0].enough
    assert [t.rounds_needed for t in ticks[:1]] == [3] and ticks[0].requests_needed == 20


def test_too_little_evidence_when_the_limit_passes_is_not_verified(server: FlipServer) -> None:
    source = ProbeSource([server.url], interval_s=0.1)
    source.start()
    try:
        result = verify(
            service_for(server),
            source,
            before=BEFORE,
            window_s=0.2,
            interval_s=INTERVAL_S,
            limit_s=0.4,
        )
    finally:
        source.stop()
    assert not result.passed
    assert re.match(
        r"not enough evidence \(\d of 3 health rounds, \d+ of 20 requests in 0\.\d s\): "
        r"health held 0\.\d s; error rate 0\.0% of \d+ requests",
        result.message,
    ), result.message


def test_what_a_query_source_reports_as_requests_is_the_evidence(server: FlipServer) -> None:
    few = verify(
        service_for(server),
        CountingSource(requests=5),
        before=None,
        window_s=0.2,
        interval_s=INTERVAL_S,
        limit_s=0.6,
    )
    assert not few.passed
    assert re.match(r"not enough evidence \(\d of 3 health rounds, 5 of 20 requests", few.message)
    enough = verify(
        service_for(server),
        CountingSource(requests=25),
        before=None,
        window_s=0.2,
        interval_s=INTERVAL_S,
        limit_s=0.6,
    )
    assert enough.passed, enough.message
    assert "error rate 0.0% of 25 requests" in enough.message


def test_the_minimum_is_the_callers(server: FlipServer) -> None:
    result = verify(
        service_for(server),
        CountingSource(requests=5),
        before=None,
        window_s=0.2,
        interval_s=INTERVAL_S,
        min_rounds=1,
        min_requests=5,
        limit_s=0.6,
    )
    assert result.passed, result.message


def test_requests_in_flight_at_the_end_count_as_failures(server: FlipServer) -> None:
    """Health answers at once, but every second request the error rate probes hangs:
    the answered half alone would read 0% errors."""
    hanging = FlipServer(slow(2.0, every=2))
    source = ProbeSource([hanging.url], interval_s=0.05, timeout_s=1.0)
    source.start()
    try:
        result = verify(
            service_for(server),
            source,
            before=BEFORE,
            window_s=0.6,
            interval_s=INTERVAL_S,
            min_requests=5,
        )
    finally:
        source.stop()
        hanging.close()
    assert not result.passed
    assert result.after is not None and result.after.error_rate is not None
    assert result.after.error_rate >= 0.25, result.message
    assert ", not below 1%" in result.message


def test_start_up_failures_are_never_forgiven_after_the_first_pass(server: FlipServer) -> None:
    """Pass, fail: the failure is in the grace rounds' range, but counts (the grace is over)."""
    rounds = iter([True, False, True, True, True, True])

    def check() -> tuple[HealthResult, ...]:
        ok = next(rounds, True)
        return (HealthResult(server.url, ok, 200 if ok else 500, 1.0),)

    ticks = Ticks()
    result = verify(
        service_for(server),
        CountingSource(requests=25),
        before=None,
        window_s=0.6,
        check=check,
        on_tick=ticks,
        interval_s=INTERVAL_S,
    )
    assert not result.passed
    assert (ticks[1].ignored, ticks[1].failures, ticks[1].failed) == (0, 1, True)
    assert result.message.startswith("health failed in 1 of ")


def test_a_failure_after_a_forgiven_one_and_a_pass_counts(server: FlipServer) -> None:
    rounds = iter([False, True, False, True, True, True])

    def check() -> tuple[HealthResult, ...]:
        ok = next(rounds, True)
        return (HealthResult(server.url, ok, 200 if ok else 500, 1.0),)

    ticks = Ticks()
    result = verify(
        service_for(server),
        CountingSource(requests=25),
        before=None,
        window_s=0.6,
        check=check,
        on_tick=ticks,
        interval_s=INTERVAL_S,
    )
    assert not result.passed
    assert [(t.ignored, t.failures) for t in ticks[:3]] == [(1, 0), (1, 0), (1, 1)]
    assert result.message.startswith("health failed in 1 of ")


def test_failures_past_the_window_are_not_forgiven(server: FlipServer) -> None:
    """Two forgiven start-up rounds fill a short window; the watch goes on for its minimum,
    and the third failing round is no start-up any more: every round counts."""

    def check() -> tuple[HealthResult, ...]:
        return (HealthResult(server.url, False, 500, 1.0),)

    ticks = Ticks()
    result = verify(
        service_for(server),
        CountingSource(requests=25),
        before=None,
        window_s=INTERVAL_S,
        check=check,
        on_tick=ticks,
        interval_s=INTERVAL_S,
    )
    assert not result.passed
    assert [(t.ignored, t.failures) for t in ticks] == [(1, 0), (2, 0), (0, 3)]
    assert result.message.startswith("health failed in 3 of 3 rounds")


def test_an_unreadable_source_ends_the_watch_with_the_window(server: FlipServer) -> None:
    class Unreadable(CountingSource):
        def sample(self, since: datetime | None = None) -> Sample:
            raise SignalError("prometheus unreachable")

    ticks = Ticks()
    result = verify(
        service_for(server),
        Unreadable(requests=0),
        before=None,
        window_s=INTERVAL_S,
        on_tick=ticks,
        interval_s=INTERVAL_S,
    )
    assert not result.passed
    assert len(ticks) == 2  # the rounds at 0 s and at the end of the window, no more
    assert result.message.endswith("error rate unavailable: prometheus unreachable")
