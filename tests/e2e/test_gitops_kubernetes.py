"""A Deployment an auto-syncing Argo CD Application manages, rolled back from the CLI.

The console runs as its own process against the fake API server (controllers
running), with Argo CD's self-heal played by ``ArgoSelfHeal``: while the
Application's ``spec.syncPolicy.automated.selfHeal`` is on, the Deployment is
put back to the image git names, as Argo CD does after a ``kubectl rollout
undo`` (argo-cd#5351).  The health URL answers 500 while the broken image
runs.  So a rollback that did not suspend auto-sync really is undone, and
one that did really holds:

* ``rollback --dry-run`` lists the suspension before the undo and changes nothing;
* ``rollback`` suspends auto-sync first (the policy saved on the Application
  and in the journal), rolls back, and the rollback holds;
* ``action web resume-gitops`` restores exactly the saved policy, once git
  names the good release; offered only while something is suspended;
* with ``gitops = "warn"`` nothing is suspended and Argo CD undoes the rollback.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from console.history import read_entries
from providers.kubernetes import rollout as ro
from providers.kubernetes.controllers import SUSPENDED_POLICY, TRACKING_ID
from tests.console_cli import run_console
from tests.k8s_server import FakeKubeServer, gitops, running
from tests.k8s_server.fixtures import DEPLOYMENT, IMAGE, NAMESPACE, deploy, start_server
from tests.signals import FlipServer

pytestmark = pytest.mark.e2e

BAD, GOOD = f"{IMAGE}:v1.3.0", f"{IMAGE}:v1.2.9"
POLICY = {"prune": True, "selfHeal": True}


def image_of(kube: FakeKubeServer) -> str:
    d = kube.cluster.get("deployments", NAMESPACE, DEPLOYMENT)
    return str(ro.template_of(d)["spec"]["containers"][0]["image"])


@dataclass
class World:
    kube: FakeKubeServer
    argocd: gitops.ArgoSelfHeal
    health: FlipServer
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    def configure(self, **k8s: Any) -> None:
        service = {
            "name": "web",
            "environment": "production",
            "provider": "kubernetes",
            "ready_timeout_s": 30,
            "verify_window_s": 1,
            "kubernetes": {
                "deployment": DEPLOYMENT,
                "namespace": NAMESPACE,
                "kubeconfig": str(self.root / "kubeconfig"),
                **k8s,
            },
            "health": [{"url": self.health.url, "timeout_s": 1}],
            "error_rate": {"source": "probe", "interval_s": 0.05, "window_s": 2, "timeout_s": 1},
        }
        console = {
            "operator": "alice",
            "history_file": str(self.root / "rollback-history.md"),
            "state_dir": str(self.root / "state"),
        }
        self.config.write_text(tomli_w.dumps({"console": console, "services": [service]}))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = run_console(self.config, *args, timeout=120)
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        return result

    def image(self) -> str:
        return image_of(self.kube)

    def application(self) -> dict[str, Any]:
        return self.kube.cluster.get("applications", "argocd", "web")

    def entries(self) -> list[Any]:
        path = self.root / "rollback-history.md"
        return read_entries(path) if path.exists() else []


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """v1.3.0 live and failing, deployed by Argo CD from git, which still names v1.3.0."""
    kube = start_server()
    gitops.create(kube, gitops.application("web", automated=POLICY, sync_options=["X=y"]))
    deploy(
        kube,
        ["v1.2.8", "v1.2.9", "v1.3.0"],
        annotations={TRACKING_ID: f"web:apps/Deployment:{NAMESPACE}/{DEPLOYMENT}"},
    )
    kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
    argocd = gitops.ArgoSelfHeal(kube, "web", NAMESPACE, DEPLOYMENT, BAD, interval_s=0.1)
    health = FlipServer(lambda n: (500 if image_of(kube) == BAD else 200, 0.0))
    made = World(kube, argocd, health, tmp_path)
    made.configure()
    try:
        with running(kube), argocd:
            yield made
    finally:
        health.close()
        kube.stop()


def test_dry_run_lists_the_suspension_then_the_rollback_holds_and_resume_restores_it(
    world: World,
) -> None:
    original = world.application()

    dry = world.cli("rollback", "web", "--dry-run", "--reason", "check the plan")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    out = dry.stdout
    suspend = out.index("argocd app set web --sync-policy none")
    undo = out.index("rollout undo deployment/web --to-revision=2")
    assert suspend < undo, out
    assert "Suspend auto-sync of Argo CD Application web (argocd)" in out
    # Issue 14's two lists, after the plan: the image the undo brings back, and who would
    # have put v1.3.0 back (env differences per variable: providers/test_kubernetes_diff.py).
    changes = out.split("What changes:\n", 1)[1].split("Who will undo it:", 1)[0]
    assert f"image web: {BAD} → {GOOD}" in changes, out
    undoers = out.split("Who will undo it:", 1)[1]
    assert "Argo CD Application web (argocd)" in undoers, out
    assert world.application() == original
    assert world.image() == BAD

    # Nothing is suspended yet: resume-gitops is not offered, and refused if asked for.
    listed = world.cli("action", "web", "--list")
    assert "resume-gitops" not in listed.stdout
    early = world.cli("action", "web", "resume-gitops", "--yes", "--reason", "too early")
    assert early.returncode == 2, early.stdout + early.stderr

    done = world.cli("rollback", "web", "--yes", "--reason", "500s after v1.3.0")
    assert done.returncode == 0, done.stdout + done.stderr
    app = world.application()
    assert "automated" not in app["spec"]["syncPolicy"]
    assert app["spec"]["syncPolicy"]["syncOptions"] == ["X=y"]
    assert json.loads(app["metadata"]["annotations"][SUSPENDED_POLICY]) == POLICY
    # Argo CD's self-heal had seconds to act on the rolled-back Deployment: it held.
    time.sleep(1)
    assert world.image() == GOOD and world.argocd.syncs == 0
    # The journal keeps the saved policy with the step; the entry says what was suspended.
    (journal,) = (world.root / "state" / "journal").glob("*.jsonl")
    plans = [
        e["plan"] for e in map(json.loads, journal.read_text().splitlines()) if e["event"] == "plan"
    ]
    assert plans[0]["steps"][0]["op"] == "gitops.suspend"
    assert plans[0]["steps"][0]["params"]["policy"] == POLICY
    (entry,) = world.entries()
    assert "rolled back and verified" in entry.raw
    assert "Argo CD Application web (argocd) suspended" in entry.raw
    assert '{"prune":true,"selfHeal":true}' in entry.raw

    listed = world.cli("action", "web", "--list")
    assert "resume-gitops" in listed.stdout, listed.stdout
    status = world.cli("status", "web")
    assert "auto-sync suspended by rollback-console" in status.stdout, status.stdout

    # The team put v1.2.9 into git; auto-sync comes back with exactly the saved policy.
    world.argocd.git_image = GOOD
    resumed = world.cli("action", "web", "resume-gitops", "--yes", "--reason", "git reverted")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "GitOps auto-sync resumed and verified" in resumed.stdout
    app = world.application()
    assert app["spec"] == original["spec"]
    assert SUSPENDED_POLICY not in (app["metadata"].get("annotations") or {})
    assert world.image() == GOOD
    entries = world.entries()
    assert len(entries) == 2 and "GitOps auto-sync resumed and verified" in entries[-1].raw
    again = world.cli("action", "web", "resume-gitops", "--yes", "--reason", "twice")
    assert again.returncode == 2
    assert "nothing managing deployment/web is suspended by rollback-console" in (
        again.stdout + again.stderr
    )


def test_with_gitops_warn_argocd_undoes_the_rollback(world: World) -> None:
    world.configure(gitops="warn")
    dry = world.cli("rollback", "web", "--dry-run", "--reason", "check")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "Suspend auto-sync" not in dry.stdout
    result = world.cli("rollback", "web", "--yes", "--reason", "500s after v1.3.0")
    assert result.returncode == 1, result.stdout + result.stderr
    assert world.argocd.syncs >= 1
    assert "deployment/web was changed again after the rollback (it now has v1.3.0" in result.stdout
    assert world.image() == BAD
    assert world.application()["spec"]["syncPolicy"]["automated"] == POLICY


def test_a_bad_gitops_value_is_one_line_and_exit_2(world: World) -> None:
    world.configure(gitops="suspend")
    result = world.cli("check-config")
    assert result.returncode == 2
    (line,) = [x for x in (result.stdout + result.stderr).splitlines() if x.strip()]
    assert "services[0].kubernetes.gitops" in line and "auto, warn, off" in line
