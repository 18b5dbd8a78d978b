"""The Prometheus error-rate source against a real Prometheus (Debian package).

Exact values come from blocks backfilled with promtool (known samples, queried
at a pinned time); live behaviour from Prometheus scraping a small exporter
every second.  Failures are checked against real servers too: a closed port,
a query Prometheus rejects, a server that is not Prometheus, a 503, a server
that does not answer in time.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from console.config import ErrorRateConfig, HealthCheck, ServiceConfig
from console.signals import make_error_rate_source
from console.signals.base import SignalError
from console.signals.prometheus import PrometheusSource, split_ratio, window_text
from tests.prometheus_fixture import (  # noqa: F401 - fixtures
    Exporter,
    PrometheusServer,
    backfill,
    exporter_fixture,
    free_port,
    scraping_prometheus_fixture,
)

#: 2025-01-01T00:00:00Z: backfilled data starts here.
T0 = 1735689600
STEP = 15
#: 20 minutes at 10% errors, then 20 minutes at 60% (the bad deploy at T0 + 1200).
HALF = 80
BAD_AT = T0 + HALF * STEP
END = T0 + 2 * HALF * STEP

RATIO = (
    'sum(rate(http_requests_total{job="web",code=~"5.."}[$window])) '
    '/ sum(rate(http_requests_total{job="web"}[$window]))'
)
LATENCY = (
    "histogram_quantile(0.95, "
    'sum(rate(http_request_duration_seconds_bucket{job="web"}[$window])) by (le))'
)


def _openmetrics() -> str:
    ok, bad, total = [], [], []
    ok_n = bad_n = 0
    for i in range(2 * HALF + 1):
        t = T0 + i * STEP
        ok.append((t, ok_n))
        bad.append((t, bad_n))
        total.append((t, ok_n + bad_n))
        if i < HALF:
            ok_n, bad_n = ok_n + 90, bad_n + 10
        else:
            ok_n, bad_n = ok_n + 40, bad_n + 60
    lines = ["# TYPE http_requests counter"]
    lines += [f'http_requests_total{{job="web",code="200"}} {v} {t}' for t, v in ok]
    lines += [f'http_requests_total{{job="web",code="503"}} {v} {t}' for t, v in bad]
    lines.append("# TYPE http_request_duration_seconds histogram")
    for le in ("0.1", "0.25", "+Inf"):
        inside = [(t, 0 if le == "0.1" else v) for t, v in total]
        lines += [
            f'http_request_duration_seconds_bucket{{job="web",le="{le}"}} {v} {t}'
            for t, v in inside
        ]
    lines += [f'http_request_duration_seconds_count{{job="web"}} {v} {t}' for t, v in total]
    lines += [f'http_request_duration_seconds_sum{{job="web"}} {v * 0.2} {t}' for t, v in total]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """Prometheus over 40 minutes of known samples (no scraping)."""
    folder = tmp_path_factory.mktemp("prom-backfilled")
    server = PrometheusServer(folder)
    backfill(server.storage, _openmetrics(), folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def source(server: PrometheusServer, at: float = END, **kwargs: Any) -> PrometheusSource:
    kwargs.setdefault("window_s", 300)
    kwargs.setdefault("interval_s", STEP)
    return PrometheusSource(server.url, RATIO, LATENCY, clock=lambda: at, **kwargs)


# --------------------------------------------------------------------------- exact values


def test_error_ratio_latency_and_requests_over_the_window(backfilled: PrometheusServer) -> None:
    with source(backfilled) as prom:
        sample = prom.sample()
    assert sample.source == "prometheus"
    assert sample.at == datetime.fromtimestamp(END, UTC)
    assert sample.error_rate == pytest.approx(0.6)
    # Every request took 0.2 s: in the (0.1, 0.25] bucket, p95 interpolates to 242.5 ms.
    assert sample.p95_ms == pytest.approx(242.5)
    # 100 requests every 15 s over 300 s, estimated from the ratio's denominator.
    assert sample.requests == 2000


def test_before_the_bad_deploy(backfilled: PrometheusServer) -> None:
    sample = source(backfilled, at=BAD_AT).sample()
    assert sample.error_rate == pytest.approx(0.1)


def test_since_narrows_the_window(backfilled: PrometheusServer) -> None:
    """Right after the deploy, the 5-minute window still mixes both; ``since`` does not."""
    at = BAD_AT + 120
    prom = source(backfilled, at=at)
    mixed = prom.sample()
    assert 0.1 < (mixed.error_rate or 0) < 0.6
    since = prom.sample(since=datetime.fromtimestamp(BAD_AT, UTC))
    assert since.error_rate == pytest.approx(0.6)
    assert since.requests == 800


def test_a_requests_query_counts_requests(backfilled: PrometheusServer) -> None:
    prom = source(
        backfilled, requests_query='sum(increase(http_requests_total{job="web"}[$window]))'
    )
    assert prom.sample().requests == 2000


def test_history_is_one_point_per_interval(backfilled: PrometheusServer) -> None:
    prom = source(backfilled, at=BAD_AT + 20 * STEP)
    points = prom.history(points=40)
    assert len(points) == 40
    assert [p.at for p in points][-1] == datetime.fromtimestamp(BAD_AT + 20 * STEP, UTC)
    assert all(b.at - a.at == timedelta(seconds=STEP) for a, b in itertools.pairwise(points))
    assert points[0].error_rate == pytest.approx(0.1)
    assert points[-1].error_rate == pytest.approx(0.6)
    assert prom.history(points=0) == []


def test_no_traffic_is_no_data(backfilled: PrometheusServer) -> None:
    """Long after the data ends there are no samples: no rate, no requests, no error."""
    sample = source(backfilled, at=END + 86400).sample()
    assert sample.error_rate is None and sample.requests == 0 and sample.p95_ms is None
    assert source(backfilled, at=END + 86400).wait_for_data(0.2) is False


def test_no_error_series_at_all_is_a_ratio_of_zero(backfilled: PrometheusServer) -> None:
    """No 504 was ever counted, so that series does not exist: the ratio is 0, with traffic."""
    query = RATIO.replace('code=~"5.."', 'code="504"')
    sample = PrometheusSource(backfilled.url, query, clock=lambda: END, window_s=300).sample()
    assert sample.error_rate == 0.0 and sample.requests == 2000


def test_a_query_without_window_is_used_as_written(backfilled: PrometheusServer) -> None:
    fixed = RATIO.replace("$window", "5m")
    prom = PrometheusSource(backfilled.url, fixed, clock=lambda: END)
    assert prom.sample().error_rate == pytest.approx(0.6)


# --------------------------------------------------------------------------- failures


def test_prometheus_rejects_the_query(backfilled: PrometheusServer) -> None:
    prom = PrometheusSource(backfilled.url, "sum(rate(http_requests_total[5m])", clock=lambda: END)
    with pytest.raises(SignalError) as err:
        prom.sample()
    message = str(err.value)
    assert message.startswith(
        "Prometheus rejected the query 'sum(rate(http_requests_total[5m])': bad_data: "
    )
    assert "\n" not in message and prom.last_error == message


def test_several_series_must_be_aggregated(backfilled: PrometheusServer) -> None:
    prom = PrometheusSource(backfilled.url, "rate(http_requests_total[5m])", clock=lambda: END)
    with pytest.raises(SignalError) as err:
        prom.sample()
    assert "returns 2 series; aggregate it to one value" in str(err.value)


def test_a_range_vector_is_not_a_value(backfilled: PrometheusServer) -> None:
    prom = PrometheusSource(
        backfilled.url, 'http_requests_total{code="503"}[5m]', clock=lambda: END
    )
    with pytest.raises(SignalError) as err:
        prom.sample()
    assert "returns a range vector" in str(err.value)


def test_nothing_listens() -> None:
    port = free_port()
    prom = PrometheusSource(f"http://127.0.0.1:{port}", RATIO, timeout_s=2)
    with pytest.raises(SignalError) as err:
        prom.sample()
    assert str(err.value) == (
        f"Prometheus at http://127.0.0.1:{port}: connection refused (127.0.0.1:{port})"
    )
    assert prom.wait_for_data(0.1) is False


class _Answer(BaseHTTPRequestHandler):
    status = 200
    body = b"<html>hello</html>"
    content_type = "text/html"
    delay = 0.0

    def do_GET(self) -> None:
        time.sleep(self.delay)
        self.send_response(self.status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _serve(**attrs: Any) -> tuple[ThreadingHTTPServer, str]:
    handler = type("Handler", (_Answer,), attrs)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def test_a_server_that_is_not_prometheus() -> None:
    httpd, url = _serve()
    try:
        with pytest.raises(SignalError) as err:
            PrometheusSource(url, RATIO).sample()
        assert str(err.value) == (
            f"{url} answered HTTP 200 with text/html, not Prometheus's JSON API "
            "(is the url the Prometheus server's base URL?)"
        )
    finally:
        httpd.shutdown()


def test_a_server_error() -> None:
    body = b'{"status":"error","errorType":"unavailable","error":"TSDB not ready"}'
    httpd, url = _serve(status=503, body=body, content_type="application/json")
    try:
        with pytest.raises(SignalError) as err:
            PrometheusSource(url, RATIO).sample()
        assert str(err.value) == (
            f"Prometheus at {url} answered HTTP 503: unavailable: TSDB not ready"
        )
    finally:
        httpd.shutdown()


def test_a_server_that_does_not_answer_in_time() -> None:
    body = b'{"status":"success","data":{"resultType":"scalar","result":[0,"0"]}}'
    httpd, url = _serve(body=body, content_type="application/json", delay=1.0)
    try:
        with pytest.raises(SignalError) as err:
            PrometheusSource(url, RATIO, timeout_s=0.2).sample()
        assert str(err.value).startswith(f"Prometheus at {url}: no response within 0.2 s")
    finally:
        httpd.shutdown()


def test_from_config_through_the_registry() -> None:
    svc = ServiceConfig(
        "web",
        "production",
        "kubernetes",
        health=(HealthCheck("http://127.0.0.1:9/health"),),
        error_rate=ErrorRateConfig(
            source="prometheus",
            url="http://prometheus.internal:9090/",
            query=RATIO,
            latency_query=LATENCY,
            window_s=120,
            interval_s=5,
            timeout_s=4,
        ),
    )
    prom = make_error_rate_source(svc)
    assert isinstance(prom, PrometheusSource)
    assert (prom.url, prom.window_s, prom.interval_s, prom.timeout_s) == (
        "http://prometheus.internal:9090",
        120,
        5,
        4,
    )
    with pytest.raises(SignalError):
        PrometheusSource("", RATIO)
    with pytest.raises(SignalError):
        PrometheusSource("http://x", " ")


def test_ratio_split_and_window_text() -> None:
    assert split_ratio("sum(a[5m]) / sum(b[5m])") == ("sum(a[5m])", "sum(b[5m])")
    assert split_ratio('sum(a{x="a/b"}) / on(job) sum(b)') == ('sum(a{x="a/b"})', "sum(b)")
    assert split_ratio("sum(a) / sum(b) / 2") is None
    assert split_ratio("avg(errors_ratio)") is None
    assert window_text(0.2) == "1s" and window_text(300) == "300s" and window_text(90.5) == "91s"


# --------------------------------------------------------------------------- live scraping


def test_live_scraping(scraping_prometheus: PrometheusServer, exporter: Exporter) -> None:
    """Prometheus scrapes the exporter every second: 30% of requests fail, 200 ms each."""
    query = RATIO.replace('job="web"', 'job_name="web"')
    latency = LATENCY.replace('{job="web"}', "")
    with PrometheusSource(
        scraping_prometheus.url, query, latency, window_s=10, interval_s=1, timeout_s=5
    ) as prom:
        assert prom.wait_for_data(60), prom.last_error
        sample = prom.sample()
        assert sample.error_rate == pytest.approx(0.3)
        assert sample.p95_ms is not None and 100 < sample.p95_ms <= 250
        assert sample.requests > 0
        history = prom.history(points=10)
        assert history and history[-1].error_rate == pytest.approx(0.3)
    assert exporter.scrapes >= 2


def test_port_helper_gives_a_closed_port() -> None:
    port = free_port()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
