"""Real kubectl is the oracle: the console must leave what ``kubectl rollout undo`` leaves.

Every scenario builds one starting state on a fake API server, copies it to a
second server, runs real ``kubectl rollout undo [--to-revision=N]`` on the
first and the console's plan + execute on the second, and compares:

* the outcome: rolled back, "skipped rollback", or the same refusal;
* the Deployments: ``spec`` (template included) and ``metadata.annotations``;
* after the controllers settle: the revision list, which must equal what
  ``kubectl rollout history`` prints on both servers.

Then the commands the console's plans display (the manifest backup, the
undo, the restart, the manifest restore) are run verbatim against another
copy, and must do what the console did.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from providers.base import InvalidTarget, NotFound
from providers.kubernetes import LOCK_ANNOTATION, KubernetesProvider
from providers.kubernetes import rollout as ro
from tests.k8s_server import FakeKubeServer, copy_state, set_image
from tests.k8s_server.fixtures import (
    DEPLOYMENT,
    IMAGE,
    NAMESPACE,
    Kubectl,
    deploy,
    need_binary,
    service,
    start_server,
)


def _three(kube: FakeKubeServer) -> None:
    deploy(kube, ["v1.0.0", "v1.1.0", "v1.2.0"])


def _five_with_annotations(kube: FakeKubeServer) -> None:
    deploy(
        kube,
        ["v1", "v2", "v3", "v4", "v5"],
        annotations={
            "team": "payments",
            "kubectl.kubernetes.io/last-applied-configuration": '{"kind":"Deployment"}',
        },
    )
    # An annotation added after revision 2 was created: kubectl keeps the
    # ReplicaSet's copy of every annotation, so rolling back drops it.
    kube.cluster.patch(
        "deployments",
        NAMESPACE,
        DEPLOYMENT,
        "application/merge-patch+json",
        {"metadata": {"annotations": {"oncall": "alice", "team": "checkout"}}},
    )
    kube.controllers.settle()


def _after_a_rollback(kube: FakeKubeServer) -> None:
    """1, 2, 3, then kubectl-style undo to 1: revision 1 becomes 4 (history "1")."""
    deploy(kube, ["v1", "v2", "v3"])
    d = kube.cluster.get("deployments", NAMESPACE, DEPLOYMENT)
    owned = kube.cluster.list("replicasets", NAMESPACE)[0]
    target = ro.undo_target(d, ro.owned_replicasets(d, owned), 1)
    kube.cluster.patch(
        "deployments",
        NAMESPACE,
        DEPLOYMENT,
        "application/json-patch+json",
        ro.undo_patch(target, ro.undo_annotations(d, target)),
    )
    kube.controllers.settle()


def _stuck(kube: FakeKubeServer) -> None:
    """v1.3.0 crashes: its ReplicaSet has one crashing pod, v1.2.0 still serves."""
    deploy(kube, ["v1.1.0", "v1.2.0"])
    kube.cluster.failing_images.add(f"{IMAGE}:v1.3.0")
    deploy_more(kube, "v1.3.0")


def deploy_more(kube: FakeKubeServer, version: str, **kwargs: Any) -> None:
    set_image(kube, NAMESPACE, DEPLOYMENT, f"{IMAGE}:{version}", change_cause=f"deploy {version}")
    kube.controllers.settle(**kwargs)


def _sidecar(kube: FakeKubeServer) -> None:
    containers = [
        {"name": "web", "image": f"{IMAGE}:v1", "env": [{"name": "MODE", "value": "a"}]},
        {"name": "proxy", "image": "envoyproxy/envoy:v1.29.0"},
    ]
    deploy(kube, ["v1"], containers=containers)
    set_image(kube, NAMESPACE, DEPLOYMENT, "envoyproxy/envoy:v1.30.0", container="proxy")
    kube.controllers.settle()
    set_image(kube, NAMESPACE, DEPLOYMENT, f"{IMAGE}:v2", change_cause="web v2")
    kube.controllers.settle()


def _restarted(kube: FakeKubeServer) -> None:
    """A restart is a revision too: its template differs by one template annotation."""
    deploy(kube, ["v1", "v2"])
    kube.cluster.patch(
        "deployments",
        NAMESPACE,
        DEPLOYMENT,
        "application/strategic-merge-patch+json",
        {
            "spec": {
                "template": {"metadata": {"annotations": {ro.RESTARTED_AT: "2026-01-16T01:00:00Z"}}}
            }
        },
    )
    kube.controllers.settle()


def _no_causes_and_expressions(kube: FakeKubeServer) -> None:
    labels = {"app": "web", "tier": "front"}
    kube.cluster.create(
        "deployments",
        NAMESPACE,
        {
            "metadata": {"name": DEPLOYMENT},
            "spec": {
                "replicas": 2,
                "selector": {
                    "matchLabels": {"app": "web"},
                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}],
                },
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "web", "image": f"{IMAGE}:a"}]},
                },
            },
        },
    )
    kube.controllers.settle()
    for version in ("b", "c"):
        set_image(kube, NAMESPACE, DEPLOYMENT, f"{IMAGE}:{version}")
        kube.controllers.settle()


def _neighbour(kube: FakeKubeServer) -> None:
    """Another Deployment's ReplicaSets carry the same labels: not part of web's history."""
    deploy(kube, ["v1", "v2", "v3"])
    deploy(kube, ["n1", "n2"], name="web-canary", labels={"app": "web"})


def _paused(kube: FakeKubeServer) -> None:
    deploy(kube, ["v1", "v2"])
    kube.cluster.patch(
        "deployments",
        NAMESPACE,
        DEPLOYMENT,
        "application/merge-patch+json",
        {"spec": {"paused": True}},
    )
    kube.controllers.settle()


def _single(kube: FakeKubeServer) -> None:
    deploy(kube, ["v1"])


def _recreate(kube: FakeKubeServer) -> None:
    deploy(kube, ["v1", "v2", "v3"], strategy={"type": "Recreate"}, replicas=2)


def _legacy_without_revision(kube: FakeKubeServer) -> None:
    """A ReplicaSet that lost its revision annotation is revision 0 for kubectl."""
    deploy(kube, ["v1", "v2", "v3"])
    for rs in kube.cluster.list("replicasets", NAMESPACE)[0]:
        if rs["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v1"):
            rs["metadata"]["annotations"].pop(ro.REVISION)
            kube.cluster.put_internal("replicasets", rs)


@dataclass(frozen=True)
class Scenario:
    id: str
    build: Callable[[FakeKubeServer], None]
    to_revision: int | None  # None: kubectl rollout undo without --to-revision


SCENARIOS = [
    Scenario("previous-of-three", _three, None),
    Scenario("to-first-of-three", _three, 1),
    Scenario("annotations-carried", _five_with_annotations, 2),
    Scenario("annotations-previous", _five_with_annotations, None),
    Scenario("after-a-rollback-previous", _after_a_rollback, None),
    Scenario("after-a-rollback-to-2", _after_a_rollback, 2),
    Scenario("stuck-rollout-previous", _stuck, None),
    Scenario("sidecar-to-1", _sidecar, 1),
    Scenario("sidecar-previous", _sidecar, None),
    Scenario("restart-revision-previous", _restarted, None),
    Scenario("selector-expressions", _no_causes_and_expressions, 1),
    Scenario("neighbour-replicasets", _neighbour, None),
    Scenario("recreate-strategy", _recreate, 1),
    Scenario("legacy-revision-zero", _legacy_without_revision, 0),
    Scenario("already-current", _three, 3),
    Scenario("unknown-revision", _three, 9),
    Scenario("paused", _paused, 1),
    Scenario("paused-unknown-revision", _paused, 7),
    Scenario("no-history", _single, None),
]


@pytest.fixture
def pair(tmp_path: Path) -> Any:
    """Two servers: ``a`` for kubectl, ``b`` for the console, and kubectl on ``a``."""
    binary = need_binary("kubectl", "kubectl is the oracle for the Kubernetes provider")
    a, b = start_server(seed=7), start_server(seed=7)
    home = tmp_path / "home"
    home.mkdir()
    kubectl_a = Kubectl(
        a.write_kubeconfig(tmp_path / "a.kubeconfig", namespace=NAMESPACE), home, binary
    )
    kubectl_b = Kubectl(
        b.write_kubeconfig(tmp_path / "b.kubeconfig", namespace=NAMESPACE), home, binary
    )
    provider = KubernetesProvider(service(kubectl_b.kubeconfig), state_dir=tmp_path / "state")
    provider.poll_interval_s = 0.02
    try:
        yield a, b, kubectl_a, kubectl_b, provider
    finally:
        a.stop()
        b.stop()


def deployment(server: FakeKubeServer, name: str = DEPLOYMENT) -> dict[str, Any]:
    return server.cluster.get("deployments", NAMESPACE, name)


def comparable(d: dict[str, Any]) -> dict[str, Any]:
    """What must be equal after both rollbacks: the spec and the annotations."""
    annotations = dict(d["metadata"].get("annotations") or {})
    annotations.pop(LOCK_ANNOTATION, None)
    return {
        "spec": d["spec"],
        "annotations": annotations,
        "generation": d["metadata"]["generation"],
    }


def revisions_of(server: FakeKubeServer) -> dict[str, tuple[str, str]]:
    """ReplicaSet name -> (revision, revision-history) once the controllers settled."""
    return {
        rs["metadata"]["name"]: (
            rs["metadata"]["annotations"].get(ro.REVISION, ""),
            rs["metadata"]["annotations"].get(ro.REVISION_HISTORY, ""),
        )
        for rs in server.cluster.list("replicasets", NAMESPACE)[0]
        if rs["metadata"]["ownerReferences"][0]["name"] == DEPLOYMENT
    }


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_console_rollback_leaves_what_kubectl_rollout_undo_leaves(
    pair: Any, scenario: Scenario
) -> None:
    a, b, kubectl_a, kubectl_b, provider = pair
    scenario.build(a)
    copy_state(a, b)
    before = deployment(a)
    assert comparable(before) == comparable(deployment(b))

    # The console's history is kubectl's, before anything happens.
    assert provider.rollout_history() == kubectl_b.history()

    args = ["rollout", "undo", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE]
    if scenario.to_revision is not None:
        args.append(f"--to-revision={scenario.to_revision}")
    oracle = kubectl_a.run(*args)
    said = (oracle.stdout + oracle.stderr).strip()

    target = None if scenario.to_revision is None else str(scenario.to_revision)
    if oracle.returncode != 0:
        # kubectl refused: the console refuses with kubectl's reason, and changes nothing.
        reason = said.removeprefix("error: ")
        with pytest.raises((NotFound, InvalidTarget)) as refused:
            provider.plan(target)
        # kubectl's sentence up to its advice (the console names the full command).
        assert reason.split(";")[0] in str(refused.value), (reason, str(refused.value))
        if "unable to find" in reason:
            assert isinstance(refused.value, NotFound)
        else:
            assert isinstance(refused.value, InvalidTarget)
        assert deployment(a)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert deployment(b)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        return
    if said.endswith(")") and "skipped rollback" in said:
        with pytest.raises(InvalidTarget) as skipped:
            provider.plan(target)
        assert said.split("deployment.apps/web ")[-1] in str(skipped.value)
        assert deployment(a)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        return
    assert said == f"deployment.apps/{DEPLOYMENT} rolled back"

    plan = provider.plan(target)
    events = list(provider.execute(plan))
    assert events[-1].status.value == "finished", events[-1]
    assert comparable(deployment(b)) == comparable(deployment(a))
    # kubectl sent one JSON patch; so did the console (with its resourceVersion guard).
    for server in (a, b):
        patches = server.requests_matching("PATCH", rf"/deployments/{DEPLOYMENT}$")
        assert [p.content_type for p in patches] == ["application/json-patch+json"]
        ops = patches[0].json()
        assert [op["path"] for op in ops[:2]] == ["/spec/template", "/metadata/annotations"]
    kubectl_ops = a.requests_matching("PATCH", "/deployments/")[0].json()
    console_ops = b.requests_matching("PATCH", "/deployments/")[0].json()
    assert console_ops[:2] == kubectl_ops
    assert console_ops[2] == {
        "op": "replace",
        "path": "/metadata/resourceVersion",
        "value": before["metadata"]["resourceVersion"],
    }

    a.controllers.settle()
    b.controllers.settle()
    assert revisions_of(a) == revisions_of(b)
    assert comparable(deployment(a)) == comparable(deployment(b))
    history = kubectl_b.history()
    assert history == kubectl_a.history()
    assert provider.rollout_history() == history
    snap = provider.snapshot()
    assert [(int(r.id), r.change_cause or "<none>") for r in snap.revisions] == history[::-1]
    assert snap.current is not None and snap.current.current
    ready = provider.wait_ready(plan, 10)
    assert ready.ready, ready.message


def test_revision_list_matches_kubectl_history_with_many_revisions(
    pair: Any,
) -> None:
    _, b, _, kubectl_b, provider = pair
    deploy(b, [f"v{i}" for i in range(1, 15)], revision_history_limit=5)
    rows = kubectl_b.history()
    # revisionHistoryLimit keeps 5 old ReplicaSets besides the live one.
    assert [n for n, _ in rows] == list(range(9, 15))
    assert provider.rollout_history() == rows
    snap = provider.snapshot()
    assert [r.id for r in snap.revisions] == [str(n) for n, _ in reversed(rows)]
    assert [r.change_cause for r in snap.revisions] == [c for _, c in reversed(rows)]
    assert snap.current is not None and snap.current.id == "14"
    assert snap.previous() is not None and snap.previous().id == "13"  # type: ignore[union-attr]


def test_client_dry_run_prints_the_template_the_console_plans(pair: Any) -> None:
    a, b, kubectl_a, _, provider = pair
    _three(a)
    copy_state(a, b)
    out = kubectl_a.run(
        "rollout", "undo", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE, "--dry-run=client"
    )
    assert out.returncode == 0, out.stderr
    plan = provider.plan(None, dry_run=True)
    assert f"{IMAGE}:{plan.to_revision.version}" in out.stdout
    assert plan.to_revision.version == "v1.1.0"
    # The console's dry run went to the API server as dryRun=All and changed nothing.
    sent = b.requests_matching("PATCH", "/deployments/")
    assert len(sent) == 1 and sent[0].query["dryRun"] == ["All"]
    assert deployment(b)["metadata"]["generation"] == deployment(a)["metadata"]["generation"]
    assert any("dryRun=All" in w and "/spec/template" in w for w in plan.warnings)


# --------------------------------------------------------------------------- displayed commands


def _on(command: str, source: Kubectl, target: Kubectl) -> str:
    """The plan's command, pointed at the other server's kubeconfig."""
    assert f"--kubeconfig {source.kubeconfig}" in command, command
    return command.replace(str(source.kubeconfig), str(target.kubeconfig))


def test_the_displayed_rollback_commands_do_what_the_console_did(pair: Any, tmp_path: Path) -> None:
    a, b, kubectl_a, kubectl_b, provider = pair
    _five_with_annotations(a)
    copy_state(a, b)
    plan = provider.plan("3")
    backup_step, undo_step = plan.steps
    assert undo_step.command == (
        f"kubectl --kubeconfig {kubectl_b.kubeconfig} rollout undo deployment/{DEPLOYMENT} "
        f"--to-revision=3 -n {NAMESPACE}"
    )
    # The backup command, as displayed but writing beside the console's file.
    theirs = tmp_path / "kubectl-backup.yaml"
    command = _on(backup_step.command, kubectl_b, kubectl_a).replace(
        str(plan.steps[0].params["path"]), str(theirs)
    )
    assert kubectl_a.shell(command).returncode == 0
    list(provider.execute(plan))
    ours = yaml.safe_load(Path(plan.steps[0].params["path"]).read_text())
    kubectl_copy = yaml.safe_load(theirs.read_text())
    assert ours["spec"] == kubectl_copy["spec"]
    assert ours["metadata"]["annotations"] == kubectl_copy["metadata"]["annotations"]
    assert "status" not in ours and "resourceVersion" not in ours["metadata"]
    # The undo command, verbatim.
    result = kubectl_a.shell(_on(undo_step.command, kubectl_b, kubectl_a))
    assert result.returncode == 0, result.stderr
    assert comparable(deployment(a)) == comparable(deployment(b))


def test_the_displayed_restart_command_does_what_the_console_did(pair: Any) -> None:
    a, b, kubectl_a, kubectl_b, provider = pair
    _three(a)
    copy_state(a, b)
    plan = provider.plan_action("restart", None)
    restart = plan.steps[-1]
    assert restart.command == (
        f"kubectl --kubeconfig {kubectl_b.kubeconfig} rollout restart deployment/{DEPLOYMENT} "
        f"-n {NAMESPACE}"
    )
    list(provider.execute(plan))
    assert kubectl_a.shell(_on(restart.command, kubectl_b, kubectl_a)).returncode == 0

    def without_restart_time(d: dict[str, Any]) -> dict[str, Any]:
        c = comparable(d)
        stamp = c["spec"]["template"]["metadata"]["annotations"].pop(ro.RESTARTED_AT)
        assert ro.parse_time(stamp) is not None
        return c

    assert without_restart_time(deployment(a)) == without_restart_time(deployment(b))
    a.controllers.settle()
    b.controllers.settle()
    assert kubectl_a.history() == kubectl_b.history() == provider.rollout_history()
    assert provider.wait_ready(plan, 10).ready


def test_the_displayed_restore_command_does_what_the_console_did(pair: Any) -> None:
    a, b, kubectl_a, kubectl_b, provider = pair
    _stuck(b)
    rollback = provider.plan(None)
    list(provider.execute(rollback))
    b.controllers.settle()
    saved = Path(rollback.steps[0].params["path"])
    assert saved.is_file()
    copy_state(b, a)
    # The saved manifest is the stuck v1.3.0 Deployment: restoring it puts v1.3.0 back.
    action = next(x for x in provider.actions() if x.id == "restore-manifest")
    assert action.choices == (saved.name,)
    plan = provider.plan_action("restore-manifest", saved.name)
    replace = plan.steps[-1]
    assert replace.command == (
        f"kubectl --kubeconfig {kubectl_b.kubeconfig} replace -f {saved} -n {NAMESPACE}"
    )
    assert plan.to_revision.version == "v1.3.0"
    list(provider.execute(plan))
    result = kubectl_a.shell(_on(replace.command, kubectl_b, kubectl_a))
    assert result.returncode == 0, result.stderr
    assert deployment(a)["spec"] == deployment(b)["spec"]
    assert ro.equal_ignore_hash(
        deployment(b)["spec"]["template"], yaml.safe_load(saved.read_text())["spec"]["template"]
    )


def test_kubectl_rollout_status_agrees_with_wait_ready(pair: Any) -> None:
    a, b, kubectl_a, _, provider = pair
    _stuck(a)
    copy_state(a, b)
    a.cluster.advance(601)
    b.cluster.advance(601)
    a.controllers.settle()
    b.controllers.settle()
    status = kubectl_a.run(
        "rollout", "status", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE, "--timeout=20s"
    )
    assert status.returncode != 0
    assert 'deployment "web" exceeded its progress deadline' in status.stderr
    done, failed, message = provider.rollout_status()
    assert (done, failed) == (False, True)
    assert message in status.stderr
    progressing = kubectl_a.run(
        "rollout", "status", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE, "--timeout=1s"
    )
    assert "exceeded its progress deadline" in progressing.stderr


def test_a_patch_kubectl_would_send_is_what_the_plan_carries(pair: Any) -> None:
    a, b, kubectl_a, _, provider = pair
    _five_with_annotations(a)
    copy_state(a, b)
    plan = provider.plan("2")
    assert (
        kubectl_a.run(
            "rollout", "undo", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE, "--to-revision=2"
        ).returncode
        == 0
    )
    sent = a.requests_matching("PATCH", "/deployments/")[0].json()
    assert json.loads(json.dumps(plan.context["patch"])) == sent


def test_a_kubectl_undo_ignores_and_drops_the_console_lock(pair: Any) -> None:
    """The lock only binds consoles: kubectl's undo replaces the annotations and drops it."""
    a, _, kubectl_a, _, _ = pair
    _three(a)
    provider_a = KubernetesProvider(service(kubectl_a.kubeconfig))
    provider_a.acquire_lock("alice", "bastion-1", 900)
    assert LOCK_ANNOTATION in deployment(a)["metadata"]["annotations"]
    assert (
        kubectl_a.run("rollout", "undo", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE).returncode
        == 0
    )
    assert LOCK_ANNOTATION not in deployment(a)["metadata"]["annotations"]
    provider_a.release_lock("alice", "bastion-1")  # nothing left to release: no error


def test_the_displayed_create_command_restores_a_deleted_deployment(pair: Any) -> None:
    a, b, kubectl_a, kubectl_b, provider = pair
    _three(b)
    restart = provider.plan_action("restart", None)
    list(provider.execute(restart))
    saved = Path(restart.steps[0].params["path"])
    b.cluster.delete("deployments", NAMESPACE, DEPLOYMENT)
    copy_state(b, a)
    plan = provider.plan_action("restore-manifest", saved.name)
    [create] = plan.steps
    assert (
        create.command
        == f"kubectl --kubeconfig {kubectl_b.kubeconfig} create -f {saved} -n {NAMESPACE}"
    )
    list(provider.execute(plan))
    result = kubectl_a.shell(_on(create.command, kubectl_b, kubectl_a))
    assert result.returncode == 0, result.stderr
    assert deployment(a)["spec"] == deployment(b)["spec"]
    assert comparable(deployment(a))["annotations"] == comparable(deployment(b))["annotations"]
