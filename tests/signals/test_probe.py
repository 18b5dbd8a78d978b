"""ProbeSource against real local HTTP servers, and its arithmetic on a fixed clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from console.config import ErrorRateConfig, HealthCheck, ServiceConfig
from console.model import utcnow
from console.signals import SignalError, make_error_rate_source
from console.signals.probe import ProbeSource, p95
from tests.signals import FlipServer, alternating, failing, free_port, healthy, slow

#: Generous bound on any wait for the probe to see something; never asserted as a duration.
PATIENCE_S = 10.0

MakeProbe = Callable[..., ProbeSource]


@pytest.fixture
def server() -> Iterator[FlipServer]:
    srv = FlipServer()
    yield srv
    srv.close()


@pytest.fixture
def probes() -> Iterator[MakeProbe]:
    """Make started probes; every one is stopped at the end of the test."""
    made: list[ProbeSource] = []

    def make(*urls: str, **kwargs: float) -> ProbeSource:
        kwargs.setdefault("interval_s", 0.02)
        source = ProbeSource(urls, **kwargs)  # type: ignore[arg-type]
        made.append(source)
        source.start()
        return source

    yield make
    for source in made:
        source.stop()


def eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# --------------------------------------------------------------------------- against a server


def test_every_second_request_failing_is_about_half(server: FlipServer, probes: MakeProbe) -> None:
    server.behave = alternating
    source = probes(server.url, min_results=40)
    assert source.wait_for_data(PATIENCE_S)
    source.stop()
    sample = source.sample()
    assert sample.requests >= 40
    assert sample.error_rate is not None
    assert abs(sample.error_rate - 0.5) <= 0.1
    assert sample.source == "probe"
    assert sample.p95_ms is not None


def test_p95_sees_the_slow_quarter(server: FlipServer, probes: MakeProbe) -> None:
    server.behave = slow(0.2, every=4)
    source = probes(server.url, min_results=12)
    assert source.wait_for_data(PATIENCE_S)
    sample = source.sample()
    assert sample.error_rate == 0.0
    assert sample.p95_ms is not None and sample.p95_ms >= 200


def test_refused_connections_are_all_errors_without_latency(probes: MakeProbe) -> None:
    url = f"http://127.0.0.1:{free_port()}/health"
    source = probes(url)
    assert source.wait_for_data(PATIENCE_S)
    sample = source.sample()
    assert sample.error_rate == 1.0
    assert sample.p95_ms is None
    assert "connection refused" in source.last_error


def test_sliding_window_forgets_old_errors(server: FlipServer, probes: MakeProbe) -> None:
    server.behave = failing
    source = probes(server.url, window_s=0.5)
    assert source.wait_for_data(PATIENCE_S)
    assert source.sample().error_rate == 1.0
    server.behave = healthy

    def recovered() -> bool:
        sample = source.sample()
        return sample.error_rate == 0.0 and sample.requests > 0

    assert eventually(recovered)
    # The errors are gone from the window, not from the history the sparkline draws.
    assert eventually(lambda: any((s.error_rate or 0) > 0 for s in source.history(60)))


def test_since_counts_only_requests_sent_after_it(server: FlipServer, probes: MakeProbe) -> None:
    server.behave = failing
    source = probes(server.url, window_s=60)
    assert source.wait_for_data(PATIENCE_S)
    server.behave = healthy
    since = utcnow()
    assert eventually(lambda: source.sample(since=since).requests >= 5)
    # Every request sent since then, once answered (one still in flight counts as an error
    # until it is: issue 11).
    assert source.sample_settled(since, utcnow()).error_rate == 0.0
    before_and_after = source.sample()
    assert before_and_after.error_rate is not None and before_and_after.error_rate > 0


def test_requests_in_flight_count_as_errors_since_a_time_until_answered(
    server: FlipServer, probes: MakeProbe
) -> None:
    """Issue 11: a service that stops answering must not look healthy by never answering."""
    server.behave = slow(30.0)
    source = probes(server.url, interval_s=0.05, timeout_s=30)
    since = utcnow()
    assert eventually(lambda: source.sample(since=since).pending >= 1)
    sample = source.sample(since=since)
    assert sample.requests == sample.pending >= 1
    assert sample.error_rate == 1.0
    assert sample.p95_ms is None  # nothing was answered
    # The dashboard's sliding window counts answers only.
    assert source.sample().requests == 0


def test_sample_settled_waits_for_the_answers_sent_before_the_end(
    server: FlipServer, probes: MakeProbe
) -> None:
    server.behave = slow(0.3)
    source = probes(server.url, interval_s=0.05, timeout_s=5)
    since = utcnow()
    assert eventually(lambda: source.sample(since=since).pending >= 2)
    until = utcnow()
    sample = source.sample_settled(since, until)
    assert sample.pending == 0 and sample.requests >= 2
    assert sample.error_rate == 0.0
    assert sample.p95_ms is not None and sample.p95_ms >= 300


def test_sample_settled_counts_what_never_answers_as_errors(
    server: FlipServer, probes: MakeProbe
) -> None:
    server.behave = slow(30.0)
    source = probes(server.url, interval_s=0.05, timeout_s=0.3)
    since = utcnow()
    assert eventually(lambda: source.sample(since=since).pending >= 1)
    sample = source.sample_settled(since, utcnow())
    assert sample.requests >= 1 and sample.error_rate == 1.0
    assert sample.p95_ms is None


def test_history_is_oldest_first_per_second(server: FlipServer, probes: MakeProbe) -> None:
    source = probes(server.url, interval_s=0.05)
    assert eventually(lambda: len(source.history(60)) >= 2)
    points = source.history(60)
    assert [p.at for p in points] == sorted(p.at for p in points)
    assert all(p.error_rate == 0.0 for p in points if p.requests)
    assert len(source.history(1)) == 1


def test_start_and_stop_are_idempotent(server: FlipServer) -> None:
    source = ProbeSource([server.url], interval_s=0.02)
    source.stop()
    source.start()
    source.start()
    assert source.running
    assert source.wait_for_data(PATIENCE_S)
    source.stop()
    source.stop()
    assert not source.running
    seen = server.requests
    recorded = source.sample().requests
    time.sleep(0.2)
    assert source.sample().requests == recorded
    assert server.requests - seen <= source.max_in_flight
    # ... and it can start again.
    with source:
        assert eventually(lambda: source.sample().requests > recorded)
    assert not source.running


def test_stop_returns_while_a_request_hangs(server: FlipServer) -> None:
    server.behave = slow(30.0)
    source = ProbeSource([server.url], interval_s=0.05, timeout_s=30)
    source.start()
    assert eventually(lambda: server.requests >= 1)
    source.stop(join_timeout_s=0.2)  # returns although the request is still waiting
    assert not source.running
    assert source.sample().requests == 0


# --------------------------------------------------------------------------- arithmetic


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_window_since_and_buckets_on_a_fixed_clock() -> None:
    clock = Clock()
    source = ProbeSource(["http://x/"], window_s=10, interval_s=0.5, clock=clock)
    for i in range(10):  # 1000.0 .. 1004.5: every other one fails, latency = i ms
        source.record(ok=i % 2 == 0, latency_ms=float(i), at=1000.0 + i * 0.5)
    source.record(ok=False, latency_ms=None, at=1007.2)  # a timeout: no latency
    clock.t = 1008.0

    sample = source.sample()
    assert (sample.requests, sample.error_rate, sample.p95_ms) == (11, 6 / 11, 9.0)
    assert sample.at == source.datetime_of(1008.0)

    clock.t = 1012.6  # the window (10 s) now starts at 1002.6: 1003.0, 1003.5, ...
    assert source.sample().requests == 4 + 1

    since = source.datetime_of(1004.0)
    after = source.sample(since=since)
    assert (after.requests, after.error_rate, after.p95_ms) == (3, 2 / 3, 9.0)

    history = source.history(60)
    # Buckets of 1 s from the first result's (1000) to the last completed (1011).
    assert len(history) == 12
    assert [h.requests for h in history] == [2, 2, 2, 2, 2, 0, 0, 1, 0, 0, 0, 0]
    assert history[0].error_rate == 0.5 and history[0].p95_ms == 1.0
    assert history[5].error_rate is None and history[5].p95_ms is None
    assert history[7].error_rate == 1.0 and history[7].p95_ms is None
    assert history[0].at == source.datetime_of(1001.0)
    assert [h.requests for h in source.history(3)] == [0, 0, 0]
    assert source.history(0) == []


def test_results_older_than_the_retention_are_dropped() -> None:
    clock = Clock()
    source = ProbeSource(["http://x/"], window_s=10, retain_s=20, clock=clock)
    source.record(ok=False, latency_ms=1.0, at=1000.0)
    clock.t = 1030.0
    source.record(ok=True, latency_ms=1.0)
    assert source.sample(since=source.datetime_of(0)).requests == 1


def test_empty_source_has_no_rate() -> None:
    source = ProbeSource(["http://x/"])
    sample = source.sample()
    assert (sample.requests, sample.error_rate, sample.p95_ms) == (0, None, None)
    assert source.history() == []
    assert not source.wait_for_data(0.1)  # not started: no waiting for nothing


def test_naive_since_is_utc() -> None:
    clock = Clock()
    source = ProbeSource(["http://x/"], clock=clock)
    when = source.datetime_of(1000.0)
    assert source.clock_of(when.replace(tzinfo=None)) == pytest.approx(1000.0)
    assert source.clock_of(when + timedelta(seconds=2)) == pytest.approx(1002.0)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([5.0], 5.0),
        ([float(v) for v in range(1, 101)], 95.0),
        ([float(v) for v in range(20, 0, -1)], 19.0),
        ([1.0] * 19 + [500.0], 1.0),
        ([1.0] * 18 + [500.0, 500.0], 500.0),
    ],
)
def test_p95_nearest_rank(values: list[float], expected: float | None) -> None:
    assert p95(values) == expected


# --------------------------------------------------------------------------- config


def service(**kwargs: object) -> ServiceConfig:
    return ServiceConfig("web", "test", "host", **kwargs)  # type: ignore[arg-type]


def test_from_config_uses_error_rate_urls_first() -> None:
    svc = service(
        health=(HealthCheck("http://a/health"),),
        error_rate=ErrorRateConfig(urls=("http://b/",), interval_s=0.2, window_s=5, timeout_s=1),
    )
    source = make_error_rate_source(svc)
    assert isinstance(source, ProbeSource)
    assert source.name == "probe"
    assert (source.urls, source.interval_s, source.window_s, source.timeout_s) == (
        ("http://b/",),
        0.2,
        5.0,
        1.0,
    )


def test_from_config_falls_back_to_health_urls() -> None:
    svc = service(health=(HealthCheck("http://a/health"), HealthCheck("http://a/ready")))
    assert ProbeSource.from_config(svc).urls == ("http://a/health", "http://a/ready")


def test_no_url_to_probe_is_a_signal_error() -> None:
    with pytest.raises(SignalError, match="needs"):
        make_error_rate_source(service())


def test_unknown_source_is_a_signal_error() -> None:
    with pytest.raises(SignalError, match="unknown error-rate source 'datadog'"):
        make_error_rate_source(service(error_rate=ErrorRateConfig(source="datadog")))
