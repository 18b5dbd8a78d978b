"""Who would undo a Kubernetes rollback (Argo CD, Flux, Helm), and what the plan does about it.

Against the fake API server, which serves Argo CD Applications and Flux
Kustomizations / HelmReleases as their CRDs do.  Real kubectl is the oracle
for the patches: the kubectl command a suspension or resumption step shows
(after ``# =``), run on a copy of the cluster, must leave the controller's
object exactly as the console's step left it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.config import DatabaseConfig
from console.db_flow import DatabaseSide
from console.incident import Incident
from console.runner import run_steps
from providers.base import Conflict, Forbidden, InvalidTarget, Unavailable
from providers.kubernetes import KubernetesProvider
from providers.kubernetes import rollout as ro
from providers.kubernetes.controllers import SUSPENDED_POLICY, TRACKING_ID
from providers.kubernetes.gitops import RESUME, SUSPEND
from tests.k8s_server import FakeKubeServer, copy_state, gitops
from tests.k8s_server.fixtures import (
    DEPLOYMENT,
    IMAGE,
    NAMESPACE,
    Kubectl,
    deploy,
    kube_server,  # noqa: F401 - fixture
    need_binary,
    service,
    start_server,
)

POLICY = {"prune": True, "selfHeal": True}
VERSIONS = ["v1.2.8", "v1.2.9", "v1.3.0"]
TRACKED = {TRACKING_ID: f"web:apps/Deployment:{NAMESPACE}/{DEPLOYMENT}"}


def provider_for(
    kube: FakeKubeServer, tmp_path: Path, kubeconfig: Path | None = None, **k8s: Any
) -> KubernetesProvider:
    if kubeconfig is None:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
    svc = service(kubeconfig)
    assert svc.kubernetes is not None
    if k8s:
        svc = dataclasses.replace(svc, kubernetes=dataclasses.replace(svc.kubernetes, **k8s))
    provider = KubernetesProvider(svc, state_dir=tmp_path / "state")
    provider.poll_interval_s = 0.02
    return provider


def argo(kube: FakeKubeServer, automated: dict[str, Any] | None = POLICY) -> None:
    """v1.3.0 live, deployed by an Argo CD Application (annotation tracking from the start)."""
    gitops.create(kube, gitops.application("web", automated=automated, sync_options=["X=y"]))
    deploy(kube, VERSIONS, annotations=TRACKED)


def application(kube: FakeKubeServer, name: str = "web", namespace: str = "argocd") -> Any:
    return kube.cluster.get("applications", namespace, name)


def image(kube: FakeKubeServer) -> str:
    d = kube.cluster.get("deployments", NAMESPACE, DEPLOYMENT)
    return str(ro.template_of(d)["spec"]["containers"][0]["image"])


def run(provider: KubernetesProvider, plan: Any, indices: list[int] | None = None) -> list[Any]:
    return list(run_steps(plan, provider.parts(), indices))


# --------------------------------------------------------------------------- planning


def test_an_auto_syncing_argocd_application_is_suspended_first(
    kube: FakeKubeServer, tmp_path: Path
) -> None:
    argo(kube)
    provider = provider_for(kube, tmp_path)
    plan = provider.plan(None)
    assert [s.op for s in plan.steps] == [SUSPEND, "k8s.backup_manifest", "k8s.undo"]
    suspend = plan.steps[0]
    assert dict(suspend.params) == {
        "controller": "argocd",
        "name": "web",
        "namespace": "argocd",
        "uid": application(kube)["metadata"]["uid"],
        "policy": POLICY,
    }
    kubeconfig = provider.k8s.kubeconfig
    assert suspend.command == (
        "argocd app set web --sync-policy none  # = kubectl --kubeconfig "
        f"{kubeconfig} patch applications.argoproj.io web --type json -p "
        """'[{"op":"remove","path":"/spec/syncPolicy/automated"}]' -n argocd"""
    )
    (line,) = plan.undone_by
    assert line.startswith("Argo CD Application web (argocd) auto-syncs from git: step 1 suspends")
    assert '{"prune":true,"selfHeal":true}' in line
    assert "also if the rollback fails" in line
    assert "`rollback-console action web resume-gitops`" in line
    # Planning changed nothing.
    assert application(kube)["spec"]["syncPolicy"]["automated"] == POLICY


def test_label_tracking_apps_in_other_namespaces_and_a_label_that_is_not_argocd(
    kube: FakeKubeServer, tmp_path: Path
) -> None:
    deploy(kube, VERSIONS)
    # Label tracking: app.kubernetes.io/instance names an Application in argocd_namespace.
    gitops.create(kube, gitops.application("web", namespace="gitops", automated={}))
    gitops.tracked_by_argocd(kube, NAMESPACE, DEPLOYMENT, "web", label=True)
    plan = provider_for(kube, tmp_path, argocd_namespace="gitops").plan(None)
    assert plan.steps[0].op == SUSPEND
    assert plan.steps[0].params["namespace"] == "gitops"
    assert plan.steps[0].command.startswith("argocd app set web --sync-policy none  # = ")
    # The same label with no such Application: Helm charts set it too; nothing to say.
    plain = provider_for(kube, tmp_path).plan(None)
    assert [s.op for s in plain.steps] == ["k8s.backup_manifest", "k8s.undo"]
    assert plain.undone_by == ()
    # An Application outside Argo CD's namespace: the tracking id says NS_APP.
    gitops.create(kube, gitops.application("shop-web", namespace="team-a", automated=POLICY))
    kube.cluster.patch(
        "deployments",
        NAMESPACE,
        DEPLOYMENT,
        "application/merge-patch+json",
        {
            "metadata": {
                "annotations": {
                    TRACKING_ID: f"team-a_shop-web:apps/Deployment:{NAMESPACE}/{DEPLOYMENT}"
                }
            }
        },
    )
    other = provider_for(kube, tmp_path).plan(None)
    assert other.steps[0].params["namespace"] == "team-a"
    assert other.steps[0].command.startswith("argocd app set team-a/shop-web --sync-policy none")
    # A tracking id copied from another resource is not Argo CD's mark on this one.
    kube.cluster.patch(
        "deployments",
        NAMESPACE,
        DEPLOYMENT,
        "application/merge-patch+json",
        {
            "metadata": {
                "annotations": {TRACKING_ID: "web:apps/Deployment:shop/api"},
                "labels": None,
            }
        },
    )
    assert provider_for(kube, tmp_path).plan(None).steps[0].op != SUSPEND


def test_flux_kustomizations_and_helmreleases_are_suspended_helm_is_named(
    kube: FakeKubeServer, tmp_path: Path
) -> None:
    deploy(kube, VERSIONS)
    gitops.create(kube, gitops.kustomization("apps"))
    gitops.create(kube, gitops.helmrelease("web"))
    gitops.tracked_by_flux(kube, NAMESPACE, DEPLOYMENT, "apps")
    gitops.tracked_by_flux(kube, NAMESPACE, DEPLOYMENT, "web", kind="helm")
    provider = provider_for(kube, tmp_path)
    plan = provider.plan(None)
    assert [s.op for s in plan.steps][:2] == [SUSPEND, SUSPEND]
    kubeconfig = provider.k8s.kubeconfig
    assert plan.steps[0].command == (
        f"flux --kubeconfig {kubeconfig} suspend kustomization apps -n flux-system  # = "
        f"kubectl --kubeconfig {kubeconfig} patch kustomizations.kustomize.toolkit.fluxcd.io "
        """apps --type merge -p '{"spec":{"suspend":true}}' -n flux-system"""
    )
    assert plan.steps[1].command.startswith(
        f"flux --kubeconfig {kubeconfig} suspend helmrelease web -n flux-system  # = "
    )
    assert [line.split(":")[0] for line in plan.undone_by] == [
        "Flux Kustomization apps (flux-system) re-applies git every 10m",
        "Flux HelmRelease web (flux-system) re-applies git every 5m",
    ]
    # A release installed by plain Helm: named, with what undoes the rollback; nothing to suspend.
    gitops.managed_by_helm(kube, NAMESPACE, DEPLOYMENT, "shop-web")
    kube.cluster.patch(
        "deployments",
        NAMESPACE,
        DEPLOYMENT,
        "application/merge-patch+json",
        {"metadata": {"labels": None}},
    )
    helm = provider_for(kube, tmp_path).plan(None)
    assert [s.op for s in helm.steps] == ["k8s.backup_manifest", "k8s.undo"]
    (line,) = helm.undone_by
    assert line.startswith("Helm release shop-web (namespace shop) manages deployment/web")
    assert "`helm upgrade shop-web` re-applies the chart" in line


def test_gitops_warn_says_so_and_off_does_not_look(kube: FakeKubeServer, tmp_path: Path) -> None:
    argo(kube)
    warn = provider_for(kube, tmp_path, gitops="warn").plan(None)
    assert [s.op for s in warn.steps] == ["k8s.backup_manifest", "k8s.undo"]
    (line,) = warn.undone_by
    assert 'gitops = "warn"' in line and "will undo the rollback" in line
    assert "argocd app set web --sync-policy none" in line
    before = len(kube.requests_matching("GET", r"^/apis/argoproj\.io/"))
    off = provider_for(kube, tmp_path, gitops="off").plan(None)
    assert [s.op for s in off.steps] == ["k8s.backup_manifest", "k8s.undo"]
    assert off.undone_by == ()
    assert len(kube.requests_matching("GET", r"^/apis/argoproj\.io/")) == before


def test_manual_sync_and_an_unreadable_application_are_said_not_suspended(
    kube: FakeKubeServer, tmp_path: Path
) -> None:
    argo(kube, automated=None)
    plan = provider_for(kube, tmp_path).plan(None)
    assert plan.steps[0].op != SUSPEND
    assert plan.undone_by == (
        "Argo CD Application web (argocd) manages deployment/web with manual sync: the next "
        "sync of it undoes the rollback",
    )
    kube.forbid("get", "applications", namespace="argocd", name="web")
    unread = provider_for(kube, tmp_path).plan(None)
    assert unread.steps[0].op != SUSPEND
    (line,) = unread.undone_by
    assert "which cannot be read (not allowed to read applications.argoproj.io argocd/web" in line
    assert "suspend it by hand: `argocd app set web --sync-policy none" in line


# --------------------------------------------------------------------------- kubectl as oracle


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[FakeKubeServer, FakeKubeServer, Kubectl, Kubectl]]:
    """Two servers: ``a`` for kubectl, ``b`` for the console."""
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
    try:
        yield a, b, kubectl_a, kubectl_b
    finally:
        a.stop()
        b.stop()


def kubectl_part(command: str, source: Kubectl, target: Kubectl) -> str:
    """The kubectl command a step shows after ``# =``, pointed at the other server."""
    tool, sep, kubectl = command.partition("  # = ")
    assert sep and tool and kubectl.startswith("kubectl "), command
    assert f"--kubeconfig {source.kubeconfig}" in kubectl, command
    return kubectl.replace(str(source.kubeconfig), str(target.kubeconfig))


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    return {"spec": obj["spec"], "generation": obj["metadata"]["generation"]}


@pytest.mark.parametrize(
    ("kind", "resource", "namespace", "name"),
    [
        ("argocd", "applications", "argocd", "web"),
        ("kustomize", "kustomizations", "flux-system", "apps"),
        ("helm", "helmreleases", "flux-system", "web"),
    ],
)
def test_suspend_and_resume_do_what_the_displayed_kubectl_patch_does(
    pair: tuple[FakeKubeServer, FakeKubeServer, Kubectl, Kubectl],
    tmp_path: Path,
    kind: str,
    resource: str,
    namespace: str,
    name: str,
) -> None:
    a, b, kubectl_a, kubectl_b = pair
    if kind == "argocd":
        gitops.create(a, gitops.application(name, automated=POLICY, sync_options=["X=y"]))
        deploy(a, VERSIONS, annotations=TRACKED)
    elif kind == "kustomize":
        gitops.create(a, gitops.kustomization(name))
        deploy(a, VERSIONS)
        gitops.tracked_by_flux(a, NAMESPACE, DEPLOYMENT, name)
    else:
        gitops.create(a, gitops.helmrelease(name))
        deploy(a, VERSIONS)
        gitops.tracked_by_flux(a, NAMESPACE, DEPLOYMENT, name, kind="helm")
    copy_state(a, b)
    original = b.cluster.get(resource, namespace, name)
    provider = provider_for(b, tmp_path, kubectl_b.kubeconfig)
    plan = provider.plan(None)
    suspend = plan.steps[0]
    assert suspend.op == SUSPEND
    assert provider.parts()[0].took_effect(suspend, plan) is False
    run(provider, plan)
    result = kubectl_a.shell(kubectl_part(suspend.command, kubectl_b, kubectl_a))
    assert result.returncode == 0, result.stderr
    ours, theirs = (
        b.cluster.get(resource, namespace, name),
        a.cluster.get(resource, namespace, name),
    )
    assert comparable(ours) == comparable(theirs)
    saved = json.loads(ours["metadata"]["annotations"][SUSPENDED_POLICY])
    assert saved == (POLICY if kind == "argocd" else False)
    assert provider.parts()[0].took_effect(suspend, plan) is True
    assert image(b) == f"{IMAGE}:v1.2.9"
    # The tracking marks survive the undo, so the console still finds what it suspended.
    assert [x.id for x in provider.actions()][-1] == "resume-gitops"
    resume_plan = provider.plan_action("resume-gitops", None)
    (resume,) = resume_plan.steps
    assert resume.op == RESUME and resume.params["policy"] == saved
    assert provider.parts()[0].took_effect(resume, resume_plan) is False
    run(provider, resume_plan)
    assert provider.parts()[0].took_effect(resume, resume_plan) is True
    result = kubectl_a.shell(kubectl_part(resume.command, kubectl_b, kubectl_a))
    assert result.returncode == 0, result.stderr
    ours, theirs = (
        b.cluster.get(resource, namespace, name),
        a.cluster.get(resource, namespace, name),
    )
    assert ours["spec"] == theirs["spec"]
    if kind == "argocd":
        # Exactly the saved policy, and the spec as it was before the suspension.
        assert ours["spec"] == original["spec"]
        assert resume.command.startswith(
            "argocd app set web --sync-policy automated --auto-prune --self-heal  # = "
        )
    else:
        assert ours["spec"] == {**original["spec"], "suspend": False}
    assert SUSPENDED_POLICY not in (ours["metadata"].get("annotations") or {})
    assert "resume-gitops" not in [x.id for x in provider.actions()]


# --------------------------------------------------------------------------- running


def test_the_suspension_stays_when_the_switch_fails(kube: FakeKubeServer, tmp_path: Path) -> None:
    argo(kube)
    provider = provider_for(kube, tmp_path)
    plan = provider.plan(None)
    kube.forbid("patch", "deployments", namespace=NAMESPACE, name=DEPLOYMENT)
    with pytest.raises(Forbidden):
        run(provider, plan)
    assert image(kube) == f"{IMAGE}:v1.3.0"
    app = application(kube)
    assert "automated" not in app["spec"]["syncPolicy"]
    assert json.loads(app["metadata"]["annotations"][SUSPENDED_POLICY]) == POLICY
    # Planned again (a retry, a resume): nothing more to suspend, and it says so.
    again = provider.plan(None)
    assert again.steps[0].op != SUSPEND
    assert again.undone_by[0].startswith(
        "Argo CD Application web (argocd) is already suspended by rollback-console"
    )
    assert "resume-gitops" in [x.id for x in provider.actions()]
    assert any("auto-sync suspended by rollback-console" in n for n in provider.snapshot().notes)


def test_a_refused_suspension_stops_the_plan_before_anything_changes(
    kube: FakeKubeServer, tmp_path: Path
) -> None:
    argo(kube)
    provider = provider_for(kube, tmp_path)
    kube.forbid("patch", "applications", namespace="argocd", name="web")
    dry = provider.plan(None, dry_run=True)
    refused = [w for w in dry.warnings if w.startswith("Dry run: step 1 (Argo CD Application web")]
    assert refused and "not allowed to dry-run step 1" in refused[0]
    plan = provider.plan(None)
    with pytest.raises(Forbidden):
        run(provider, plan)
    assert image(kube) == f"{IMAGE}:v1.3.0"
    assert application(kube)["spec"]["syncPolicy"]["automated"] == POLICY


def test_a_dry_run_sends_the_suspension_with_dry_run_all(
    kube: FakeKubeServer, tmp_path: Path
) -> None:
    argo(kube)
    provider = provider_for(kube, tmp_path)
    plan = provider.plan(None, dry_run=True)
    patches = kube.requests_matching("PATCH", r"/applications/web$")
    assert [p.query.get("dryRun") for p in patches] == [["All"]]
    assert not [w for w in plan.warnings if w.startswith("Dry run: step")]
    assert application(kube)["spec"]["syncPolicy"]["automated"] == POLICY


def test_the_step_reads_the_application_again(kube: FakeKubeServer, tmp_path: Path) -> None:
    argo(kube)
    provider = provider_for(kube, tmp_path)
    plan = provider.plan(None)
    # Changed since the plan: the live policy is the one saved (and restored later).
    kube.cluster.patch(
        "applications",
        "argocd",
        "web",
        "application/merge-patch+json",
        {"spec": {"syncPolicy": {"automated": {"prune": False}}}},
    )
    events = run(provider, plan, [0])
    assert any("changed since the plan" in e.message for e in events)
    saved = application(kube)["metadata"]["annotations"][SUSPENDED_POLICY]
    assert json.loads(saved) == {"prune": False, "selfHeal": True}
    # Deleted and created again since the plan: refused.
    kube.cluster.delete("applications", "argocd", "web")
    gitops.create(kube, gitops.application("web", automated=POLICY))
    with pytest.raises(Conflict, match="deleted and re-created"):
        run(provider, plan, [0])


def test_a_patch_without_an_answer_is_read_back(kube: FakeKubeServer, tmp_path: Path) -> None:
    argo(kube)
    provider = provider_for(kube, tmp_path)
    plan = provider.plan(None)
    kube.fail(r"/applications/web$", 503, method="PATCH")
    with pytest.raises(
        Unavailable, match="unchanged when read again: the suspension was not applied"
    ):
        run(provider, plan, [0])
    assert application(kube)["spec"]["syncPolicy"]["automated"] == POLICY


def test_resume_gitops_only_when_the_console_suspended_something(
    kube: FakeKubeServer, tmp_path: Path
) -> None:
    argo(kube)
    provider = provider_for(kube, tmp_path)
    assert "resume-gitops" not in [x.id for x in provider.actions()]
    with pytest.raises(InvalidTarget, match="nothing managing deployment/web is suspended"):
        provider.plan_action("resume-gitops", None)
    # Suspended by someone else (no saved policy): not the console's to resume.
    kube.cluster.patch(
        "applications",
        "argocd",
        "web",
        "application/json-patch+json",
        [{"op": "remove", "path": "/spec/syncPolicy/automated"}],
    )
    assert "resume-gitops" not in [x.id for x in provider.actions()]


def test_the_undo_keeps_argocds_tracking_id(kube: FakeKubeServer, tmp_path: Path) -> None:
    """Adopted by Argo CD after revision 2 was created: that ReplicaSet has no tracking id,
    and kubectl's undo would drop it from the Deployment; the console keeps it."""
    gitops.create(kube, gitops.application("web", automated=POLICY))
    deploy(kube, VERSIONS)
    kube.cluster.patch(
        "deployments",
        NAMESPACE,
        DEPLOYMENT,
        "application/merge-patch+json",
        {"metadata": {"annotations": TRACKED}},
    )
    provider = provider_for(kube, tmp_path)
    run(provider, provider.plan(None))
    live = kube.cluster.get("deployments", NAMESPACE, DEPLOYMENT)
    assert live["metadata"]["annotations"][TRACKING_ID] == TRACKED[TRACKING_ID]
    assert image(kube) == f"{IMAGE}:v1.2.9"


def test_the_suspension_stays_first_before_the_database_backup(
    kube: FakeKubeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service with a database: the backup comes first among the database steps, but a
    controller re-syncing while it runs would undo the rollback as surely: suspend first."""
    argo(kube)
    provider = provider_for(kube, tmp_path)
    svc = dataclasses.replace(
        provider.service, database=DatabaseConfig(dsn_env="APP_DSN", migrations="none")
    )
    monkeypatch.setenv("APP_DSN", "postgresql://app@127.0.0.1:1/app")
    incident = Incident(svc, "alice", tmp_path / "state")
    side = DatabaseSide(svc, incident, tmp_path / "state")
    plan = side.extend(provider.plan(None))
    assert [s.op for s in plan.steps] == [
        SUSPEND,
        side.provider.BACKUP_OP,
        "k8s.backup_manifest",
        "k8s.undo",
    ]
    assert plan.undone_by[0].split(": ")[1].startswith("step 1 suspends it")
