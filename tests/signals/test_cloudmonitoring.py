"""CloudMonitoringSource against the fake Cloud Monitoring timeSeries.list (real HTTP, real httpx).

The fake (``tests/cloudrun_server/monitoring.py``) aligns and aggregates as the
API does for the two queries the source sends, so these tests check the
arithmetic (5xx share, p95, pagination, windows) and the failures an operator
would meet (403, 500, refused, no data) end to end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from google.oauth2.credentials import Credentials

from console.config import CloudRunConfig, ErrorRateConfig, ServiceConfig, load_config
from console.model import utcnow
from console.signals import SignalError, make_error_rate_source
from console.signals.cloudmonitoring import CloudMonitoringSource
from tests.cloudrun_server import CloudRunServer
from tests.signals import free_port

PROJECT = "keikakun-prod"
REGION = "asia-northeast1"
SERVICE = "k-back"


@pytest.fixture
def server() -> Iterator[CloudRunServer]:
    with CloudRunServer() as srv:
        srv.store.projects.add(PROJECT)
        yield srv


@pytest.fixture
def source(server: CloudRunServer) -> Iterator[CloudMonitoringSource]:
    src = CloudMonitoringSource(
        PROJECT, SERVICE, REGION, window_s=300, endpoint=server.url, poll_s=0.05
    )
    src.start()
    yield src
    src.stop()


def ago(seconds: float) -> float:
    return time.time() - seconds


def test_error_rate_is_the_5xx_share_and_p95_comes_from_request_latencies(
    server: CloudRunServer, source: CloudMonitoringSource
) -> None:
    data = server.monitoring
    data.add_requests(SERVICE, "2xx", 880, at=ago(30), region=REGION)
    data.add_requests(SERVICE, "4xx", 20, at=ago(30), region=REGION)
    data.add_requests(SERVICE, "5xx", 100, at=ago(90), region=REGION)
    data.add_latency(SERVICE, 120.0, at=ago(30), weight=90)
    data.add_latency(SERVICE, 2400.0, at=ago(90), weight=10)
    # Another service and another region do not count.
    data.add_requests("other", "5xx", 1000, at=ago(30), region=REGION)
    data.add_requests(SERVICE, "5xx", 1000, at=ago(30), region="us-central1")

    sample = source.sample()

    assert sample.requests == 1000
    assert sample.error_rate == pytest.approx(0.10)
    # The worst minute's p95: the minute with the slow requests.
    assert sample.p95_ms == pytest.approx(2400.0)
    assert sample.source == "cloudmonitoring"
    query = data.queries[0]
    filt = query["filter"][0]
    assert 'metric.type = "run.googleapis.com/request_count"' in filt
    assert 'resource.labels.service_name = "k-back"' in filt
    assert 'resource.labels.location = "asia-northeast1"' in filt
    assert query["aggregation.groupByFields"] == ["metric.label.response_code_class"]
    assert query["aggregation.alignmentPeriod"] == ["300s"]


def test_window_and_since_leave_older_requests_out(
    server: CloudRunServer, source: CloudMonitoringSource
) -> None:
    data = server.monitoring
    data.add_requests(SERVICE, "5xx", 500, at=ago(1200), region=REGION)
    data.add_requests(SERVICE, "2xx", 50, at=ago(200), region=REGION)
    data.add_requests(SERVICE, "2xx", 30, at=ago(20), region=REGION)

    assert source.sample().requests == 80  # the 300 s window
    recent = source.sample(since=utcnow() - timedelta(seconds=45))
    # Shorter than the API's 60 s alignment: the last minute is read.
    assert recent.requests == 30
    assert recent.error_rate == 0.0


def test_no_data_is_no_rate_never_a_zero(source: CloudMonitoringSource) -> None:
    sample = source.sample()
    assert sample.requests == 0
    assert sample.error_rate is None
    assert sample.p95_ms is None
    assert source.wait_for_data(0.2) is False


def test_wait_for_data_returns_once_requests_are_counted(
    server: CloudRunServer, source: CloudMonitoringSource
) -> None:
    server.monitoring.steady(SERVICE, per_s=5, error_ratio=0.2, latency_ms=80, region=REGION)
    assert source.wait_for_data(5.0) is True
    sample = source.sample()
    assert sample.error_rate == pytest.approx(0.2, abs=0.01)
    assert sample.p95_ms == pytest.approx(80.0)


def test_history_is_one_sample_a_minute_oldest_first(
    server: CloudRunServer, source: CloudMonitoringSource
) -> None:
    data = server.monitoring
    data.add_requests(SERVICE, "2xx", 90, at=ago(150), region=REGION)
    data.add_requests(SERVICE, "5xx", 10, at=ago(150), region=REGION)
    data.add_requests(SERVICE, "2xx", 40, at=ago(30), region=REGION)

    history = source.history(points=5)

    assert [s.requests for s in history] == [100, 40]
    assert history[0].at < history[1].at
    assert history[0].error_rate == pytest.approx(0.10)
    assert history[1].error_rate == 0.0


def test_every_page_of_series_is_read(
    server: CloudRunServer, source: CloudMonitoringSource
) -> None:
    data = server.monitoring
    data.page_size = 1
    for code_class, count in (("2xx", 70), ("3xx", 10), ("4xx", 10), ("5xx", 10)):
        data.add_requests(SERVICE, code_class, count, at=ago(30), region=REGION)
    sample = source.sample()
    assert sample.requests == 100
    assert sample.error_rate == pytest.approx(0.10)
    assert any("pageToken" in q for q in data.queries)


def test_api_errors_are_one_line_signal_errors(
    server: CloudRunServer, source: CloudMonitoringSource
) -> None:
    server.inject(
        "GET", "/timeSeries$", 403, message="Permission monitoring.timeSeries.list denied"
    )
    with pytest.raises(SignalError, match=r"HTTP 403 PERMISSION_DENIED: Permission monitoring"):
        source.sample()
    assert "403" in source.last_error

    server.inject("GET", "/timeSeries$", 500, message="Internal error encountered.")
    with pytest.raises(SignalError, match="HTTP 500 INTERNAL"):
        source.sample()

    # A project the credentials cannot see.
    stranger = CloudMonitoringSource("no-such-project", SERVICE, endpoint=server.url)
    with pytest.raises(SignalError, match="PERMISSION_DENIED"):
        stranger.sample()


def test_unreachable_endpoint_is_a_signal_error() -> None:
    source = CloudMonitoringSource(
        PROJECT, SERVICE, endpoint=f"http://127.0.0.1:{free_port()}", timeout_s=2
    )
    with pytest.raises(SignalError, match="connection refused"):
        source.sample()


def test_token_is_sent_when_credentials_are_given_and_never_by_default_over_http(
    server: CloudRunServer,
) -> None:
    plain = CloudMonitoringSource(PROJECT, SERVICE, endpoint=server.url)
    plain.sample()
    assert all("Authorization" not in r.headers for r in server.received("GET", "/timeSeries"))

    with_token = CloudMonitoringSource(
        PROJECT, SERVICE, endpoint=server.url, credentials=Credentials(token="ya29.test-token")
    )
    with_token.sample()
    sent = [r.headers.get("Authorization") for r in server.received("GET", "/timeSeries")]
    assert "Bearer ya29.test-token" in sent


def test_from_config_takes_the_cloudrun_section_by_default() -> None:
    service = ServiceConfig(
        name="k-back",
        environment="production",
        provider="cloudrun",
        cloudrun=CloudRunConfig(project=PROJECT, region=REGION, service=SERVICE),
        error_rate=ErrorRateConfig(source="cloudmonitoring", window_s=120, url="http://x:1"),
    )
    source = make_error_rate_source(service)
    assert isinstance(source, CloudMonitoringSource)
    assert (source.project, source.service, source.region) == (PROJECT, SERVICE, REGION)
    assert source.window_s == 120
    assert source.endpoint == "http://x:1"

    override = ServiceConfig(
        name="web",
        environment="production",
        provider="host",
        error_rate=ErrorRateConfig(
            source="cloudmonitoring", project="p2", service="api", region="europe-west1"
        ),
    )
    other = CloudMonitoringSource.from_config(override)
    assert (other.project, other.service, other.region) == ("p2", "api", "europe-west1")
    assert other.endpoint == "https://monitoring.googleapis.com"

    bare = ServiceConfig(
        name="web",
        environment="production",
        provider="host",
        error_rate=ErrorRateConfig(source="cloudmonitoring"),
    )
    with pytest.raises(SignalError, match=r"needs error_rate\.project"):
        CloudMonitoringSource.from_config(bare)


def test_source_from_a_config_file_reads_the_fake(server: CloudRunServer, tmp_path: Path) -> None:
    server.monitoring.add_requests(SERVICE, "2xx", 99, at=ago(20), region=REGION)
    server.monitoring.add_requests(SERVICE, "5xx", 1, at=ago(20), region=REGION)
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[console]
history_file = "history.md"
state_dir = "state"

[[services]]
name = "k-back"
environment = "production"
provider = "cloudrun"

[services.cloudrun]
project = "{PROJECT}"
region = "{REGION}"
service = "{SERVICE}"
endpoint = "{server.url}"

[services.error_rate]
source = "cloudmonitoring"
url = "{server.url}"
window_s = 120
"""
    )
    service = load_config(path).service("k-back")
    source = make_error_rate_source(service)
    with source:  # type: ignore[attr-defined]
        sample = source.sample()
    assert sample.requests == 100
    assert sample.error_rate == pytest.approx(0.01)
