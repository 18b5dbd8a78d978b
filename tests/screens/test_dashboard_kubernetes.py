"""The dashboard on a Kubernetes Deployment: the real provider against the fake API server.

The cluster runs on a frozen clock (02:00 UTC, the bad v1.3.0 rollout began 52
minutes earlier and crash-loops), so pod names, ages, revisions and restarts
are the same on every run; the error-rate source and the health checks are
the fixed ones of the other dashboard snapshots.  Everything from the
kubeconfig to the panels is the real code: ``KubernetesProvider`` reads the
Deployment, ReplicaSets, pods and events over HTTP through the official client.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from console.app import RollbackConsoleApp, make_app
from console.config import (
    Config,
    ConsoleConfig,
    ErrorRateConfig,
    KubernetesConfig,
    ServiceConfig,
    Thresholds,
)
from console.runtime import Backends
from providers.kubernetes import KubernetesProvider
from tests.k8s_server import Cluster, FakeKubeServer, deployment_manifest, set_image
from tests.screens.fixed_dashboard import HEALTH_CHECKS, T0, FixedHealth, FixedSource, FrozenClock

IMAGE = "registry.example.com/shop/web"
NAMESPACE = "shop"


class _Clock:
    """The cluster's clock, moved by the test while it builds the history."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class PrometheusLikeSource(FixedSource):
    name = "prometheus"


def build_cluster() -> FakeKubeServer:
    """web in shop: v1.2.7 ... v1.2.9 healthy, v1.3.0 crash-looping since 01:08."""
    clock = _Clock()
    server = FakeKubeServer(cluster=Cluster(seed=42, clock=clock)).start()
    server.ensure_namespace(NAMESPACE)
    releases = [
        ("v1.2.7", timedelta(days=9), "deploy v1.2.7"),
        ("v1.2.8", timedelta(days=3), "deploy v1.2.8: fix [prod] login loop"),
        ("v1.2.9", timedelta(days=1, hours=3), "deploy v1.2.9: cache headers"),
        ("v1.3.0", timedelta(minutes=52), "deploy v1.3.0: new checkout flow (#482)"),
    ]
    server.cluster.failing_images.add(f"{IMAGE}:v1.3.0")
    for i, (version, ago, cause) in enumerate(releases):
        clock.now = T0 - ago
        if i == 0:
            manifest = deployment_manifest(
                "web",
                f"{IMAGE}:{version}",
                replicas=4,
                annotations={"kubernetes.io/change-cause": cause},
            )
            server.cluster.create("deployments", NAMESPACE, manifest)
        else:
            set_image(server, NAMESPACE, "web", f"{IMAGE}:{version}", change_cause=cause)
        server.controllers.settle()
    clock.now = T0 - timedelta(minutes=40)
    server.controllers.settle()
    clock.now = T0
    server.controllers.settle()
    return server


@pytest.fixture
def cluster() -> Iterator[FakeKubeServer]:
    server = build_cluster()
    try:
        yield server
    finally:
        server.stop()


def kubernetes_app(server: FakeKubeServer, folder: Path) -> RollbackConsoleApp:
    kubeconfig = server.write_kubeconfig(folder / "kubeconfig", context="prod", namespace=NAMESPACE)
    web = ServiceConfig(
        "web",
        "production",
        "kubernetes",
        kubernetes=KubernetesConfig(
            "web", namespace=NAMESPACE, context="prod", kubeconfig=kubeconfig
        ),
        health=HEALTH_CHECKS,
        error_rate=ErrorRateConfig(
            source="prometheus", url="http://prometheus.internal:9090", query="up"
        ),
        thresholds=Thresholds(baseline_p95_ms=40),
    )
    root = Path("/srv/rollback-console")
    config = Config(
        root / "config.toml",
        ConsoleConfig("alice", root / "rollback-history.md", root / "state"),
        (web,),
    )
    backends = Backends(
        load_provider=lambda svc: KubernetesProvider(svc, state_dir=folder / "state"),
        make_source=lambda svc: PrometheusLikeSource(),
        check_health=FixedHealth(),
    )
    return make_app(config, backends=backends, clock=FrozenClock())


async def _loaded(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, RollbackConsoleApp)
    await app.refresh_all()
    await pilot.pause()
    dashboard = app.dashboard
    assert dashboard is not None
    dashboard._tick()
    await pilot.pause()


async def test_the_dashboard_shows_the_deployment(cluster: FakeKubeServer, tmp_path: Path) -> None:
    app = kubernetes_app(cluster, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await _loaded(pilot)
        snapshot = app.runtime.snapshot
        assert snapshot is not None and snapshot.provider == "kubernetes"
        assert snapshot.current is not None and snapshot.current.version == "v1.3.0"
        assert app.dashboard is not None
        revisions = app.dashboard.query_one("#revisions-table", DataTable)
        assert revisions.row_count == 4
        units = app.dashboard.query_one("#units-table", DataTable)
        assert units.row_count == len(snapshot.units) == 5
        crashing = [u for u in snapshot.units if u.state == "CrashLoopBackOff"]
        assert len(crashing) == 2 and {u.revision for u in crashing} == {"4"}
        assert {u.revision for u in snapshot.units if u.ready} == {"3"}


class TestKubernetesDashboardSnapshots:
    """web (production) on Kubernetes during the bad v1.3.0 rollout."""

    def test_dashboard_80x24(self, snap_compare: Any, utc_zone: None, tmp_path: Path) -> None:
        server = build_cluster()
        try:
            app = kubernetes_app(server, tmp_path)
            assert snap_compare(app, terminal_size=(80, 24), run_before=_loaded)
        finally:
            server.stop()

    def test_dashboard_120x40(self, snap_compare: Any, utc_zone: None, tmp_path: Path) -> None:
        server = build_cluster()
        try:
            app = kubernetes_app(server, tmp_path)
            assert snap_compare(app, terminal_size=(120, 40), run_before=_loaded)
        finally:
            server.stop()
