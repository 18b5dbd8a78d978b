"""CloudRunProvider with the real google-cloud-run client against the fake Cloud Run API.

The fake (``tests/cloudrun_server``) follows the public v2 REST API:
traffic spec and statuses, long-running operations that finish after a delay
(or fail, or never finish), etags and the API's errors.  Gates use the
provider's default path: the service's health URL is a real local HTTP server
(``FlipServer``) whose answers a test flips when the fake applies a traffic
change, and the error rate comes from the configured source (a probe of that
server, or Cloud Monitoring served by the fake).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from console.config import ErrorRateConfig, ServiceConfig
from console.model import ProgressEvent, ProgressStatus, Step, StepKind
from console.runner import run_steps
from providers import load_provider
from providers.base import (
    Conflict,
    Forbidden,
    InvalidTarget,
    NotFound,
    OutcomeUnknown,
    Part,
    ProviderError,
    Unavailable,
)
from providers.cloudrun import GRADUAL, TO_LATEST, CloudRunProvider, GateFailed
from providers.cloudrun.gate import GateRequest, GateVerdict
from tests.cloudrun_server import CloudRunServer
from tests.cloudrun_server.fixtures import (
    CURRENT,
    FAILED,
    IMAGE,
    OLDEST,
    PREVIOUS,
    PROJECT,
    REGION,
    SERVICE,
    Scenario,
    runbook_service,
    service_config,
)
from tests.cloudrun_server.store import LATEST, REVISION
from tests.signals import FlipServer, failing, free_port, healthy

ORIGINAL_SPEC = [
    {"type": LATEST, "percent": 100},
    {"type": REVISION, "revision": PREVIOUS, "percent": 0, "tag": "prev"},
]
ORIGINAL_SERVED = [(CURRENT, 100, ""), (PREVIOUS, 0, "prev")]


@pytest.fixture
def server() -> Iterator[CloudRunServer]:
    with CloudRunServer() as srv:
        yield srv


@pytest.fixture
def scenario(server: CloudRunServer) -> Scenario:
    return runbook_service(server)


@pytest.fixture
def health() -> Iterator[FlipServer]:
    srv = FlipServer(healthy)
    yield srv
    srv.close()


def make_provider(endpoint: str, **kwargs: Any) -> CloudRunProvider:
    options = {k: kwargs.pop(k) for k in ("gate", "poll_interval_s", "retry_s") if k in kwargs}
    options.setdefault("poll_interval_s", 0.02)
    options.setdefault("retry_s", 0.3)
    return CloudRunProvider(service_config(endpoint, **kwargs), **options)


@pytest.fixture
def provider(scenario: Scenario, health: FlipServer) -> CloudRunProvider:
    return make_provider(scenario.endpoint, health_url=health.url)


def run(provider: CloudRunProvider, plan: Any) -> list[ProgressEvent]:
    events: list[ProgressEvent] = []
    for event in provider.execute(plan):
        events.append(event)
    return events


def run_failing(provider: CloudRunProvider, plan: Any) -> tuple[list[ProgressEvent], ProviderError]:
    events: list[ProgressEvent] = []
    with pytest.raises(ProviderError) as info:
        for event in provider.execute(plan):
            events.append(event)
    return events, info.value


def normal_spec(spec: list[dict[str, Any]]) -> list[tuple[int, str, int, str]]:
    return sorted(
        (
            int(e["type"]),
            str(e.get("revision", "")),
            int(e.get("percent", 0)),
            str(e.get("tag", "")),
        )
        for e in spec
    )


def traffic_log(server: CloudRunServer) -> list[dict[str, int]]:
    """Every traffic change the fake applied, as served revision -> percent (0% left out)."""
    log: list[dict[str, int]] = []

    def record(svc: dict[str, Any]) -> None:
        log.append(
            {
                s.get("revision", ""): int(s.get("percent", 0))
                for s in svc["trafficStatuses"]
                if int(s.get("percent", 0))
            }
        )

    server.store.on_traffic.append(record)
    return log


def served_share(svc: dict[str, Any], revision: str) -> int:
    return sum(
        int(s.get("percent", 0)) for s in svc["trafficStatuses"] if s.get("revision") == revision
    )


# --------------------------------------------------------------------------- snapshot


def test_snapshot_shows_traffic_revisions_newest_first_and_serving_revisions(
    provider: CloudRunProvider, server: CloudRunServer
) -> None:
    snap = provider.snapshot()

    assert snap.provider == "cloudrun"
    assert [r.id for r in snap.revisions] == [CURRENT, PREVIOUS, OLDEST]
    assert [r.version for r in snap.revisions] == ["v1.3.0", "v1.2.9", "v1.2.8"]
    assert snap.current is not None and snap.current.id == CURRENT
    assert snap.revisions[0].image.endswith("k-back:v1.3.0")
    assert snap.revisions[0].detail.startswith("Ready; serving 100%")
    assert "tag prev" in snap.revisions[1].detail
    # Traffic as served: LATEST resolved to the revision it means now, the tag kept.
    served = {(t.revision, t.percent, t.tag, t.latest) for t in snap.traffic}
    assert served == {(CURRENT, 100, "", True), (PREVIOUS, 0, "prev", False)}
    # Units: the revisions receiving traffic or carrying a tag, with their readiness.
    assert [(u.name, u.state, u.ready) for u in snap.units] == [
        (CURRENT, "serving 100%", True),
        (PREVIOUS, "tag only (0%)", True),
    ]
    assert "ContainerHealthy succeeded" in snap.units[0].detail
    facts = dict(snap.facts)
    assert facts["latest ready"] == CURRENT
    assert facts["traffic served"] == f"LATEST ({CURRENT}) 100%, {PREVIOUS} 0% tag prev"
    assert any("does not list instances" in n for n in snap.notes)
    # The real client paged through the revisions and asked for integer enums.
    pages = server.received("GET", "/revisions")
    assert len(pages) >= 2 and any("pageToken" in r.query for r in pages)
    assert all(r.query.get("$alt") == ["json;enum-encoding=int"] for r in pages)


def test_snapshot_lists_a_failed_newest_revision_but_never_takes_it_as_target(
    server: CloudRunServer, health: FlipServer
) -> None:
    scenario = runbook_service(server, failed_latest=True)
    provider = make_provider(scenario.endpoint, health_url=health.url)

    snap = provider.snapshot()

    assert [r.id for r in snap.revisions] == [FAILED, CURRENT, PREVIOUS, OLDEST]
    assert snap.current is not None and snap.current.id == CURRENT
    assert "NOT READY (failed: The user-provided container failed" in snap.revisions[0].detail
    assert any(f"newest revision {FAILED} is not Ready" in n for n in snap.notes)
    plan = provider.plan(None)
    assert plan.to_revision.id == PREVIOUS
    with pytest.raises(InvalidTarget, match=f"revision {FAILED} is not Ready"):
        provider.plan(FAILED)

    run(provider, plan)
    ready = provider.wait_ready(plan, 5)
    # The service's Ready stays failed because of the broken newest revision, but the
    # traffic is served exactly as planned: ready, and the message says why Ready is off.
    assert ready.ready, ready.message
    assert f"newest revision {FAILED}" in ready.message


def test_revisions_sharing_an_image_tag_are_labelled_by_name(
    server: CloudRunServer, scenario: Scenario, provider: CloudRunProvider
) -> None:
    """A redeploy of the same image (an env change) makes a new revision with the same tag."""
    server.store.deploy(scenario.service_name, f"{IMAGE}:v1.2.9", revision="k-back-00043-env")
    snap = provider.snapshot()
    assert [(r.id, r.version) for r in snap.revisions] == [
        ("k-back-00043-env", "k-back-00043-env"),
        (CURRENT, "v1.3.0"),
        (PREVIOUS, PREVIOUS),
        (OLDEST, "v1.2.8"),
    ]
    # LATEST moved with the deploy: the new revision now serves.
    assert snap.current is not None and snap.current.id == "k-back-00043-env"


# --------------------------------------------------------------------------- immediate


def test_rollback_sends_all_traffic_to_the_previous_revision_and_keeps_tags(
    provider: CloudRunProvider, scenario: Scenario, server: CloudRunServer
) -> None:
    revisions_before = len(server.store.revisions)
    plan = provider.plan(None)

    assert plan.summary == "Roll back k-back (production) from v1.3.0 to v1.2.9"
    assert [s.kind for s in plan.steps] == [StepKind.SWITCH]
    assert plan.steps[0].command == (
        f"gcloud run services update-traffic {SERVICE} --region {REGION} --project {PROJECT} "
        f"--to-revisions {PREVIOUS}=100"
    )
    assert "tags kept (prev -> k-back-00041-xyz)" in plan.steps[0].title
    assert any("pinned to k-back-00041-xyz" in w for w in plan.warnings)

    events = run(provider, plan)

    statuses = [e.status for e in events]
    assert statuses[0] is ProgressStatus.STARTED and statuses[-1] is ProgressStatus.FINISHED
    assert any("operation" in e.message and "started" in e.message for e in events)
    assert any("operation done" in e.message for e in events)
    assert events[-1].message.startswith(f"traffic served: {PREVIOUS} 100%")
    assert "later deploys get no traffic" in events[-1].message

    assert scenario.served() == [(PREVIOUS, 0, "prev"), (PREVIOUS, 100, "")]
    assert normal_spec(scenario.spec()) == [
        (REVISION, PREVIOUS, 0, "prev"),
        (REVISION, PREVIOUS, 100, ""),
    ]
    # One update, carrying the etag it read; the template was sent back unchanged,
    # so no revision was created.
    patches = server.received("PATCH")
    assert len(patches) == 1
    assert patches[0].body is not None and patches[0].body.get("etag")
    assert len(server.store.revisions) == revisions_before

    ready = provider.wait_ready(plan, 5)
    assert ready.ready, ready.message
    assert f"serves {PREVIOUS} 100%" in ready.message
    assert "pinned" in ready.message
    assert provider.snapshot().current.id == PREVIOUS  # type: ignore[union-attr]


def test_target_by_image_tag_and_skipped_revisions_are_warned_about(
    provider: CloudRunProvider, scenario: Scenario
) -> None:
    plan = provider.plan("v1.2.8")
    assert plan.to_revision.id == OLDEST
    assert any(f"(that is {PREVIOUS}); 1 Ready revision(s)" in w for w in plan.warnings)
    run(provider, plan)
    assert (OLDEST, 100, "") in scenario.served()


def test_dry_run_plan_is_never_executed_and_changes_nothing(
    provider: CloudRunProvider, server: CloudRunServer
) -> None:
    plan = provider.plan(None, dry_run=True)
    assert plan.dry_run
    with pytest.raises(InvalidTarget, match="dry-run"):
        run(provider, plan)
    assert server.received("PATCH") == []


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed")
def test_displayed_gcloud_command_parses(provider: CloudRunProvider, tmp_path: Any) -> None:
    """gcloud accepts a shown command's flags: it gets as far as asking for an account.

    One command only (gcloud takes seconds to start): the first step of a gradual
    rollback, which has the richest ``--to-revisions`` value.
    """
    argv = shlex.split(provider.plan_action(GRADUAL, PREVIOUS).steps[0].command)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
    }
    result = subprocess.run(
        list(argv), env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    out = result.stdout + result.stderr
    assert "unrecognized arguments" not in out, out
    assert "argument --" not in out, out
    assert "active account" in out, out


# --------------------------------------------------------------------------- gradual


def test_gradual_rollback_moves_in_steps_with_passing_gates(
    provider: CloudRunProvider, scenario: Scenario, server: CloudRunServer, health: FlipServer
) -> None:
    log = traffic_log(server)
    actions = {a.id: a for a in provider.actions()}
    assert actions[GRADUAL].argument == "revision"
    assert actions[GRADUAL].choices == (PREVIOUS, OLDEST)

    plan = provider.plan_action(GRADUAL, None)

    assert plan.action == GRADUAL and plan.argument == PREVIOUS
    assert [s.kind for s in plan.steps] == [
        StepKind.SWITCH,
        StepKind.WAIT,
        StepKind.SWITCH,
        StepKind.WAIT,
        StepKind.SWITCH,
    ]
    assert [s.command.split("--to-revisions ")[-1] for s in plan.steps[::2]] == [
        f"{PREVIOUS}=10,{CURRENT}=90",
        f"{PREVIOUS}=50,{CURRENT}=50",
        f"{PREVIOUS}=100",
    ]
    assert plan.steps[1].command.endswith("--to-revisions LATEST=100")

    events = run(provider, plan)

    assert log == [
        {PREVIOUS: 10, CURRENT: 90},
        {PREVIOUS: 50, CURRENT: 50},
        {PREVIOUS: 100},
    ]
    finished = [e.message for e in events if e.status is ProgressStatus.FINISHED]
    assert len(finished) == 5
    assert finished[1].startswith("gate 1 passed at 10%: health held")
    assert finished[3].startswith("gate 2 passed at 50%")
    assert scenario.served() == [(PREVIOUS, 0, "prev"), (PREVIOUS, 100, "")]
    assert health.requests > 0  # the gates really looked at the service
    assert provider.wait_ready(plan, 5).ready


def test_gate_failing_mid_way_puts_the_traffic_back_exactly(
    provider: CloudRunProvider, scenario: Scenario, server: CloudRunServer, health: FlipServer
) -> None:
    """At 50% the service turns sick: gate 2 fails, the last step never runs, traffic goes back."""
    original_spec = normal_spec(scenario.spec())
    log = traffic_log(server)

    def sicken(svc: dict[str, Any]) -> None:
        if served_share(svc, PREVIOUS) == 50:
            health.behave = failing

    server.store.on_traffic.append(sicken)
    plan = provider.plan_action(GRADUAL, PREVIOUS)

    events, error = run_failing(provider, plan)

    assert isinstance(error, GateFailed)
    assert str(error).startswith("gate 2 at 50% failed: health failed")
    assert "HTTP 500, expected 200" in str(error)
    assert f"traffic restored as it was: LATEST ({CURRENT}) 100%, {PREVIOUS} 0% tag prev" in str(
        error
    )
    # The events tell the story in order, and the last step never started.
    assert events[-1].status is ProgressStatus.FAILED and events[-1].step == 3
    lines = [e.message for e in events if e.step == 3]
    assert any(line.startswith("putting the traffic back as it was") for line in lines)
    assert not any(e.step == 4 for e in events)
    # Traffic went 10 -> 50 -> back to exactly where it was: LATEST, the tag, all of it.
    assert log == [{PREVIOUS: 10, CURRENT: 90}, {PREVIOUS: 50, CURRENT: 50}, {CURRENT: 100}]
    assert normal_spec(scenario.spec()) == original_spec == normal_spec(ORIGINAL_SPEC)
    assert scenario.served() == sorted(ORIGINAL_SERVED)


def test_gate_fails_on_cloud_monitoring_error_rate(
    server: CloudRunServer, health: FlipServer
) -> None:
    """Health stays fine, but Cloud Monitoring sees 5xx jump after the first shift."""
    scenario = runbook_service(server)
    server.monitoring.steady(SERVICE, per_s=5, error_ratio=0.02, latency_ms=90, region=REGION)

    def overload(svc: dict[str, Any]) -> None:
        # A burst of failing requests right after the shift dominates the last minute.
        server.monitoring.steady(SERVICE, per_s=50_000, error_ratio=0.6, region=REGION)

    server.store.on_traffic.append(overload)
    provider = make_provider(
        scenario.endpoint,
        health_url=health.url,
        error_rate=ErrorRateConfig(source="cloudmonitoring", url=server.url, window_s=300),
    )
    plan = provider.plan_action(GRADUAL, PREVIOUS)

    events, error = run_failing(provider, plan)

    assert isinstance(error, GateFailed)
    assert str(error).startswith("gate 1 at 10% failed: health held")
    assert "OVER the limit of 10%" in str(error)
    assert "traffic restored as it was" in str(error)
    assert scenario.served() == sorted(ORIGINAL_SERVED)
    assert any(e.message.startswith("error rate before the first step: 2% of") for e in events), [
        e.message for e in events
    ]
    assert any("error rate" in e.message for e in events if e.step == 1)


def test_failed_step_of_a_gradual_rollback_restores_and_an_injected_gate_is_used(
    scenario: Scenario, server: CloudRunServer
) -> None:
    asked: list[GateRequest] = []

    def gate(request: GateRequest) -> GateVerdict:
        asked.append(request)
        request.report("looked at the dashboards")
        return GateVerdict(True, "looks fine")

    def fail_next(svc: dict[str, Any]) -> None:
        if not server.store.failing_operations and len(asked) == 0:
            server.store.failing_operations.append((13, "Internal error encountered."))

    server.store.on_traffic.append(fail_next)
    provider = make_provider(scenario.endpoint, gate=gate)
    plan = provider.plan_action(GRADUAL, PREVIOUS)

    events, error = run_failing(provider, plan)

    assert [(r.number, r.total, r.percent, r.target) for r in asked] == [(1, 2, 10, PREVIOUS)]
    assert any(e.message == "looked at the dashboards" for e in events)
    assert isinstance(error, Unavailable)
    assert "step failed: operation" in str(error)
    assert "Internal error encountered. (INTERNAL)" in str(error)
    assert "traffic restored as it was" in str(error)
    assert scenario.served() == sorted(ORIGINAL_SERVED)
    assert normal_spec(scenario.spec()) == normal_spec(ORIGINAL_SPEC)


def test_gradual_steps_at_or_below_the_targets_share_are_skipped(
    scenario: Scenario, server: CloudRunServer
) -> None:
    server.store.set_traffic(
        scenario.service_name,
        [
            {"type": REVISION, "revision": PREVIOUS, "percent": 60},
            {"type": REVISION, "revision": CURRENT, "percent": 40},
        ],
    )
    provider = make_provider(scenario.endpoint, gate=lambda r: GateVerdict(True, "ok"))
    plan = provider.plan_action(GRADUAL, PREVIOUS)
    assert [s.command.split()[-1] for s in plan.steps if s.kind is StepKind.SWITCH] == [
        f"{PREVIOUS}=100"
    ]
    run(provider, plan)
    with pytest.raises(InvalidTarget, match="already serves 100%"):
        provider.plan_action(GRADUAL, PREVIOUS)


# --------------------------------------------------------------------------- operations


def test_operation_that_fails_is_reported_and_no_success_claimed(
    provider: CloudRunProvider, scenario: Scenario, server: CloudRunServer
) -> None:
    server.store.failing_operations.append((13, "Internal error encountered."))
    plan = provider.plan(None)

    events, error = run_failing(provider, plan)

    assert isinstance(error, Unavailable)
    assert "failed: Internal error encountered. (INTERNAL)" in str(error)
    assert events[-1].status is ProgressStatus.FAILED
    assert not any(e.status is ProgressStatus.FINISHED for e in events)
    assert scenario.served() == sorted(ORIGINAL_SERVED)
    snap = provider.snapshot()
    assert any("differs from traffic served" in n for n in snap.notes)
    assert not provider.wait_ready(plan, 0.2).ready


def test_operation_that_never_finishes_hits_the_time_limit(
    scenario: Scenario, server: CloudRunServer
) -> None:
    server.store.hanging_operations = 1
    provider = make_provider(scenario.endpoint, operation_timeout_s=0.4)

    _, error = run_failing(provider, provider.plan(None))

    assert isinstance(error, OutcomeUnknown)  # neither done nor failed: left for resume
    assert "did not finish within 0.4 s" in str(error)
    assert f"gcloud run services describe {SERVICE}" in str(error)
    assert len(server.received("GET", "/operations/")) >= 2  # it was really followed
    ready = provider.wait_ready(provider.plan(PREVIOUS, dry_run=True), 0.2)
    assert not ready.ready and "not ready after" in ready.message


def test_operation_that_targets_a_revision_gone_unready_fails_truthfully(
    provider: CloudRunProvider, scenario: Scenario, server: CloudRunServer
) -> None:
    plan = provider.plan(None)
    rev = server.store.revisions[f"{scenario.service_name}/revisions/{PREVIOUS}"]
    for cond in rev["conditions"]:
        if cond["type"] == "Ready":
            cond["state"] = 3
    _, error = run_failing(provider, plan)
    assert isinstance(error, Conflict)
    assert f"Revision '{PREVIOUS}' is not ready and cannot serve traffic" in str(error)


# --------------------------------------------------------------------------- bad input


def test_unknown_revision_is_not_found_and_lists_the_known_ones(
    provider: CloudRunProvider,
) -> None:
    with pytest.raises(NotFound) as info:
        provider.plan("k-back-09999-zzz")
    assert info.value.exit_code == 2
    assert "k-back-00041-xyz (v1.2.9)" in str(info.value)
    with pytest.raises(NotFound, match="unknown action"):
        provider.plan_action("explode", None)


def test_current_revision_is_refused(provider: CloudRunProvider) -> None:
    with pytest.raises(InvalidTarget, match="already serves 100%") as info:
        provider.plan(CURRENT)
    assert info.value.exit_code == 2


def test_unknown_service_and_project(server: CloudRunServer, scenario: Scenario) -> None:
    with pytest.raises(NotFound, match="'nope' of kind 'SERVICE'") as info:
        make_provider(server.url, service="nope").snapshot()
    assert info.value.exit_code == 2
    with pytest.raises(Forbidden, match="permission denied") as denied:
        make_provider(server.url, project="someone-elses").snapshot()
    assert "project someone-elses exists" in str(denied.value)


def test_forbidden_update_changes_nothing(
    provider: CloudRunProvider, scenario: Scenario, server: CloudRunServer
) -> None:
    server.inject(
        "PATCH", "/services/k-back$", 403, message="Permission 'run.services.update' denied"
    )
    _, error = run_failing(provider, provider.plan(None))
    assert isinstance(error, Forbidden)
    assert "run.services.update" in str(error)
    assert scenario.served() == sorted(ORIGINAL_SERVED)


def test_someone_elses_change_is_a_conflict_not_overwritten(
    provider: CloudRunProvider, scenario: Scenario, server: CloudRunServer
) -> None:
    plan = provider.plan(None)
    server.store.set_traffic(
        scenario.service_name, [{"type": REVISION, "revision": OLDEST, "percent": 100}]
    )
    _, error = run_failing(provider, plan)
    assert isinstance(error, Conflict)
    assert "changed since the plan was made" in str(error)
    assert server.received("PATCH") == []
    assert scenario.served() == [(OLDEST, 100, "")]

    # A write that loses the etag race is a 409 from the API: also a conflict.
    server.inject("PATCH", "/services/k-back$", 409, "ABORTED", "etag mismatch")
    _, error = run_failing(provider, provider.plan(PREVIOUS))
    assert isinstance(error, Conflict) and "etag mismatch" in str(error)


def test_server_errors_are_retried_then_reported(
    scenario: Scenario, server: CloudRunServer
) -> None:
    provider = make_provider(scenario.endpoint, retry_s=2.0)
    server.inject("GET", "/services/k-back$", 503, message="The service is currently unavailable.")
    assert provider.snapshot().current is not None  # one 503, retried

    impatient = make_provider(scenario.endpoint, retry_s=0.2)
    server.inject("GET", "/services/k-back$", 503, times=1000)
    with pytest.raises(Unavailable, match="still failing after retrying"):
        impatient.snapshot()


def test_unreachable_endpoint_and_no_io_in_the_constructor() -> None:
    provider = make_provider(f"http://127.0.0.1:{free_port()}", retry_s=0.2)  # no I/O here
    with pytest.raises(Unavailable, match=r"127\.0\.0\.1"):
        provider.snapshot()


def test_registry_builds_the_provider_and_requires_its_section(server: CloudRunServer) -> None:
    cfg = service_config(server.url)
    built = load_provider(cfg)
    assert isinstance(built, CloudRunProvider)
    with pytest.raises(ProviderError, match=r"needs a \[services.cloudrun\] table"):
        CloudRunProvider(ServiceConfig(name="x", environment="e", provider="cloudrun"))


# --------------------------------------------------------------------------- to-latest


def test_to_latest_undoes_the_pin_after_a_rollback(
    provider: CloudRunProvider, scenario: Scenario, server: CloudRunServer
) -> None:
    assert TO_LATEST not in {a.id for a in provider.actions()}
    rollback = provider.plan(None)
    # "Who will undo it": the pin keeps the next deploy from serving, said with the way out.
    (pin,) = rollback.undone_by
    assert f"traffic stays pinned to {PREVIOUS}" in pin and "to-latest" in pin
    run(provider, rollback)
    assert TO_LATEST in {a.id for a in provider.actions()}
    assert any("pinned to revisions" in n for n in provider.snapshot().notes)

    plan = provider.plan_action(TO_LATEST, None)
    assert plan.undone_by == (), "to-latest removes the pin: nothing to warn about"
    assert plan.steps[0].command.endswith("--to-latest")
    assert plan.to_revision.id == CURRENT
    run(provider, plan)
    assert provider.wait_ready(plan, 5).ready
    assert normal_spec(scenario.spec()) == [(LATEST, "", 100, ""), (REVISION, PREVIOUS, 0, "prev")]
    with pytest.raises(InvalidTarget, match="already goes to LATEST"):
        provider.plan_action(TO_LATEST, None)


# --------------------------------------------------------------------------- typed steps, resume


def owner(provider: CloudRunProvider, step: Step) -> Part:
    return next(part for part in provider.parts() if step.op in part.ops)


def test_steps_are_typed_and_their_commands_rendered_from_their_params(
    provider: CloudRunProvider,
) -> None:
    plan = provider.plan_action(GRADUAL, PREVIOUS)

    assert [s.op for s in plan.steps] == [
        "cloudrun.set_traffic",
        "cloudrun.gate",
        "cloudrun.set_traffic",
        "cloudrun.gate",
        "cloudrun.set_traffic",
    ]
    assert all(s.argv == () for s in plan.steps)
    first, gate = plan.steps[0].params, plan.steps[1].params
    assert first["traffic"] == [
        {"revision": PREVIOUS, "percent": 10},
        {"revision": CURRENT, "percent": 90},
        {"revision": PREVIOUS, "percent": 0, "tag": "prev"},
    ]
    # What the step must find (the live traffic) and what a failure puts back.
    assert (
        first["expect"]
        == first["restore"]
        == [
            {"latest": True, "percent": 100},
            {"revision": PREVIOUS, "percent": 0, "tag": "prev"},
        ]
    )
    assert plan.steps[2].params["expect"] == first["traffic"]
    assert gate["expect"] == first["traffic"] and gate["restore"] == first["restore"]
    assert (gate["revision"], gate["percent"], gate["number"], gate["total"]) == (
        PREVIOUS,
        10,
        1,
        2,
    )
    assert json.loads(json.dumps([s.params for s in plan.steps])) == [s.params for s in plan.steps]
    # A plain rollback restores nothing: only a gradual one puts the traffic back.
    assert "restore" not in provider.plan(None).steps[0].params


def test_took_effect_is_false_before_a_traffic_step_and_true_after(
    scenario: Scenario, server: CloudRunServer
) -> None:
    provider = make_provider(scenario.endpoint, gate=lambda r: GateVerdict(True, "ok"))
    plan = provider.plan_action(GRADUAL, PREVIOUS)
    first, gate, last = plan.steps[0], plan.steps[1], plan.steps[-1]
    part = owner(provider, first)

    assert part.took_effect(first, plan) is False
    assert part.took_effect(last, plan) is False
    assert part.took_effect(gate, plan) is None  # a gate changes nothing to read back

    list(run_steps(plan, provider.parts(), indices=[0]))

    # Half-way: the 10% step is served, the move is not done.
    assert part.took_effect(first, plan) is True
    assert part.took_effect(last, plan) is False

    list(run_steps(plan, provider.parts(), indices=range(1, len(plan.steps))))

    assert part.took_effect(last, plan) is True
    assert part.took_effect(first, plan) is False  # the 10% split is no longer asked for
    assert scenario.served() == [(PREVIOUS, 0, "prev"), (PREVIOUS, 100, "")]


def test_took_effect_of_an_update_still_running_is_true_and_it_is_not_sent_again(
    scenario: Scenario, server: CloudRunServer
) -> None:
    """Still running when asked: waited for (``operation_timeout_s``), then taken as in
    effect, so resume never sends it twice (``wait_ready`` follows it)."""
    provider = make_provider(scenario.endpoint, operation_timeout_s=0.3)
    plan = provider.plan(None)
    step = plan.steps[0]
    server.store.operation_delay_s = float("inf")
    _, error = run_failing(provider, plan)
    assert isinstance(error, OutcomeUnknown)

    assert owner(provider, step).took_effect(step, plan) is True
    assert scenario.served() == sorted(ORIGINAL_SERVED)  # asked for, not served yet
    assert len(server.received("PATCH")) == 1


def test_took_effect_of_an_update_whose_operation_failed_is_false(
    scenario: Scenario, server: CloudRunServer
) -> None:
    """Asked for, but its operation failed and the old traffic is served: not in effect."""
    provider = make_provider(scenario.endpoint)
    plan = provider.plan(None)
    step = plan.steps[0]
    server.store.failing_operations.append((13, "Internal error encountered."))
    _, error = run_failing(provider, plan)
    assert isinstance(error, Unavailable)

    assert owner(provider, step).took_effect(step, plan) is False
    assert scenario.served() == sorted(ORIGINAL_SERVED)
