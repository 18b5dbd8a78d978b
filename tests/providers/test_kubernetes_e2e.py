"""`rollback-console rollback` on a Kubernetes Deployment, end to end, closing the loop.

The pieces are real: the CLI in its own process, the official client against
the fake API server (its controllers running), and a real Prometheus scraping
an exporter whose traffic comes from the Deployment's ready pods: pods of the
bad release v1.3.0 answer 60% of their requests with 503, the others none.
Rolling back therefore really brings the error rate down, and the console
must see it in Prometheus to call the rollback verified.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import yaml

from providers.kubernetes import LOCK_ANNOTATION
from providers.kubernetes import rollout as ro
from tests.console_cli import run_console as cli
from tests.k8s_server import FakeKubeServer, running
from tests.k8s_server.fixtures import DEPLOYMENT, IMAGE, NAMESPACE, deploy, start_server
from tests.prometheus_fixture import PrometheusServer

pytestmark = pytest.mark.e2e

BAD = f"{IMAGE}:v1.3.0"


class PodTraffic:
    """/metrics: every ready pod serves 10 requests a scrape; v1.3.0's fail 6 of them."""

    def __init__(self, kube: FakeKubeServer) -> None:
        self.kube = kube
        self.ok = self.errors = 0
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = source.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def render(self) -> str:
        pods, _ = self.kube.cluster.list("pods", NAMESPACE, copies=False)
        for pod in pods:
            if not ro.pod_ready(pod):
                continue
            bad = pod["spec"]["containers"][0]["image"] == BAD
            self.errors += 6 if bad else 0
            self.ok += 4 if bad else 10
        total = self.ok + self.errors
        return "\n".join(
            [
                "# TYPE http_requests_total counter",
                f'http_requests_total{{code="200"}} {self.ok}',
                f'http_requests_total{{code="503"}} {self.errors}',
                "# TYPE http_request_duration_seconds histogram",
                'http_request_duration_seconds_bucket{le="0.1"} 0',
                f'http_request_duration_seconds_bucket{{le="0.25"}} {total}',
                f'http_request_duration_seconds_bucket{{le="+Inf"}} {total}',
                f"http_request_duration_seconds_sum {total * 0.2}",
                f"http_request_duration_seconds_count {total}",
                "",
            ]
        )

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeKubeServer, PrometheusServer, Path]]:
    """The cluster (v1.3.0 live, erroring), Prometheus scraping its traffic, and a config."""
    kube = start_server()
    deploy(kube, ["v1.2.8", "v1.2.9", "v1.3.0"])
    traffic = PodTraffic(kube)
    prometheus = PrometheusServer(tmp_path / "prom", scrape=traffic.address)
    try:
        prometheus.start()
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
        config = tmp_path / "config.toml"
        errors = 'sum(rate(http_requests_total{job="web",code=~"5.."}[$window]))'
        total = 'sum(rate(http_requests_total{job="web"}[$window]))'
        latency = (
            "histogram_quantile(0.95, "
            'sum(rate(http_request_duration_seconds_bucket{job="web"}[$window])) by (le))'
        )
        config.write_text(
            tomli_w.dumps(
                {
                    "console": {
                        "operator": "alice",
                        "history_file": str(tmp_path / "rollback-history.md"),
                        "state_dir": str(tmp_path / "state"),
                    },
                    "services": [
                        {
                            "name": "web",
                            "environment": "production",
                            "provider": "kubernetes",
                            "ready_timeout_s": 60,
                            "kubernetes": {
                                "deployment": DEPLOYMENT,
                                "namespace": NAMESPACE,
                                "kubeconfig": str(kubeconfig),
                            },
                            "error_rate": {
                                "source": "prometheus",
                                "url": prometheus.url,
                                "query": f"{errors} / {total}",
                                "latency_query": latency,
                                "window_s": 10,
                                "interval_s": 1,
                                "timeout_s": 5,
                            },
                        }
                    ],
                }
            )
        )
        with running(kube):
            yield kube, prometheus, config
    finally:
        prometheus.stop()
        traffic.stop()
        kube.stop()


def test_rollback_a_sick_deployment_from_the_console(
    world: tuple[FakeKubeServer, PrometheusServer, Path], tmp_path: Path
) -> None:
    kube, _, config = world

    def image() -> str:
        live = kube.cluster.get("deployments", NAMESPACE, DEPLOYMENT)
        return str(live["spec"]["template"]["spec"]["containers"][0]["image"])

    status = cli(config, "status", "web", "--json")
    assert status.returncode == 0, status.stderr
    assert '"v1.3.0"' in status.stdout
    dry = cli(config, "rollback", "web", "--dry-run", "--reason", "check the plan")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "rollout undo deployment/web --to-revision=2" in dry.stdout
    assert image() == BAD
    unknown = cli(config, "rollback", "web", "--to", "9", "--yes", "--reason", "x")
    assert unknown.returncode == 2, unknown.stdout + unknown.stderr
    assert "unable to find specified revision 9" in unknown.stdout + unknown.stderr
    assert "Traceback" not in unknown.stderr
    assert image() == BAD

    result = cli(
        config,
        "rollback",
        "web",
        "--to",
        "2",
        "--yes",
        "--reason",
        "503s after v1.3.0",
        "--verify-window",
        "6",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    live = kube.cluster.get("deployments", NAMESPACE, DEPLOYMENT)
    assert image() == f"{IMAGE}:v1.2.9"
    assert LOCK_ANNOTATION not in live["metadata"]["annotations"]
    # Revision 2 became revision 4, as kubectl's rollback would leave it.
    assert live["metadata"]["annotations"][ro.REVISION] == "4"
    entry = (tmp_path / "rollback-history.md").read_text()
    assert "v1.3.0" in entry and "v1.2.9" in entry
    assert "rolled back and verified" in entry
    # The rollout's progress was shown while the console waited, as kubectl would print it.
    # (The fake controller may finish before the first poll, so only the last line is sure.)
    assert '| deployment "web" successfully rolled out' in result.stdout
    # The live manifest was saved before the rollback, in [console] state_dir.
    saved = sorted((tmp_path / "state").rglob("manifests/web/*.yaml"))
    assert saved, "no manifest backup was written in the configured state_dir"
    assert not list(Path(os.environ["XDG_STATE_HOME"]).rglob("manifests/web/*.yaml"))
    manifest = yaml.safe_load(saved[0].read_text())
    assert manifest["spec"]["template"]["spec"]["containers"][0]["image"] == BAD
