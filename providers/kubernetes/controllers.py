"""Who would undo a rollback: the GitOps controllers and Helm releases managing the Deployment.

A Deployment applied by Argo CD, Flux or Helm carries their marks, and an
auto-syncing controller puts back what git says a few minutes after a
``kubectl rollout undo`` (argo-cd#5351).  This module reads the marks and the
controllers' objects (no writes; ``gitops`` suspends and resumes them):

* Argo CD: the annotation ``argocd.argoproj.io/tracking-id``
  (``APP:GROUP/KIND:NAMESPACE/NAME``; ``NS_APP`` for an Application outside
  Argo CD's namespace) naming this Deployment, or with label tracking the label
  ``app.kubernetes.io/instance`` naming an Application in
  ``[services.kubernetes] argocd_namespace``.  It re-applies git while
  ``spec.syncPolicy.automated`` is set.
* Flux: the labels ``kustomize.toolkit.fluxcd.io/name`` + ``/namespace``
  (a Kustomization) or ``helm.toolkit.fluxcd.io/name`` + ``/namespace`` (a
  HelmRelease).  They re-apply unless ``spec.suspend`` is true.
* Helm: the annotation ``meta.helm.sh/release-name``: nothing runs by itself,
  but the next ``helm upgrade`` re-applies the chart.

What the console suspended carries the annotation ``SUSPENDED_POLICY``: the
JSON of the field it changed, as it was (Argo CD: the ``automated`` object;
Flux: ``spec.suspend``, ``false``).  It is the record ``resume-gitops``
restores from: it lives on the controller's object, so any console on any
bastion sees it, and it goes away when the policy is restored.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from providers.base import NotFound, ProviderError
from providers.kubernetes.client import JSON, Cluster

#: On a controller object the console suspended: the JSON of what it changed, as it was.
SUSPENDED_POLICY = "rollback-console.io/suspended-policy"
TRACKING_ID = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL = "app.kubernetes.io/instance"
HELM_RELEASE = "meta.helm.sh/release-name"
HELM_NAMESPACE = "meta.helm.sh/release-namespace"


@dataclass(frozen=True)
class Kind:
    """A controller's object type: where it is served and what its tools call it."""

    key: str
    api_version: str
    plural: str
    title: str
    #: ``flux suspend KIND`` (Flux kinds only).
    flux: str = ""

    @property
    def resource(self) -> str:
        """``applications.argoproj.io``: how kubectl names it unambiguously."""
        return f"{self.plural}.{self.api_version.split('/')[0]}"

    @property
    def argocd(self) -> bool:
        return self.key == "argocd"


ARGOCD = Kind("argocd", "argoproj.io/v1alpha1", "applications", "Argo CD Application")
KUSTOMIZATION = Kind(
    "kustomization",
    "kustomize.toolkit.fluxcd.io/v1",
    "kustomizations",
    "Flux Kustomization",
    flux="kustomization",
)
HELMRELEASE = Kind(
    "helmrelease",
    "helm.toolkit.fluxcd.io/v2",
    "helmreleases",
    "Flux HelmRelease",
    flux="helmrelease",
)
KINDS: dict[str, Kind] = {k.key: k for k in (ARGOCD, KUSTOMIZATION, HELMRELEASE)}
_FLUX_LABELS = (
    (KUSTOMIZATION, "kustomize.toolkit.fluxcd.io"),
    (HELMRELEASE, "helm.toolkit.fluxcd.io"),
)


@dataclass(frozen=True)
class Controller:
    """One controller object managing the Deployment, as read now."""

    kind: Kind
    name: str
    namespace: str
    #: How the Deployment names it ("annotation argocd.argoproj.io/tracking-id").
    how: str
    #: The object (None when it could not be read: ``error`` says why).
    obj: JSON | None = None
    error: str = ""

    @property
    def label(self) -> str:
        """``Argo CD Application web (argocd)``."""
        return f"{self.kind.title} {self.name} ({self.namespace})"

    @property
    def uid(self) -> str:
        return str(((self.obj or {}).get("metadata") or {}).get("uid") or "")

    @property
    def policy(self) -> Any:
        """What the console would change, as it is now: Argo CD's ``automated`` (None: off),
        Flux's ``spec.suspend`` (False when absent)."""
        return policy_of(self.kind, self.obj or {})

    @property
    def active(self) -> bool:
        """Whether it re-applies git by itself now (auto-sync on; not suspended)."""
        return self.obj is not None and is_active(self.kind, self.obj)

    @property
    def saved(self) -> str | None:
        """The policy the console saved when it suspended this (None: not suspended by it)."""
        return saved_policy(self.obj or {})


def policy_of(kind: Kind, obj: Mapping[str, Any]) -> Any:
    spec = obj.get("spec") or {}
    if kind.argocd:
        return (spec.get("syncPolicy") or {}).get("automated")
    return bool(spec.get("suspend", False))


def is_active(kind: Kind, obj: Mapping[str, Any]) -> bool:
    """Auto-sync on (Argo CD), not suspended (Flux)."""
    policy = policy_of(kind, obj)
    return policy is not None if kind.argocd else policy is not True


def saved_policy(obj: Mapping[str, Any]) -> str | None:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(SUSPENDED_POLICY)
    return str(value) if value is not None else None


def compact(value: Any) -> str:
    """JSON as the annotations, commands and messages show it: ``{"prune":true}``."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Found:
    """What manages the Deployment: controller objects, and lines about what cannot be read."""

    controllers: tuple[Controller, ...] = ()
    #: Human lines: Helm releases (nothing to suspend), unreadable controllers.
    notes: tuple[str, ...] = ()


def marks(deployment: Mapping[str, Any], argocd_namespace: str) -> list[tuple[Kind, str, str, str]]:
    """(kind, name, namespace, how) of every controller the Deployment's metadata names (no I/O)."""
    meta = deployment.get("metadata") or {}
    annotations, labels = meta.get("annotations") or {}, meta.get("labels") or {}
    found: list[tuple[Kind, str, str, str]] = []
    tracking = str(annotations.get(TRACKING_ID) or "")
    own = f"apps/Deployment:{meta.get('namespace', '')}/{meta.get('name', '')}"
    if tracking:
        app, _, resource = tracking.partition(":")
        # Argo CD ignores (and so does the console) an annotation copied onto
        # another object: the tracking id names the resource it was written on.
        if app and resource == own:
            namespace, name = _app_ref(app, argocd_namespace)
            found.append((ARGOCD, name, namespace, f"annotation {TRACKING_ID}"))
    elif labels.get(INSTANCE_LABEL):
        namespace, name = _app_ref(str(labels[INSTANCE_LABEL]), argocd_namespace)
        found.append((ARGOCD, name, namespace, f"label {INSTANCE_LABEL}"))
    for kind, prefix in _FLUX_LABELS:
        owner, where = labels.get(f"{prefix}/name"), labels.get(f"{prefix}/namespace")
        if owner and where:
            found.append((kind, str(owner), str(where), f"labels {prefix}/name, /namespace"))
    return found


def _app_ref(app: str, argocd_namespace: str) -> tuple[str, str]:
    """(namespace, name) of an Argo CD app reference: ``web`` or ``team-a_web`` (apps in
    any namespace; ``_`` is never part of a Kubernetes name)."""
    namespace, sep, name = app.partition("_")
    return (namespace, name) if sep else (argocd_namespace, app)


def read(cluster: Cluster, deployment: Mapping[str, Any], argocd_namespace: str) -> Found:
    """The controllers managing ``deployment``, each read now, and the Helm release's note.

    An Application named only by the label ``app.kubernetes.io/instance``
    that does not exist is no Argo CD at all (Helm charts set that label too).
    Any other controller that cannot be read is a note saying so: the plan
    goes on, and the operator is told to look.
    """
    controllers: list[Controller] = []
    notes: list[str] = []
    for kind, name, namespace, how in marks(deployment, argocd_namespace):
        try:
            obj = cluster.get_custom(kind.api_version, kind.plural, namespace, name)
        except NotFound as err:
            if how.startswith("label ") and kind.argocd:
                continue
            notes.append(
                f"deployment/{cluster.name} names {kind.title} {name} ({namespace}) in its "
                f"{how}, which cannot be found ({err}): if a controller still manages it, "
                "it may undo the rollback"
            )
            continue
        except ProviderError as err:
            controllers.append(Controller(kind, name, namespace, how, None, str(err)))
            continue
        controllers.append(Controller(kind, name, namespace, how, obj))
    meta = deployment.get("metadata") or {}
    release = str((meta.get("annotations") or {}).get(HELM_RELEASE) or "")
    if release and not any(c.kind is HELMRELEASE for c in controllers):
        where = str((meta.get("annotations") or {}).get(HELM_NAMESPACE) or cluster.k8s.namespace)
        notes.append(
            f"Helm release {release} (namespace {where}) manages deployment/{cluster.name}: "
            f"the next `helm upgrade {release}` re-applies the chart and the image it names, "
            "undoing this rollback; nothing runs it by itself, so nothing is suspended "
            f"(put the version back in the chart's values, or `helm rollback {release}`)"
        )
    return Found(tuple(controllers), tuple(notes))


# --------------------------------------------------------------------------- commands


def _app(name: str, namespace: str, argocd_namespace: str) -> str:
    """How ``argocd`` names an Application: ``web``, or ``team-a/web`` outside its namespace."""
    return name if namespace == argocd_namespace else f"{namespace}/{name}"


def suspend_patch(kind: Kind) -> tuple[str, Any]:
    """(``--type``, patch) of the kubectl command that suspends ``kind``."""
    if kind.argocd:
        return "json", [{"op": "remove", "path": "/spec/syncPolicy/automated"}]
    return "merge", {"spec": {"suspend": True}}


def resume_patch(kind: Kind, policy: Any) -> tuple[str, Any]:
    """(``--type``, patch) of the kubectl command that restores ``policy``."""
    if kind.argocd:
        return "json", [{"op": "add", "path": "/spec/syncPolicy/automated", "value": policy}]
    return "merge", {"spec": {"suspend": policy}}


def kubectl_patch(
    cluster: Cluster, kind: Kind, name: str, namespace: str, patch: tuple[str, Any]
) -> str:
    """``kubectl patch applications.argoproj.io web -n argocd --type json -p '[...]'``."""
    kind_of_patch, body = patch
    return cluster.kubectl(
        "patch",
        kind.resource,
        name,
        "--type",
        kind_of_patch,
        "-p",
        compact(body),
        namespace=namespace,
    )


def suspend_command(cluster: Cluster, kind: Kind, name: str, namespace: str) -> str:
    """The tool's own command, then (``# =``) the kubectl patch the console's equals."""
    if kind.argocd:
        app = _app(name, namespace, cluster.k8s.argocd_namespace)
        tool = shlex.join(["argocd", "app", "set", app, "--sync-policy", "none"])
    else:
        tool = cluster.tool("flux", "suspend", kind.flux, name, namespace=namespace)
    return f"{tool}  # = {kubectl_patch(cluster, kind, name, namespace, suspend_patch(kind))}"


def resume_command(cluster: Cluster, kind: Kind, name: str, namespace: str, policy: Any) -> str:
    """The tool's own command restoring ``policy``, then the equal kubectl patch."""
    if kind.argocd:
        flags = ["--sync-policy", "automated"]
        given = policy if isinstance(policy, dict) else {}
        for key, flag in (
            ("prune", "--auto-prune"),
            ("selfHeal", "--self-heal"),
            ("allowEmpty", "--allow-empty"),
        ):
            if given.get(key):
                flags.append(flag)
        app = _app(name, namespace, cluster.k8s.argocd_namespace)
        tool = shlex.join(["argocd", "app", "set", app, *flags])
    else:
        tool = cluster.tool("flux", "resume", kind.flux, name, namespace=namespace)
    patch = resume_patch(kind, policy)
    return f"{tool}  # = {kubectl_patch(cluster, kind, name, namespace, patch)}"
