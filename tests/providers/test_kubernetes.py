"""The Kubernetes provider against the fake API server, through the official client.

No part of the SDK is replaced: the provider loads a real kubeconfig, the
``kubernetes`` client speaks HTTP to ``tests.k8s_server``, whose controllers
move ReplicaSets and pods like kube-controller-manager.  The comparisons
with real kubectl are in ``test_kubernetes_kubectl.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from console.config import Config, ConsoleConfig
from console.flow import RollbackFlow
from console.model import Plan, ProgressStatus, Sample, StepKind, utcnow
from console.resume import plan_for_journal
from console.runner import owner_of
from providers import load_provider
from providers.base import (
    Conflict,
    Forbidden,
    InvalidTarget,
    LockHeld,
    NotFound,
    ProviderError,
    SupportsActions,
    SupportsLogs,
    SupportsRemoteLock,
    Unavailable,
)
from providers.kubernetes import LOCK_ANNOTATION, KubernetesProvider, LockInfo
from providers.kubernetes import rollout as ro
from tests.conftest import REPO
from tests.faultproxy import FaultProxy
from tests.k8s_server import FakeKubeServer, running, set_image
from tests.k8s_server.fixtures import (  # noqa: F401 - fixtures
    DEPLOYMENT,
    IMAGE,
    NAMESPACE,
    deploy,
    kube_server,
    kubeconfig_file,
    service,
    start_server,
)
from tests.k8s_server.store import ApiError


@pytest.fixture
def provider(kubeconfig: Path, tmp_path: Path) -> KubernetesProvider:
    p = KubernetesProvider(service(kubeconfig), state_dir=tmp_path / "state")
    p.poll_interval_s = 0.02
    return p


def stuck(kube: FakeKubeServer) -> None:
    """v1.0.0, v1.1.0, v1.2.0 fine; v1.3.0 crashes: one crashing pod, v1.2.0 still serves."""
    deploy(kube, ["v1.0.0", "v1.1.0", "v1.2.0"])
    kube.cluster.failing_images.add(f"{IMAGE}:v1.3.0")
    set_image(kube, NAMESPACE, DEPLOYMENT, f"{IMAGE}:v1.3.0", change_cause="deploy v1.3.0")
    kube.controllers.settle()


def live(kube: FakeKubeServer) -> dict[str, Any]:
    return kube.cluster.get("deployments", NAMESPACE, DEPLOYMENT)


def one_line(err: BaseException) -> str:
    text = str(err)
    assert text and "\n" not in text and "Traceback" not in text, text
    return text


# --------------------------------------------------------------------------- construction


def test_constructing_does_no_io_and_imports_no_sdk(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from console.config import KubernetesConfig, ServiceConfig\n"
        "from providers import load_provider\n"
        "svc = ServiceConfig('web', 'prod', 'kubernetes', kubernetes=KubernetesConfig("
        "'web', kubeconfig=Path('/nonexistent/kubeconfig'), context='nowhere'))\n"
        "p = load_provider(svc)\n"
        "assert p.name == 'kubernetes'\n"
        "assert not [m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.')]\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert out.stdout.strip() == "ok", out.stderr


def test_the_provider_offers_actions_lock_and_logs(provider: KubernetesProvider) -> None:
    assert isinstance(provider, SupportsActions)
    assert isinstance(provider, SupportsRemoteLock)
    assert isinstance(provider, SupportsLogs)
    assert [a.id for a in provider.actions()] == ["restart", "restore-manifest"]
    restore = provider.actions()[1]
    assert restore.argument == "file" and restore.choices == () and restore.dangerous


# --------------------------------------------------------------------------- snapshot


def test_snapshot_of_a_stuck_rollout(kube: FakeKubeServer, provider: KubernetesProvider) -> None:
    stuck(kube)
    snap = provider.snapshot()
    assert snap.provider == "kubernetes" and not snap.paused
    assert [r.id for r in snap.revisions] == ["4", "3", "2", "1"]
    assert [r.version for r in snap.revisions] == ["v1.3.0", "v1.2.0", "v1.1.0", "v1.0.0"]
    assert snap.revisions[0].change_cause == "deploy v1.3.0"
    assert snap.revisions[1].image == f"{IMAGE}:v1.2.0"
    assert snap.current is not None and snap.current.id == "4" and snap.current.current
    assert snap.previous() is not None and snap.previous().id == "3"  # type: ignore[union-attr]
    assert "3/3 ready" in snap.revisions[1].detail and "0/1 ready" in snap.revisions[0].detail
    by_revision: dict[str, list[Any]] = {}
    for unit in snap.units:
        by_revision.setdefault(unit.revision, []).append(unit)
    assert sorted(by_revision) == ["3", "4"]
    [crashing] = by_revision["4"]
    assert crashing.state == "CrashLoopBackOff" and not crashing.ready and crashing.restarts >= 1
    assert crashing.node.startswith("node-") and crashing.started is not None
    assert "0/1 containers ready" in crashing.detail and "back-off" in crashing.detail
    assert all(u.state == "Running" and u.ready for u in by_revision["3"])
    assert len(by_revision["3"]) == 3
    warnings = [e for e in snap.events if e.kind == "Warning"]
    assert warnings and warnings[0].reason == "BackOff"
    assert warnings[0].object == f"Pod/{crashing.name}"
    assert any(
        e.reason == "ScalingReplicaSet" and e.object == "Deployment/web" for e in snap.events
    )
    facts = dict(snap.facts)
    assert facts["deployment"] == "shop/web"
    assert facts["generation"] == "4 (observed 4)"
    assert facts["replicas"].startswith("3 desired · 1 updated · 3 ready · 3 available")
    assert facts["Progressing"].startswith("True (ReplicaSetUpdated)")
    assert facts["rollout"] == (
        'Waiting for deployment "web" rollout to finish: '
        "1 out of 3 new replicas have been updated..."
    )
    assert facts["images"] == f"web={IMAGE}:v1.3.0"
    assert "1 of 4 pods not ready" in snap.notes


def test_snapshot_after_a_rollback_follows_the_renumbered_revision(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    stuck(kube)
    list(provider.execute(provider.plan("2")))
    kube.controllers.settle()
    snap = provider.snapshot()
    assert [r.id for r in snap.revisions] == ["5", "4", "3", "1"]
    assert snap.current is not None and snap.current.version == "v1.1.0"
    assert snap.current.id == "5" and "was revision 2" in snap.current.detail
    assert {u.revision for u in snap.units} == {"5"} and all(u.ready for u in snap.units)
    assert dict(snap.facts)["rollout"] == 'deployment "web" successfully rolled out'


def test_snapshot_of_a_paused_deployment(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    deploy(kube, ["v1", "v2"])
    kube.cluster.patch(
        "deployments",
        NAMESPACE,
        DEPLOYMENT,
        "application/merge-patch+json",
        {"spec": {"paused": True}},
    )
    set_image(kube, NAMESPACE, DEPLOYMENT, f"{IMAGE}:v3")
    kube.controllers.settle()
    snap = provider.snapshot()
    assert snap.paused
    assert any("is paused" in n and "rollout resume deployment/web" in n for n in snap.notes)
    # The paused template (v3) has no ReplicaSet yet: the live one is still v2's.
    assert any("matches no ReplicaSet" in n for n in snap.notes)
    assert snap.current is not None and snap.current.version == "v3"
    assert [r.version for r in snap.revisions] == ["v2", "v1"]
    assert dict(snap.facts)["paused"] == "yes"


def test_a_big_deployment_is_read_as_plain_json(
    kube: FakeKubeServer, provider: KubernetesProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of pods stay dicts: the SDK's model deserializer is never used."""
    deploy(kube, ["v1", "v2"], replicas=2)
    rs = next(
        r for r in kube.cluster.list("replicasets", NAMESPACE)[0] if r["spec"]["replicas"] == 2
    )
    template_pod = kube.cluster.list("pods", NAMESPACE)[0][0]
    with kube.cluster.lock:
        for i in range(1500):
            pod = json.loads(json.dumps(template_pod))
            pod["metadata"]["name"] = f"{rs['metadata']['name']}-{i:05d}"
            pod["metadata"]["uid"] = f"uid-{i}"
            kube.cluster.put_internal("pods", pod)
    from kubernetes.client import ApiClient

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the SDK's model deserializer was used")

    monkeypatch.setattr(ApiClient, "deserialize", forbidden)
    snap = provider.snapshot()
    assert len(snap.units) == 1502
    assert {u.revision for u in snap.units} == {"2"}


# --------------------------------------------------------------------------- bad input


def test_unknown_deployment(kube: FakeKubeServer, kubeconfig: Path) -> None:
    p = KubernetesProvider(service(kubeconfig, deployment="nope"))
    with pytest.raises(NotFound) as err:
        p.snapshot()
    assert one_line(err.value) == ("deployment 'nope' not found in namespace 'shop' (context fake)")
    assert err.value.exit_code == 2


def test_unknown_namespace(kube: FakeKubeServer, kubeconfig: Path) -> None:
    p = KubernetesProvider(service(kubeconfig, namespace="nowhere"))
    with pytest.raises(NotFound) as err:
        p.plan(None)
    assert "namespace 'nowhere' does not exist" in one_line(err.value)


def test_unknown_context(kube: FakeKubeServer, kubeconfig: Path) -> None:
    p = KubernetesProvider(service(kubeconfig, context="prod-eu"))
    with pytest.raises(NotFound) as err:
        p.snapshot()
    assert one_line(err.value) == (
        f"context 'prod-eu' is not in kubeconfig {kubeconfig} (known: fake)"
    )


def test_missing_kubeconfig(tmp_path: Path) -> None:
    p = KubernetesProvider(service(tmp_path / "absent.kubeconfig"))
    with pytest.raises(NotFound) as err:
        p.snapshot()
    assert f"no usable kubeconfig at {tmp_path / 'absent.kubeconfig'}" in one_line(err.value)


def test_forbidden(kube: FakeKubeServer, provider: KubernetesProvider) -> None:
    deploy(kube, ["v1"])
    kube.forbid("get", "deployments", namespace=NAMESPACE, name=DEPLOYMENT)
    with pytest.raises(Forbidden) as err:
        provider.snapshot()
    assert one_line(err.value) == (
        "not allowed to read deployment/web in namespace shop (context fake): "
        'deployments.apps "web" is forbidden: User "system:serviceaccount:ops:rollback-console" '
        'cannot get resource "deployments" in API group "apps" in the namespace "shop"'
    )


def test_unauthorized(kube: FakeKubeServer, provider: KubernetesProvider) -> None:
    kube.fail(r"/deployments/web$", 401, message="Unauthorized", times=None)
    with pytest.raises(Forbidden) as err:
        provider.snapshot()
    assert "rejected the credentials of context fake (401 Unauthorized)" in one_line(err.value)


def test_server_errors(kube: FakeKubeServer, provider: KubernetesProvider) -> None:
    deploy(kube, ["v1", "v2"])
    kube.fail(r"/replicasets$", 503, times=None)
    with pytest.raises(Unavailable) as err:
        provider.plan(None)
    assert one_line(err.value) == (
        "the Kubernetes API answered 503 Service Unavailable while trying to list the "
        "ReplicaSets of deployment/web in namespace shop: "
        "the server is currently unable to handle the request"
    )


def test_an_api_server_that_is_gone(kube: FakeKubeServer, provider: KubernetesProvider) -> None:
    url = kube.url
    kube.stop()
    with pytest.raises(Unavailable) as err:
        provider.snapshot()
    assert f"cannot reach the Kubernetes API at {url} (context fake)" in one_line(err.value)


def test_refusals_name_the_reason(kube: FakeKubeServer, provider: KubernetesProvider) -> None:
    deploy(kube, ["v1.0.0", "v1.1.0", "v1.2.0"])
    with pytest.raises(NotFound) as unknown:
        provider.plan("7")
    assert one_line(unknown.value) == (
        "unable to find specified revision 7 in history of deployment/web "
        "(revisions: 1 (v1.0.0), 2 (v1.1.0), 3 (v1.2.0))"
    )
    with pytest.raises(NotFound) as unknown_version:
        provider.plan("v9.9.9")
    assert "'v9.9.9'" in one_line(unknown_version.value)
    with pytest.raises(InvalidTarget) as current:
        provider.plan("3")
    assert one_line(current.value) == (
        "skipped rollback (current template already matches revision 3): "
        "deployment/web already runs v1.2.0"
    )
    kube.cluster.patch(
        "deployments",
        NAMESPACE,
        DEPLOYMENT,
        "application/merge-patch+json",
        {"spec": {"paused": True}},
    )
    with pytest.raises(InvalidTarget) as paused:
        provider.plan(None)
    assert one_line(paused.value) == (
        "you cannot rollback a paused deployment; resume it first with "
        f"`kubectl --kubeconfig {provider.k8s.kubeconfig} rollout resume deployment/web -n shop` "
        "and try again"
    )
    assert paused.value.exit_code == 2


def test_no_history_to_roll_back_to(kube: FakeKubeServer, provider: KubernetesProvider) -> None:
    deploy(kube, ["v1"])
    with pytest.raises(InvalidTarget) as err:
        provider.plan(None)
    assert one_line(err.value) == (
        'no rollout history found for deployment "web": nothing to roll back to'
    )


# --------------------------------------------------------------------------- plan


def test_targets_by_number_version_or_word(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    stuck(kube)
    assert provider.plan(None).to_revision.id == "3"
    assert provider.plan("2").to_revision.version == "v1.1.0"
    assert provider.plan("v1.0.0").to_revision.id == "1"
    assert provider.plan("revision 2").to_revision.id == "2"


def test_plan_says_what_will_happen(kube: FakeKubeServer, provider: KubernetesProvider) -> None:
    stuck(kube)
    plan = provider.plan("1")
    assert plan.summary == "Roll back web (production) from v1.3.0 to v1.0.0"
    assert [s.kind for s in plan.steps] == [StepKind.BACKUP, StepKind.SWITCH]
    assert plan.steps[0].title.startswith("Save the live manifest of deployment/web (production)")
    assert plan.steps[1].title.startswith(
        "Roll deployment/web (production) back to revision 1 (v1.0.0)"
    )
    assert plan.steps[1].command.endswith("rollout undo deployment/web --to-revision=1 -n shop")
    assert any("2 revision(s) in between are skipped" in w for w in plan.warnings)
    assert any("renumbers revision 1 as revision 5" in w for w in plan.warnings)
    previous = provider.plan(None)
    assert any("still has pods" in w for w in previous.warnings)
    assert not previous.dry_run and kube.requests_matching("PATCH", ".") == []


def test_dry_run_asks_the_server_and_changes_nothing(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    stuck(kube)
    before = live(kube)
    plan = provider.plan(None, dry_run=True)
    assert plan.dry_run
    [sent] = kube.requests_matching("PATCH", "/deployments/web$")
    assert sent.query["dryRun"] == ["All"]
    assert sent.content_type == "application/json-patch+json"
    assert live(kube) == before
    with pytest.raises(InvalidTarget):
        list(provider.execute(plan))


# --------------------------------------------------------------------------- execute


def test_execute_saves_the_manifest_then_rolls_back(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    stuck(kube)
    provider.acquire_lock("alice", "bastion-1", 600)
    plan = provider.plan(None)
    events = list(provider.execute(plan))
    statuses = [(e.step, e.status) for e in events if e.status is not ProgressStatus.OUTPUT]
    assert statuses == [
        (0, ProgressStatus.STARTED),
        (0, ProgressStatus.FINISHED),
        (1, ProgressStatus.STARTED),
        (1, ProgressStatus.FINISHED),
    ]
    assert events[-2].message == "deployment.apps/web rolled back"
    saved = Path(plan.steps[0].params["path"])
    assert saved.parent == provider.manifest_dir and saved.suffix == ".yaml"
    text = saved.read_text()
    assert text.startswith("# deployment/web in namespace shop (web (production))")
    manifest = yaml.safe_load(text)
    assert manifest["kind"] == "Deployment" and manifest["metadata"]["name"] == "web"
    assert "status" not in manifest
    assert not {"uid", "resourceVersion", "generation", "creationTimestamp"} & set(
        manifest["metadata"]
    )
    # The backup is the stuck Deployment, without the console's own lock.
    assert manifest["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v1.3.0"
    assert LOCK_ANNOTATION not in manifest["metadata"]["annotations"]
    # The rollback kept the lock in place; kubectl's annotations otherwise.
    annotations = live(kube)["metadata"]["annotations"]
    assert LockInfo.parse(annotations[LOCK_ANNOTATION]) is not None
    assert annotations["kubernetes.io/change-cause"] == "deploy v1.2.0"
    assert live(kube)["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v1.2.0"
    provider.release_lock("alice", "bastion-1")
    assert LOCK_ANNOTATION not in live(kube)["metadata"]["annotations"]


def test_the_manifest_backup_never_writes_through_a_planted_link(
    kube: FakeKubeServer, provider: KubernetesProvider, tmp_path: Path
) -> None:
    """Its scratch file is created anew (O_EXCL|O_NOFOLLOW): a link there is replaced, not used."""
    stuck(kube)
    victim = tmp_path / "precious.txt"
    victim.write_text("precious\n")
    plan = provider.plan(None)
    saved = Path(plan.steps[0].params["path"])
    saved.parent.mkdir(parents=True, exist_ok=True)
    scratch = saved.with_name(f".{saved.name}.tmp")
    scratch.symlink_to(victim)
    list(provider.execute(plan))
    assert victim.read_text() == "precious\n"
    assert not saved.is_symlink() and yaml.safe_load(saved.read_text())["kind"] == "Deployment"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert not os.path.lexists(scratch)


def test_a_change_after_the_plan_is_a_conflict(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    stuck(kube)
    plan = provider.plan(None)
    set_image(kube, NAMESPACE, DEPLOYMENT, f"{IMAGE}:v1.4.0", change_cause="hotfix")
    events = list_until_error(provider, plan)
    assert isinstance(events[-1], Conflict)
    assert one_line(events[-1]) == (
        "deployment/web changed since the plan was made (it now runs v1.4.0); "
        "look again before retrying"
    )
    assert live(kube)["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v1.4.0"


def list_until_error(provider: KubernetesProvider, plan: Plan) -> list[Any]:
    seen: list[Any] = []
    try:
        for event in provider.execute(plan):
            seen.append(event)
    except ProviderError as err:
        assert seen[-1].status is ProgressStatus.FAILED and seen[-1].message == str(err)
        seen.append(err)
    return seen


def test_a_write_racing_ours_is_a_conflict_not_an_overwrite(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    """Someone changes the Deployment between our read and our PATCH: the server says 409."""
    stuck(kube)
    plan = provider.plan(None)

    def sneak_in(request: Any) -> None:
        if request.method == "PATCH" and kube.on_request is not None:
            kube.on_request = None
            set_image(kube, NAMESPACE, DEPLOYMENT, f"{IMAGE}:v1.5.0")

    kube.on_request = sneak_in
    events = list_until_error(provider, plan)
    assert isinstance(events[-1], Conflict)
    assert "changed while trying to roll back deployment/web" in one_line(events[-1])
    assert "nothing was written" in str(events[-1])
    assert live(kube)["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v1.5.0"


def test_someone_else_already_rolled_back(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    stuck(kube)
    plan = provider.plan(None)
    other = KubernetesProvider(service(provider.k8s.kubeconfig), state_dir=provider.manifest_dir)
    list(other.execute(other.plan(None)))
    events = list(provider.execute(plan))
    assert events[-1].status is ProgressStatus.FINISHED
    assert "already had the template of revision 3" in events[-1].message
    assert any("skipped rollback" in e.message for e in events)


# --------------------------------------------------------------------------- wait_ready


def test_wait_ready_follows_the_rollout_live(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    stuck(kube)
    plan = provider.plan(None)
    list(provider.execute(plan))
    seen: list[str] = []

    def on_progress(message: str) -> None:
        seen.append(message)
        kube.controllers.start()  # the controllers act only once the first status is seen

    try:
        ready = provider.wait_ready(plan, 30, on_progress=on_progress)
    finally:
        kube.controllers.stop()
    assert ready.ready, ready.message
    assert ready.message == 'deployment "web" successfully rolled out: revision 5 (v1.2.0)'
    assert seen[0].startswith("Waiting for deployment spec update to be observed...")
    assert seen[-1] == 'deployment "web" successfully rolled out'


def test_wait_ready_reports_a_stuck_rollback(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    """Rolling back to a revision that crashes too: the progress deadline ends the wait."""
    stuck(kube)
    kube.cluster.failing_images.add(f"{IMAGE}:v1.1.0")
    plan = provider.plan("2")
    list(provider.execute(plan))
    kube.controllers.settle()
    kube.cluster.advance(700)  # past progressDeadlineSeconds (600) without progress
    kube.controllers.settle()
    ready = provider.wait_ready(plan, 60)
    assert not ready.ready
    assert ready.message == 'deployment "web" exceeded its progress deadline'


def test_wait_ready_times_out_with_kubectls_words(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    stuck(kube)
    kube.cluster.failing_images.add(f"{IMAGE}:v1.1.0")
    plan = provider.plan("2")
    list(provider.execute(plan))
    kube.controllers.settle()
    ready = provider.wait_ready(plan, 0.2)
    assert not ready.ready
    assert ready.message.startswith(
        'not ready after 0 s: Waiting for deployment "web" rollout to finish:'
    )
    assert (
        "(Warning: CrashLoopBackOff - back-off 40s restarting failed container=web" in ready.message
    )


def test_wait_ready_notices_someone_elses_rollout(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    stuck(kube)
    plan = provider.plan(None)
    list(provider.execute(plan))
    set_image(kube, NAMESPACE, DEPLOYMENT, f"{IMAGE}:v2.0.0")
    kube.controllers.settle()
    ready = provider.wait_ready(plan, 5)
    assert not ready.ready
    assert ready.message == (
        "deployment/web was changed again after the rollback (it now has v2.0.0, not v1.2.0): "
        "someone else is rolling it out"
    )


def test_wait_ready_without_plan_data_after_a_resume(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    """A journaled plan has no ``data`` (nor context): its steps' params say what to find.

    One journaled before steps were typed has no params either: the target is
    found by its revision history.
    """
    stuck(kube)
    plan = provider.plan("2")
    list(provider.execute(plan))
    kube.controllers.settle()
    resumed = dataclasses.replace(plan, data={})
    ready = provider.wait_ready(resumed, 5)
    assert ready.ready and "revision 5 (v1.1.0)" in ready.message
    untyped = tuple(dataclasses.replace(s, op="", params={}) for s in plan.steps)
    ready = provider.wait_ready(dataclasses.replace(plan, steps=untyped), 5)
    assert ready.ready and "revision 5 (v1.1.0)" in ready.message
    set_image(kube, NAMESPACE, DEPLOYMENT, f"{IMAGE}:v2.0.0")
    kube.controllers.settle()
    ready = provider.wait_ready(dataclasses.replace(plan, steps=untyped), 5)
    assert not ready.ready and "someone else is rolling it out" in ready.message


# --------------------------------------------------------------------------- lock


def test_lock_is_taken_refused_and_released(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    deploy(kube, ["v1", "v2"])
    bob = KubernetesProvider(service(provider.k8s.kubeconfig))
    assert provider.acquire_lock("alice", "bastion-1", 600) == ""
    held = provider.lock_holder()
    assert held is not None and (held.operator, held.host) == ("alice", "bastion-1")
    assert held.expires is not None and held.expires > utcnow()
    with pytest.raises(LockHeld) as refused:
        bob.acquire_lock("bob", "bastion-2", 600)
    assert refused.value.exit_code == 3
    assert one_line(refused.value).startswith(
        "deployment/web (production) is being rolled back by alice on bastion-1 until "
    )
    # Re-entrant for the holder; a release by someone else does nothing.
    assert provider.acquire_lock("alice", "bastion-1", 600) == ""
    bob.release_lock("bob", "bastion-2")
    assert provider.lock_holder() is not None
    provider.release_lock("alice", "bastion-1")
    assert provider.lock_holder() is None
    assert bob.acquire_lock("bob", "bastion-2", 600) == ""


def test_an_expired_lock_is_taken_over_with_a_warning(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    deploy(kube, ["v1", "v2"])
    provider.acquire_lock("alice", "bastion-1", -1)  # already expired
    bob = KubernetesProvider(service(provider.k8s.kubeconfig))
    warning = bob.acquire_lock("bob", "bastion-2", 600)
    assert warning.startswith("took over an expired rollback lock of alice on bastion-1 until ")
    holder = bob.lock_holder()
    assert holder is not None and holder.operator == "bob"


def test_losing_the_lock_race_is_lock_held(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    """Bob's console writes its lock between our read and our write: our write gets 409."""
    deploy(kube, ["v1", "v2"])
    bob = LockInfo("bob", "bastion-2", None, None)

    def bob_wins(request: Any) -> None:
        if request.method == "PATCH" and kube.on_request is not None:
            kube.on_request = None
            value = json.dumps(
                {"operator": bob.operator, "host": bob.host, "expires": "2999-01-01T00:00:00Z"}
            )
            kube.cluster.patch(
                "deployments",
                NAMESPACE,
                DEPLOYMENT,
                "application/merge-patch+json",
                {"metadata": {"annotations": {LOCK_ANNOTATION: value}}},
            )

    kube.on_request = bob_wins
    with pytest.raises(LockHeld) as lost:
        provider.acquire_lock("alice", "bastion-1", 600)
    assert "being rolled back by bob on bastion-2" in str(lost.value)
    holder = provider.lock_holder()
    assert holder is not None and holder.operator == "bob"


def test_a_status_update_during_locking_is_retried(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    """A 409 caused by the controller (not another console) is not a lost race."""
    deploy(kube, ["v1", "v2"])

    def controller_writes(request: Any) -> None:
        if request.method == "PATCH" and kube.on_request is not None:
            kube.on_request = None
            d = live(kube)
            d["status"]["observedGeneration"] = d["status"].get("observedGeneration", 0)
            d["status"]["conditions"][0]["lastUpdateTime"] = "2000-01-01T00:00:00Z"
            kube.cluster.put_status("deployments", d)

    kube.on_request = controller_writes
    assert provider.acquire_lock("alice", "bastion-1", 600) == ""
    patches = kube.requests_matching("PATCH", "/deployments/web$")
    assert len(patches) == 2  # the first lost to the status update, the second won
    assert provider.lock_holder() is not None


def test_the_flow_takes_the_lock_and_a_second_console_is_refused(
    kube: FakeKubeServer, kubeconfig: Path, tmp_path: Path
) -> None:
    stuck(kube)
    svc = service(kubeconfig)
    config = Config(
        tmp_path / "config.toml",
        ConsoleConfig("alice", tmp_path / "history.md", tmp_path / "state"),
        (svc,),
    )
    flow = RollbackFlow(config, svc, load_provider(svc), FlatSource(), reason="v1.3.0 crashes")
    holder = KubernetesProvider(svc)
    holder.acquire_lock("bob", "bastion-2", 600)
    plan = flow.plan(None)
    before = live(kube)
    with pytest.raises(LockHeld):
        flow.execute(plan)
    assert live(kube)["spec"] == before["spec"]
    holder.release_lock("bob", "bastion-2")

    flow = RollbackFlow(config, svc, load_provider(svc), FlatSource(), reason="v1.3.0 crashes")
    plan = flow.plan(None)
    with running(kube):
        ready = flow.execute(plan)
    assert ready.ready, ready.message
    # Held through the verification that follows the rollout (issue 11), not only the switch.
    assert LOCK_ANNOTATION in live(kube)["metadata"]["annotations"]
    flow.close()
    timeline = [e.message for e in flow.incident.timeline]
    assert any(m.startswith("platform lock taken by alice on ") for m in timeline)
    assert "platform lock released" in timeline
    assert LOCK_ANNOTATION not in live(kube)["metadata"]["annotations"]
    assert live(kube)["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v1.2.0"


class FlatSource:
    """An error-rate source that reports a steady 0%: the flow here is about the platform."""

    name = "flat"

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def sample(self, since: Any = None) -> Sample:
        return Sample(utcnow(), 0.0, 10.0, 100, self.name)

    def history(self, points: int = 60) -> list[Sample]:
        return []

    def wait_for_data(self, timeout_s: float) -> bool:
        return True


# --------------------------------------------------------------------------- logs


def test_logs_tail_of_a_pod(kube: FakeKubeServer, provider: KubernetesProvider) -> None:
    stuck(kube)
    pod = next(u for u in provider.snapshot().units if u.revision == "3")
    kube.cluster.logs[pod.name] = [f"line {i}" for i in range(200)]
    assert provider.logs(pod.name) == tuple(f"line {i}" for i in range(150, 200))
    assert provider.logs(pod.name, lines=3) == ("line 197", "line 198", "line 199")
    [sent] = kube.requests_matching("GET", f"/pods/{pod.name}/log$")[:1]
    assert sent.query["tailLines"] == ["50"] and sent.query["container"] == ["web"]
    with pytest.raises(NotFound) as gone:
        provider.logs("web-gone-12345")
    assert one_line(gone.value).startswith("pod 'web-gone-12345' not found in namespace 'shop'")


def test_logs_of_the_configured_container(kube: FakeKubeServer, kubeconfig: Path) -> None:
    containers = [
        {"name": "proxy", "image": "envoyproxy/envoy:v1.29.0"},
        {"name": "app", "image": f"{IMAGE}:v1"},
    ]
    deploy(kube, ["v1"], containers=containers)
    p = KubernetesProvider(service(kubeconfig, container="app"))
    snap = p.snapshot()
    assert snap.current is not None and snap.current.version == "v1"
    assert "also proxy=envoyproxy/envoy:v1.29.0" in snap.current.detail
    name = snap.units[0].name
    kube.cluster.logs[name] = ["app says hi"]
    assert p.logs(name) == ("app says hi",)
    assert kube.requests_matching("GET", "/log$")[-1].query["container"] == ["app"]


# --------------------------------------------------------------------------- actions


def test_restart(kube: FakeKubeServer, provider: KubernetesProvider) -> None:
    deploy(kube, ["v1", "v2"])
    plan = provider.plan_action("restart", None)
    assert plan.action == "restart" and plan.to_revision.version == "v2"
    assert [s.kind for s in plan.steps] == [StepKind.BACKUP, StepKind.RESTART]
    assert plan.summary == "restart on web (production), now at v2"
    events = list(provider.execute(plan))
    assert events[-1].status is ProgressStatus.FINISHED
    annotations = live(kube)["spec"]["template"]["metadata"]["annotations"]
    assert ro.parse_time(annotations[ro.RESTARTED_AT]) is not None
    with running(kube):
        ready = provider.wait_ready(plan, 30)
    assert ready.ready and "revision 3 (v2)" in ready.message


def test_restart_of_a_paused_deployment_is_refused(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    deploy(kube, ["v1"])
    kube.cluster.patch(
        "deployments",
        NAMESPACE,
        DEPLOYMENT,
        "application/merge-patch+json",
        {"spec": {"paused": True}},
    )
    with pytest.raises(InvalidTarget) as err:
        provider.plan_action("restart", None)
    assert one_line(err.value).startswith("can't restart paused deployment/web")


def test_restore_a_saved_manifest(kube: FakeKubeServer, provider: KubernetesProvider) -> None:
    stuck(kube)
    first = provider.plan(None)
    list(provider.execute(first))
    kube.controllers.settle()
    # The v1.2.0 rollback is bad too (say): go back to exactly what ran before it.
    saved = Path(first.steps[0].params["path"])
    assert provider.actions()[1].choices == (saved.name,)
    plan = provider.plan_action("restore-manifest", saved.name)
    assert plan.action == "restore-manifest" and plan.argument == str(saved)
    assert plan.to_revision.version == "v1.3.0" and plan.to_revision.id == "4"
    assert plan.steps[1].command.endswith(f"replace -f {saved} -n shop")
    list(provider.execute(plan))
    assert live(kube)["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v1.3.0"
    # A second backup was saved before the restore.
    assert len(provider.saved_manifests()) == 2
    with pytest.raises(InvalidTarget) as same:
        provider.plan_action("restore-manifest", str(saved))
    assert "already runs the template saved in" in one_line(same.value)


def test_restore_refuses_what_it_cannot_use(
    kube: FakeKubeServer, provider: KubernetesProvider, tmp_path: Path
) -> None:
    deploy(kube, ["v1", "v2"])
    with pytest.raises(NotFound) as missing:
        provider.plan_action("restore-manifest", "nope.yaml")
    assert "manifest 'nope.yaml' not found in" in one_line(missing.value)
    with pytest.raises(InvalidTarget):
        provider.plan_action("restore-manifest", None)
    other = tmp_path / "other.yaml"
    other.write_text(
        yaml.safe_dump(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}, "spec": {}}
        )
    )
    with pytest.raises(InvalidTarget) as wrong:
        provider.plan_action("restore-manifest", str(other))
    assert "is the manifest of deployment/api, not deployment/web" in one_line(wrong.value)
    with pytest.raises(NotFound) as unknown:
        provider.plan_action("scale-to-zero", None)
    assert "unknown action 'scale-to-zero'" in one_line(unknown.value)


# --------------------------------------------------------------------------- clusters


def test_services_on_different_contexts(tmp_path: Path) -> None:
    east, west = start_server(seed=1), start_server(seed=2)
    try:
        deploy(east, ["e1", "e2"])
        deploy(west, ["w1"])
        path = east.write_kubeconfig(
            tmp_path / "kubeconfig", context="east", namespace=NAMESPACE, extra={"west": west.url}
        )
        e = KubernetesProvider(service(path, context="east"))
        w = KubernetesProvider(service(path, context="west"))
        d = KubernetesProvider(service(path))  # the kubeconfig's current context: east
        assert [r.version for r in e.snapshot().revisions] == ["e2", "e1"]
        assert [r.version for r in w.snapshot().revisions] == ["w1"]
        assert dict(d.snapshot().facts)["cluster"] == "context east"
        assert (
            w.plan_action("restart", None)
            .steps[1]
            .command.startswith(f"kubectl --kubeconfig {path} --context west rollout restart")
        )
    finally:
        east.stop()
        west.stop()


def test_in_cluster_credentials_when_there_is_no_kubeconfig(
    kube: FakeKubeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes.config import incluster_config

    token = tmp_path / "token"
    token.write_text("in-cluster-token")
    cert = tmp_path / "ca.crt"
    cert.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(cert))
    host, port = kube.url.removeprefix("http://").split(":")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    p = KubernetesProvider(service(None))
    # The service account is used (over HTTPS, which the plain-HTTP fake does not speak).
    with pytest.raises(ProviderError) as err:
        p.snapshot()
    assert f"https://{host}:{port}" in one_line(err.value)
    assert "(in-cluster service account)" in str(err.value)


def test_restore_a_deleted_deployment(kube: FakeKubeServer, provider: KubernetesProvider) -> None:
    """Someone deleted the Deployment: the saved manifest creates it again (kubectl create -f)."""
    deploy(kube, ["v1", "v2"])
    restart = provider.plan_action("restart", None)
    list(provider.execute(restart))
    saved = Path(restart.steps[0].params["path"])
    kube.cluster.delete("deployments", NAMESPACE, DEPLOYMENT)
    assert kube.cluster.list("pods", NAMESPACE)[0] == []  # the garbage collector took the rest
    with pytest.raises(NotFound):
        provider.snapshot()
    plan = provider.plan_action("restore-manifest", saved.name)
    assert plan.from_revision is None and plan.to_revision.version == "v2"
    [create] = plan.steps
    assert create.command.endswith(f"create -f {saved} -n shop")
    assert "does not exist" in plan.warnings[0]
    assert "no lock annotation could be written" in provider.acquire_lock("alice", "b-1", 600)
    events = list(provider.execute(plan))
    assert events[-1].status is ProgressStatus.FINISHED
    with running(kube):
        ready = provider.wait_ready(plan, 30)
    assert ready.ready and "revision 1 (v2)" in ready.message
    provider.release_lock("alice", "b-1")
    assert [r.version for r in provider.snapshot().revisions] == ["v2"]


@pytest.mark.parametrize("fault", ["answer lost", "never arrived", "created by someone else"])
def test_restoring_a_deleted_deployment_when_the_create_gets_no_answer(
    kube: FakeKubeServer, tmp_path: Path, fault: str
) -> None:
    """The POST of ``kubectl create -f`` gets no answer (through the fault proxy, real sockets).

    The provider reads again instead of sending it twice: created with the saved
    template is the restore applied; still missing is not applied; created with
    another template is someone else's create, and said so.
    """
    deploy(kube, ["v1", "v2"])
    proxied = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
    with FaultProxy(("127.0.0.1", int(kube.url.rsplit(":", 1)[1]))) as proxy:
        proxied.write_text(proxied.read_text().replace(kube.url, proxy.url()))
        p = KubernetesProvider(service(proxied), state_dir=tmp_path / "state")
        restart = p.plan_action("restart", None)
        list(p.execute(restart))  # saves the manifest first, as every change does
        saved = Path(restart.steps[0].params["path"])
        kube.cluster.delete("deployments", NAMESPACE, DEPLOYMENT)
        plan = p.plan_action("restore-manifest", saved.name)
        if fault == "answer lost":
            proxy.drop_after(0, method="POST", count=1)
        else:
            proxy.reset(method="POST", count=1)
        if fault == "created by someone else":
            deploy(kube, ["v9"], settle=False)

        events = list_until_error(p, plan)

    posts = [s for s in proxy.seen if s.method == "POST"]
    assert len(posts) == 1, "the create was sent once, never again"
    if fault == "answer lost":
        assert events[-1].status is ProgressStatus.FINISHED
        assert any("the manifest was applied" in e.message for e in events)
        assert ro.template_of(live(kube))["spec"]["containers"][0]["image"] == f"{IMAGE}:v2"
    elif fault == "never arrived":
        assert isinstance(events[-1], Unavailable)
        assert "still does not exist when read again" in one_line(events[-1])
        assert "the saved manifest was not applied" in one_line(events[-1])
        with pytest.raises(ApiError):
            live(kube)
    else:
        assert isinstance(events[-1], Conflict)
        assert "exists now but runs v9 (someone else created it)" in one_line(events[-1])
        assert ro.template_of(live(kube))["spec"]["containers"][0]["image"] == f"{IMAGE}:v9"


# --------------------------------------------------------------------------- typed steps


def effect(provider: KubernetesProvider, plan: Plan) -> bool | None:
    """What the owner of ``plan``'s last step says: did it take effect?"""
    step = plan.steps[-1]
    return owner_of(step, provider.parts()).took_effect(step, plan)


def test_each_step_is_run_by_the_part_owning_its_op(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    stuck(kube)
    plan = provider.plan("2")
    assert [s.op for s in plan.steps] == ["k8s.backup_manifest", "k8s.undo"]
    assert all(not s.argv for s in plan.steps)
    undo = plan.steps[1].params
    assert undo["revision"] == 2 and undo["version"] == "v1.1.0"
    # Journaled as they are: plain JSON, templates only as digests.
    assert json.loads(json.dumps(dict(undo))) == undo
    assert undo["template_hash"].startswith("sha256:")
    assert undo["template_hash"] != undo["from_template_hash"]
    assert plan.data == {} and "patch" in plan.context


def test_took_effect_is_false_before_and_true_after_each_change(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    """Read from the fake API server; a rollback renumbers its target (2 comes back as 5)."""
    stuck(kube)
    rollback = provider.plan("2")
    backup = rollback.steps[0]
    assert owner_of(backup, provider.parts()).took_effect(backup, rollback) is False
    assert effect(provider, rollback) is False
    list(provider.execute(rollback))
    kube.controllers.settle()
    assert owner_of(backup, provider.parts()).took_effect(backup, rollback) is True
    assert effect(provider, rollback) is True
    current = provider.snapshot().current
    assert current is not None and current.id == "5"  # renumbered: the number is not the test

    restart = provider.plan_action("restart", None)
    assert restart.steps[-1].op == "k8s.restart" and effect(provider, restart) is False
    list(provider.execute(restart))
    assert effect(provider, restart) is True
    assert effect(provider, rollback) is False  # a restart changes the template too
    kube.controllers.settle()

    saved = Path(rollback.steps[0].params["path"])
    restore = provider.plan_action("restore-manifest", saved.name)
    assert restore.steps[-1].op == "k8s.restore_manifest" and effect(provider, restore) is False
    list(provider.execute(restore))
    assert effect(provider, restore) is True
    assert effect(provider, rollback) is False  # v1.3.0 is back

    kube.controllers.settle()
    kube.cluster.delete("deployments", NAMESPACE, DEPLOYMENT)
    create = provider.plan_action("restore-manifest", saved.name)
    assert [s.op for s in create.steps] == ["k8s.create"] and effect(provider, create) is False
    list(provider.execute(create))
    assert effect(provider, create) is True


def test_params_never_hold_the_environment_values_of_a_template(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    secret = "hunter2-do-not-journal"
    env = [{"name": "DB_PASSWORD", "value": secret}]
    containers = [{"name": "web", "image": f"{IMAGE}:v1", "env": env}]
    deploy(kube, ["v1", "v2"], containers=containers)
    plans = [provider.plan(None), provider.plan_action("restart", None)]
    list(provider.execute(plans[0]))
    kube.controllers.settle()
    saved = Path(plans[0].steps[0].params["path"])
    assert secret in saved.read_text()  # the backup is the whole manifest, mode 0600
    plans.append(provider.plan_action("restore-manifest", saved.name))
    for plan in plans:
        journaled = json.dumps(plan_for_journal(plan), default=str)
        assert secret not in journaled, plan.action
        assert all(secret not in s.command for s in plan.steps)
