"""The Cloud Run traffic rules and the default gate, on their own.

Traffic arithmetic needs no server.  The gate runs for real: health checks
against a local ``FlipServer`` and an error-rate source (Cloud Monitoring from
the fake, or none), with gates a fraction of a second long.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.config import CloudRunConfig, ErrorRateConfig, HealthCheck, ServiceConfig
from console.signals import SignalError
from console.signals.cloudmonitoring import CloudMonitoringSource
from providers.base import Forbidden
from providers.cloudrun import CloudRunProvider, views
from providers.cloudrun import traffic as tr
from providers.cloudrun.gate import GateRequest, HealthAndErrorRateGate
from tests.cloudrun_server import CloudRunServer
from tests.cloudrun_server.fixtures import PROJECT, REGION, SERVICE, service_config
from tests.conftest import REPO
from tests.signals import FlipServer, failing, healthy

R = tr.Route


# --------------------------------------------------------------------------- arithmetic


def test_spread_gives_whole_percents_that_add_up_in_proportion() -> None:
    assert tr.spread({"a": 100}, 90) == [("a", 90)]
    assert tr.spread({"a": 50, "b": 50}, 90) == [("a", 45), ("b", 45)]
    assert tr.spread({"a": 70, "b": 30}, 50) == [("a", 35), ("b", 15)]
    split = tr.spread({"a": 1, "b": 1, "c": 1}, 50)
    assert sum(p for _, p in split) == 50
    assert split == [("a", 17), ("b", 17), ("c", 16)]
    assert tr.spread({}, 50) == []


def test_gradual_splits_follow_the_runbook_and_skip_what_the_target_already_has() -> None:
    serving = {"new": 100}
    assert tr.gradual_splits("old", serving, (10, 50, 100)) == [
        [("old", 10), ("new", 90)],
        [("old", 50), ("new", 50)],
        [("old", 100)],
    ]
    assert tr.gradual_splits("old", {"old": 20, "new": 80}, (10, 50, 100)) == [
        [("old", 50), ("new", 50)],
        [("old", 100)],
    ]
    assert tr.gradual_splits("old", {"old": 100}, (10, 50, 100)) == []
    three = tr.gradual_splits("old", {"a": 60, "b": 40}, (25, 100))
    assert three == [[("old", 25), ("a", 45), ("b", 30)], [("old", 100)]]


def test_routes_keep_every_tag_at_zero_and_drop_untagged_zero_shares() -> None:
    live = (R("", 100, latest=True), R("old", 0, "prev"), R("", 0, "edge", latest=True))
    routes = tr.routes_for([("old", 10), ("new", 90)], live)
    assert routes == (
        R("old", 10),
        R("new", 90),
        R("old", 0, "prev"),
        R("", 0, "edge", latest=True),
    )
    assert tr.routes_for([("LATEST", 100)], ()) == (R("", 100, latest=True),)
    assert tr.split_of(live) == [("LATEST", 100)]
    assert tr.split_of(()) == [("LATEST", 100)]  # no traffic at all means 100% LATEST


def test_same_routes_ignores_order_and_the_name_latest_resolves_to() -> None:
    a = (R("", 100, latest=True), R("old", 0, "prev"))
    b = (R("old", 0, "prev"), R("k-002", 100, latest=True))
    assert tr.same_routes(a, b)
    assert tr.same_routes((), (R("", 100, latest=True),))
    assert not tr.same_routes(a, (R("k-002", 100), R("old", 0, "prev")))


def test_served_split_resolves_latest_and_sums_entries() -> None:
    routes = (R("", 60, latest=True), R("a", 40), R("a", 0, "prev"))
    assert tr.served_split(routes, "b") == {"b": 60, "a": 40}
    assert tr.served_split((), "b") == {"b": 100}


def test_gcloud_argv_is_rendered_from_a_split() -> None:
    argv = tr.gcloud_update_traffic("web", "r", "p", [("a", 10), ("LATEST", 90)])
    assert tr.shell(argv) == (
        "gcloud run services update-traffic web --region r --project p "
        "--to-revisions a=10,LATEST=90"
    )
    assert tr.gcloud_update_traffic("web", "r", "p")[-1] == "--to-latest"


def test_routes_round_trip_through_a_steps_params_in_order() -> None:
    """What a step journals is plain JSON, and the split it sends keeps the plan's order."""
    routes = (R("old", 10), R("", 90, latest=True), R("old", 0, "prev"))
    params = tr.params_of(routes)
    assert params == [
        {"revision": "old", "percent": 10},
        {"latest": True, "percent": 90},
        {"revision": "old", "percent": 0, "tag": "prev"},
    ]
    assert tr.routes_of(params) == routes
    assert tr.split_sent(routes) == [("old", 10), ("LATEST", 90)]
    # The form older journals kept in plan.data reads the same.
    legacy = [{"latest": True, "percent": 100, "revision": "", "tag": ""}]
    assert tr.routes_of(legacy) == (R("", 100, latest=True),)


def test_views_read_both_the_clients_dicts_and_the_apis_json() -> None:
    proto_style = {
        "name": "projects/p/locations/r/services/web",
        "generation": "3",
        "observed_generation": "2",
        "traffic": [{"type_": 2, "revision": "web-1", "percent": 100, "tag": "x"}],
        "terminal_condition": {"type_": "Ready", "state": 2},
        "latest_ready_revision": "projects/p/locations/r/services/web/revisions/web-1",
        "reconciling": True,
    }
    json_style = {
        "name": "projects/p/locations/r/services/web",
        "generation": "3",
        "observedGeneration": "2",
        "traffic": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": "web-1",
                     "percent": 100, "tag": "x"}],
        "terminalCondition": {"type": "Ready", "state": "CONDITION_RECONCILING"},
        "latestReadyRevision": "projects/p/locations/r/services/web/revisions/web-1",
        "reconciling": True,
    }  # fmt: skip
    for data in (proto_style, json_style):
        view = views.parse_service(data)
        assert view.short == "web"
        assert (view.generation, view.observed_generation) == (3, 2)
        assert view.traffic == (R("web-1", 100, "x"),)
        assert view.latest_ready == "web-1"
        assert view.terminal is not None and view.terminal.state_name == "reconciling"
        assert not view.settled
        assert view.pinned


def test_revision_label_is_the_image_tag_or_a_short_digest() -> None:
    def label(image: str) -> str:
        return views.parse_revision({"name": "x", "containers": [{"image": image}]}).tag

    assert label("asia-docker.pkg.dev/p/app/k-back:v1.2.9") == "v1.2.9"
    assert label("localhost:5000/app") == ""
    assert label("gcr.io/p/app@sha256:0123456789abcdef0123") == "sha256:0123456789ab"


# --------------------------------------------------------------------------- the default gate


@pytest.fixture
def health() -> Iterator[FlipServer]:
    srv = FlipServer(healthy)
    yield srv
    srv.close()


def gate_service(
    health_url: str = "", url: str = "", error_rate: ErrorRateConfig | None = None
) -> ServiceConfig:
    return ServiceConfig(
        name="k-back",
        environment="production",
        provider="cloudrun",
        cloudrun=CloudRunConfig(project=PROJECT, region=REGION, service=SERVICE),
        health=(HealthCheck(url=health_url, timeout_s=1.0),) if health_url else (),
        error_rate=error_rate or ErrorRateConfig(source="cloudmonitoring", url=url, window_s=120),
    )


def ask(
    gate: HealthAndErrorRateGate, duration_s: float = 0.4, **kw: object
) -> tuple[bool, str, list[str]]:
    lines: list[str] = []
    request = GateRequest(
        service=gate.service,
        target="k-back-00041-xyz",
        percent=10,
        duration_s=duration_s,
        number=1,
        total=2,
        report=lines.append,
        **kw,  # type: ignore[arg-type]
    )
    verdict = gate(request)
    return verdict.passed, verdict.message, lines


def test_gate_passes_on_health_alone_when_monitoring_has_no_data(health: FlipServer) -> None:
    with CloudRunServer() as server:
        server.store.projects.add(PROJECT)
        gate = HealthAndErrorRateGate(gate_service(health.url, url=server.url), interval_s=0.1)
        try:
            first = gate.prepare()
            passed, message, lines = ask(gate)
        finally:
            gate.close()
    assert first.startswith("no error-rate data before the first step")
    assert passed, message
    assert "no error-rate data yet" in message and "judged on health alone" in message
    assert lines and lines[0].startswith("0 s: healthy")


def test_gate_with_nothing_to_judge_fails() -> None:
    with CloudRunServer() as server:
        server.store.projects.add(PROJECT)
        gate = HealthAndErrorRateGate(gate_service(url=server.url), interval_s=0.1)
        try:
            passed, message, _ = ask(gate, 0.2)
        finally:
            gate.close()
    assert not passed
    assert message.startswith("nothing to judge: no health checks configured")


def test_gate_fails_when_health_never_passes(health: FlipServer) -> None:
    health.behave = failing

    def no_source(service: ServiceConfig) -> CloudMonitoringSource:
        raise SignalError("Cloud Monitoring is not set up here")

    gate = HealthAndErrorRateGate(
        gate_service(health.url), source_factory=no_source, interval_s=0.1
    )
    assert gate.prepare() == (
        "error rate unavailable for the gates (Cloud Monitoring is not set up here): health only"
    )
    passed, message, lines = ask(gate, 1.0)
    gate.close()
    assert not passed
    assert "health failed in 3 of 3 rounds" in message
    assert "HTTP 500, expected 200" in message
    assert "error rate unavailable (Cloud Monitoring is not set up here)" in message
    assert any("UNHEALTHY" in line for line in lines)


def test_stopped_gate_never_passes(health: FlipServer) -> None:
    stop = threading.Event()
    stop.set()
    probe = ErrorRateConfig(source="probe", urls=(health.url,), interval_s=0.05)
    gate = HealthAndErrorRateGate(gate_service(health.url, error_rate=probe), interval_s=0.1)
    try:
        passed, message, _ = ask(gate, 5.0, stop=stop)
    finally:
        gate.close()
    assert not passed and message == "the gate was stopped before it finished"


# --------------------------------------------------------------------------- credentials, imports


def test_https_endpoint_without_adc_is_a_clear_forbidden(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    provider = CloudRunProvider(service_config("https://run.example.invalid"), retry_s=0.1)
    with pytest.raises(Forbidden, match="no Application Default Credentials"):
        provider.snapshot()
    source = CloudMonitoringSource(PROJECT, SERVICE, endpoint="https://monitoring.example.invalid")
    with pytest.raises(SignalError, match="no Application Default Credentials"):
        source.sample()


def test_importing_the_provider_and_source_loads_no_cloud_sdk() -> None:
    code = (
        "import sys, pkgutil, importlib, providers.cloudrun, console.signals.cloudmonitoring\n"
        "for m in pkgutil.iter_modules(providers.cloudrun.__path__):\n"
        "    importlib.import_module('providers.cloudrun.' + m.name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('google')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=60,
    )
    assert out.stdout.strip() == "[]"
