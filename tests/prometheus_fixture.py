"""A real Prometheus server for tests, and a tiny exporter for it to scrape.

``PrometheusServer`` runs the Debian ``prometheus`` binary on a free port with
its own storage folder: either scraping ``Exporter`` every second (live data
after a few seconds), or over blocks backfilled with ``promtool tsdb
create-blocks-from openmetrics`` (exact, known samples at once; query them
with a pinned time).  A missing binary skips the test naming it, or fails it
under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

#: Upper bound on waiting for Prometheus to answer /-/ready (a bound, not a timing).
READY_TIMEOUT_S = 30.0


def need(binary: str) -> str:
    found = shutil.which(binary)
    if found:
        return found
    reason = f"{binary} is not installed (apt-get install -y prometheus)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the Prometheus tests")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Exporter:
    """Serves ``http_requests_total`` counters and a latency histogram at /metrics.

    Every scrape adds ``per_scrape`` requests, ``errors_per_scrape`` of them 5xx,
    so any rate ratio over whole scrapes is exactly errors / requests; every
    request takes ``latency_s`` (one histogram bucket).
    """

    def __init__(self, per_scrape: int = 100, errors_per_scrape: int = 30, latency_s: float = 0.2):
        self.per_scrape = per_scrape
        self.errors_per_scrape = errors_per_scrape
        self.latency_s = latency_s
        self.ok = 0
        self.errors = 0
        self.scrapes = 0
        self._lock = threading.Lock()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def address(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> Exporter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def render(self) -> str:
        with self._lock:
            self.scrapes += 1
            self.ok += self.per_scrape - self.errors_per_scrape
            self.errors += self.errors_per_scrape
            total = self.ok + self.errors
            lines = [
                "# TYPE http_requests_total counter",
                f'http_requests_total{{job_name="web",code="200"}} {self.ok}',
                f'http_requests_total{{job_name="web",code="503"}} {self.errors}',
                "# TYPE http_request_duration_seconds histogram",
            ]
            for le in ("0.05", "0.1", "0.25", "0.5", "+Inf"):
                inside = total if le == "+Inf" or float(le) >= self.latency_s else 0
                lines.append(f'http_request_duration_seconds_bucket{{le="{le}"}} {inside}')
            lines.append(f"http_request_duration_seconds_sum {total * self.latency_s}")
            lines.append(f"http_request_duration_seconds_count {total}")
            return "\n".join(lines) + "\n"


class PrometheusServer:
    """One ``prometheus`` process on a free port; ``stop`` ends it (and only it)."""

    def __init__(self, folder: Path, *, scrape: str | None = None, storage: Path | None = None):
        self.binary = need("prometheus")
        self.folder = folder
        self.port = free_port()
        self.storage = storage or folder / "data"
        self.storage.mkdir(parents=True, exist_ok=True)
        config = folder / "prometheus.yml"
        lines = ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s", "scrape_configs:"]
        if scrape:
            lines += [
                "  - job_name: web",
                "    scrape_interval: 1s",
                "    static_configs:",
                f"      - targets: ['{scrape}']",
            ]
        else:
            lines[-1] = "scrape_configs: []"
        config.write_text("\n".join(lines) + "\n")
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PrometheusServer:
        log = open(self.folder / "prometheus.log", "wb")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.storage}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=3650d",
                "--web.enable-lifecycle",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (self.folder / "prometheus.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"prometheus exited {self.proc.returncode}: {tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"prometheus did not become ready within {READY_TIMEOUT_S:g} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def backfill(storage: Path, openmetrics: str, work: Path) -> None:
    """Write ``openmetrics`` (ending in ``# EOF``) as TSDB blocks into ``storage``."""
    promtool = need("promtool")
    source = work / "backfill.om"
    source.write_text(openmetrics)
    result = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(storage)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"promtool failed: {result.stderr or result.stdout}")


@pytest.fixture(name="exporter")
def exporter_fixture() -> Iterator[Exporter]:
    server = Exporter().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="scraping_prometheus")
def scraping_prometheus_fixture(exporter: Exporter, tmp_path: Path) -> Iterator[PrometheusServer]:
    """Prometheus scraping ``exporter`` every second."""
    server = PrometheusServer(tmp_path / "prom", scrape=exporter.address)
    server.folder.mkdir(parents=True, exist_ok=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()
