"""The GitOps side of the fake cluster: Argo CD Applications, Flux Kustomizations and HelmReleases.

The manifests are shaped as their controllers' CRDs and tools write them
(``argocd app create``, ``flux create kustomization|helmrelease``), and the
labels and annotations those controllers put on the Deployments they manage
(``tracked_by_argocd``, ``tracked_by_flux``, ``managed_by_helm``).

``ArgoSelfHeal`` plays Argo CD's application controller for one Deployment:
while the Application's ``spec.syncPolicy.automated`` has ``selfHeal``, a
Deployment whose image is not the one git names is put back, as Argo CD does a
few seconds after a ``kubectl rollout undo`` (argo-cd#5351).
"""

from __future__ import annotations

import threading
from typing import Any

from tests.k8s_server.server import FakeKubeServer, set_image

ARGOCD_NAMESPACE = "argocd"
FLUX_NAMESPACE = "flux-system"
TRACKING_ID = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL = "app.kubernetes.io/instance"


def application(
    name: str,
    *,
    namespace: str = ARGOCD_NAMESPACE,
    automated: dict[str, Any] | None = None,
    destination_namespace: str = "shop",
    sync_options: list[str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An Argo CD Application (``argocd app create``); ``automated`` None: manual sync."""
    sync_policy: dict[str, Any] = {}
    if automated is not None:
        sync_policy["automated"] = dict(automated)
    if sync_options:
        sync_policy["syncOptions"] = list(sync_options)
    spec: dict[str, Any] = {
        "project": "default",
        "source": {
            "repoURL": "https://git.example.com/shop/deploy.git",
            "path": f"apps/{name}",
            "targetRevision": "main",
        },
        "destination": {
            "server": "https://kubernetes.default.svc",
            "namespace": destination_namespace,
        },
    }
    if sync_policy:
        spec["syncPolicy"] = sync_policy
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": metadata,
        "spec": spec,
        "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}},
    }


def kustomization(
    name: str, *, namespace: str = FLUX_NAMESPACE, suspend: bool | None = None
) -> dict[str, Any]:
    """A Flux Kustomization (``flux create kustomization``)."""
    spec: dict[str, Any] = {
        "interval": "10m",
        "path": "./apps/production",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
    }
    if suspend is not None:
        spec["suspend"] = suspend
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def helmrelease(
    name: str, *, namespace: str = FLUX_NAMESPACE, suspend: bool | None = None
) -> dict[str, Any]:
    """A Flux HelmRelease (``flux create helmrelease``)."""
    spec: dict[str, Any] = {
        "interval": "5m",
        "chart": {
            "spec": {
                "chart": name,
                "sourceRef": {"kind": "HelmRepository", "name": "shop"},
                "version": "1.x",
            }
        },
    }
    if suspend is not None:
        spec["suspend"] = suspend
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def create(server: FakeKubeServer, manifest: dict[str, Any]) -> dict[str, Any]:
    """Create ``manifest`` (its namespace made first when missing)."""
    resource = {
        "Application": "applications",
        "Kustomization": "kustomizations",
        "HelmRelease": "helmreleases",
    }[manifest["kind"]]
    namespace = manifest["metadata"]["namespace"]
    server.ensure_namespace(namespace)
    return server.cluster.create(resource, namespace, manifest)


def _label_and_annotate(
    server: FakeKubeServer,
    namespace: str,
    deployment: str,
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Labels and annotations on the Deployment's metadata, as a controller's apply leaves them."""
    meta: dict[str, Any] = {}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return server.cluster.patch(
        "deployments", namespace, deployment, "application/merge-patch+json", {"metadata": meta}
    )


def tracked_by_argocd(
    server: FakeKubeServer,
    namespace: str,
    deployment: str,
    app: str,
    *,
    label: bool = False,
) -> dict[str, Any]:
    """What Argo CD's sync writes on a Deployment: the tracking-id annotation (default) or,
    with label tracking, ``app.kubernetes.io/instance``."""
    if label:
        return _label_and_annotate(server, namespace, deployment, labels={INSTANCE_LABEL: app})
    return _label_and_annotate(
        server,
        namespace,
        deployment,
        annotations={TRACKING_ID: f"{app}:apps/Deployment:{namespace}/{deployment}"},
    )


def tracked_by_flux(
    server: FakeKubeServer,
    namespace: str,
    deployment: str,
    name: str,
    *,
    kind: str = "kustomize",
    owner_namespace: str = FLUX_NAMESPACE,
) -> dict[str, Any]:
    """The labels kustomize-controller (``kind="kustomize"``) or helm-controller (``"helm"``)
    puts on what it applies."""
    prefix = f"{kind}.toolkit.fluxcd.io"
    labels = {f"{prefix}/name": name, f"{prefix}/namespace": owner_namespace}
    annotations = None
    if kind == "helm":
        annotations = {
            "meta.helm.sh/release-name": f"{owner_namespace}-{name}",
            "meta.helm.sh/release-namespace": namespace,
        }
    return _label_and_annotate(
        server, namespace, deployment, labels=labels, annotations=annotations
    )


def managed_by_helm(
    server: FakeKubeServer, namespace: str, deployment: str, release: str
) -> dict[str, Any]:
    """What ``helm install`` leaves on a Deployment."""
    return _label_and_annotate(
        server,
        namespace,
        deployment,
        labels={"app.kubernetes.io/managed-by": "Helm"},
        annotations={
            "meta.helm.sh/release-name": release,
            "meta.helm.sh/release-namespace": namespace,
        },
    )


class ArgoSelfHeal:
    """Argo CD's self-heal for one Deployment, while its Application asks for it.

    Every ``interval_s``: when the Application's ``spec.syncPolicy.automated.selfHeal``
    is true and the Deployment's first container does not run ``git_image``, the
    image is set back (``syncs`` counts how often).
    """

    def __init__(
        self,
        server: FakeKubeServer,
        app: str,
        namespace: str,
        deployment: str,
        git_image: str,
        *,
        app_namespace: str = ARGOCD_NAMESPACE,
        interval_s: float = 0.2,
    ) -> None:
        self.server = server
        self.app, self.app_namespace = app, app_namespace
        self.namespace, self.deployment = namespace, deployment
        self.git_image = git_image
        self.interval_s = interval_s
        self.syncs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fake-argocd", daemon=True)

    def __enter__(self) -> ArgoSelfHeal:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        cluster = self.server.cluster
        while not self._stop.wait(self.interval_s):
            app = cluster.get("applications", self.app_namespace, self.app)
            automated = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")
            if not isinstance(automated, dict) or not automated.get("selfHeal"):
                continue
            live = cluster.get("deployments", self.namespace, self.deployment)
            image = live["spec"]["template"]["spec"]["containers"][0]["image"]
            if image != self.git_image:
                set_image(self.server, self.namespace, self.deployment, self.git_image)
                self.syncs += 1
