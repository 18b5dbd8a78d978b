"""Pytest fixtures around the fake API server, and real kubectl pointed at it.

Import the fixtures a test module uses: ``from tests.k8s_server.fixtures
import kube_server  # noqa: F401`` provides the ``kube`` fixture.
``need_binary`` skips a test whose tool is missing, naming it, except under
``CI=true`` where a missing tool fails the test: CI must run every comparison.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.config import ErrorRateConfig, KubernetesConfig, ServiceConfig
from tests.k8s_server.server import FakeKubeServer, deployment_manifest, set_image

NAMESPACE = "shop"
DEPLOYMENT = "web"
IMAGE = "registry.example.com/shop/web"


def need_binary(name: str, why: str = "") -> str:
    """The path of ``name``; a missing one skips the test (fails it when CI=true)."""
    found = shutil.which(name)
    if found:
        return found
    reason = f"{name} is not installed" + (f" ({why})" if why else "")
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run this test")
    pytest.skip(reason)


@dataclass
class Kubectl:
    """Real kubectl against one fake server, with its own kubeconfig and cache."""

    kubeconfig: Path
    home: Path
    binary: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env.update(HOME=str(self.home), KUBECACHEDIR=str(self.home / "cache"))
        return env

    def run(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env(),
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def shell(self, command: str) -> subprocess.CompletedProcess[str]:
        """Run a command line as an operator would paste it (it names its own kubeconfig)."""
        return subprocess.run(
            ["bash", "-c", command],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env(),
            stdin=subprocess.DEVNULL,
        )

    def history(
        self, deployment: str = DEPLOYMENT, namespace: str = NAMESPACE
    ) -> list[tuple[int, str]]:
        """``kubectl rollout history`` parsed into (revision, change cause) rows."""
        out = self.run(
            "rollout", "history", f"deployment/{deployment}", "-n", namespace, check=True
        )
        rows = []
        for line in out.stdout.splitlines()[2:]:
            if not line.strip():
                continue
            number, _, cause = line.partition(" ")
            rows.append((int(number), cause.strip()))
        return rows


def start_server(namespace: str = NAMESPACE, seed: int = 1) -> FakeKubeServer:
    server = FakeKubeServer(seed=seed).start()
    server.ensure_namespace(namespace)
    return server


@pytest.fixture(name="kube")
def kube_server() -> Iterator[FakeKubeServer]:
    """A started fake API server with the ``shop`` namespace; controllers run on demand."""
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="kubeconfig")
def kubeconfig_file(kube: FakeKubeServer, tmp_path: Path) -> Path:
    return kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)


@pytest.fixture(name="kubectl")
def kubectl_cli(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    binary = need_binary("kubectl", "kubectl is the oracle for the Kubernetes provider")
    home = tmp_path / "kubectl-home"
    home.mkdir(exist_ok=True)
    return Kubectl(kubeconfig, home, binary)


def service(
    kubeconfig: Path | None,
    *,
    name: str = "web",
    deployment: str = DEPLOYMENT,
    namespace: str = NAMESPACE,
    context: str = "",
    container: str = "",
    ready_timeout_s: float = 30.0,
) -> ServiceConfig:
    return ServiceConfig(
        name=name,
        environment="production",
        provider="kubernetes",
        ready_timeout_s=ready_timeout_s,
        kubernetes=KubernetesConfig(
            deployment=deployment,
            namespace=namespace,
            context=context,
            kubeconfig=kubeconfig,
            container=container,
        ),
        error_rate=ErrorRateConfig(source="prometheus", url="http://127.0.0.1:9", query="up"),
    )


def deploy(
    server: FakeKubeServer,
    versions: Sequence[str],
    *,
    name: str = DEPLOYMENT,
    namespace: str = NAMESPACE,
    causes: bool = True,
    settle: bool = True,
    **manifest: Any,
) -> None:
    """Create ``name`` at ``versions[0]`` and roll out each later version, like a CD pipeline."""
    first, *later = versions
    annotations = dict(manifest.pop("annotations", {}) or {})
    if causes:
        annotations["kubernetes.io/change-cause"] = f"deploy {first}"
    server.cluster.create(
        "deployments",
        namespace,
        deployment_manifest(name, f"{IMAGE}:{first}", annotations=annotations, **manifest),
    )
    if settle:
        server.controllers.settle()
    for version in later:
        set_image(
            server,
            namespace,
            name,
            f"{IMAGE}:{version}",
            change_cause=f"deploy {version}" if causes else None,
        )
        if settle:
            server.controllers.settle()
