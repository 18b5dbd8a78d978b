"""check_health against real local HTTP servers: 200, 500, refused, timeout, DNS, TLS."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from console.config import HealthCheck
from console.signals.health import check_health, describe_error, tls_context
from tests.signals import FlipServer, failing, free_port, healthy, slow


@pytest.fixture
def server() -> Iterator[FlipServer]:
    srv = FlipServer()
    yield srv
    srv.close()


def test_healthy_answer_is_ok_with_status_and_latency(server: FlipServer) -> None:
    (result,) = check_health([HealthCheck(server.url)])
    assert result.ok
    assert result.status_code == 200
    assert result.latency_ms is not None and result.latency_ms >= 0
    assert result.error == ""
    assert result.url == server.url


def test_500_is_not_ok_and_says_what_came_back(server: FlipServer) -> None:
    server.behave = failing
    (result,) = check_health([HealthCheck(server.url)])
    assert not result.ok
    assert result.status_code == 500
    assert result.latency_ms is not None
    assert result.error == "HTTP 500, expected 200"


def test_ok_means_the_expected_status_not_any_success(server: FlipServer) -> None:
    server.behave = failing
    assert check_health([HealthCheck(server.url, expect_status=500)])[0].ok
    server.behave = healthy
    assert not check_health([HealthCheck(server.url, expect_status=204)])[0].ok


def test_refused_connection_is_a_result_not_an_exception() -> None:
    port = free_port()
    (result,) = check_health([HealthCheck(f"http://127.0.0.1:{port}/health", timeout_s=2)])
    assert not result.ok
    assert result.status_code is None
    assert result.latency_ms is None
    assert result.error == f"connection refused (127.0.0.1:{port})"


def test_server_taken_down_refuses(server: FlipServer) -> None:
    server.down()
    (result,) = check_health([HealthCheck(server.url)])
    assert not result.ok and "connection refused" in result.error
    server.up()
    assert check_health([HealthCheck(server.url)])[0].ok


def test_slow_answer_times_out_with_its_own_timeout(server: FlipServer) -> None:
    server.behave = slow(5.0)
    (result,) = check_health([HealthCheck(server.url, timeout_s=0.3)])
    assert not result.ok
    assert result.status_code is None
    assert result.error.startswith("no response within 0.3 s")


def test_dns_failure_names_the_host() -> None:
    (result,) = check_health([HealthCheck("http://no-such-host.invalid/health", timeout_s=2)])
    assert not result.ok
    assert result.status_code is None
    assert result.error == "DNS lookup failed for no-such-host.invalid"


def test_results_follow_the_order_of_the_checks(server: FlipServer) -> None:
    bad = FlipServer(failing)
    sleepy = FlipServer(slow(5.0))
    refused = f"http://127.0.0.1:{free_port()}/ready"
    try:
        checks = [
            HealthCheck(sleepy.url, timeout_s=0.3),
            HealthCheck(server.url),
            HealthCheck(refused, timeout_s=2),
            HealthCheck(bad.url),
        ]
        results = check_health(checks)
    finally:
        bad.close()
        sleepy.close()
    assert [r.url for r in results] == [c.url for c in checks]
    assert [r.ok for r in results] == [False, True, False, False]
    assert [r.status_code for r in results] == [None, 200, None, 500]


def test_no_checks_no_results() -> None:
    assert check_health([]) == ()


def test_a_given_client_is_reused_and_left_open(server: FlipServer) -> None:
    with httpx.Client() as client:
        assert check_health([HealthCheck(server.url)], client)[0].ok
        assert check_health([HealthCheck(server.url)], client)[0].ok
        assert not client.is_closed


def test_unsupported_scheme_is_a_result() -> None:
    (result,) = check_health([HealthCheck("ftp://example.invalid/health")])
    assert not result.ok
    assert result.error.startswith("invalid URL")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectTimeout("timed out"), "connect timeout after 3 s (h:81)"),
        (httpx.ReadTimeout("timed out"), "no response within 3 s (h:81)"),
        (httpx.ConnectError("[Errno 101] Network is unreachable"), "network unreachable (h:81)"),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "connection closed without a response (h:81)",
        ),
        (ValueError("boom"), "ValueError: boom"),
    ],
)
def test_describe_error(exc: Exception, expected: str) -> None:
    assert describe_error(exc, "http://h:81/health", 3.0) == expected


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[str]:
    """A real HTTPS server on 127.0.0.1 whose certificate nobody signed (openssl makes it)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*openssl, "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


def test_every_round_shares_one_tls_context_and_it_still_verifies(
    self_signed_server: str,
) -> None:
    """The CA bundle is read once per process, not per round; certificates are still checked."""
    assert tls_context() is tls_context()
    assert tls_context().verify_mode is ssl.CERT_REQUIRED and tls_context().check_hostname
    for _ in range(2):
        (result,) = check_health([HealthCheck(self_signed_server)])
        assert not result.ok
        assert result.status_code is None
        assert result.error.startswith("TLS error (127.0.0.1:"), result.error
