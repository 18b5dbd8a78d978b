"""``[services.kubernetes]``: the Deployment a service is (runbooks 001, 002)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from console.config.bounds import MIN_LOCK_TTL_S
from console.config.reader import Reader


@dataclass(frozen=True)
class KubernetesConfig:
    """A Deployment (runbooks 001, 002).  Credentials: kubeconfig or in-cluster."""

    deployment: str
    namespace: str = "default"
    #: kubeconfig context; "" = the current one.
    context: str = ""
    #: kubeconfig file; None = $KUBECONFIG / ~/.kube/config, or in-cluster config.
    kubeconfig: Path | None = None
    #: Container whose image is "the version" (default: the first).
    container: str = ""
    #: How long another console's lock annotation holds before it may be taken over.
    lock_ttl_s: float = 900.0
    #: What to do about a GitOps controller that would re-apply the broken version:
    #: "auto" (detect it and suspend it as the plan's first step), "warn" (detect it and
    #: say so), "off" (do not look).
    gitops: str = "auto"
    #: Where Argo CD's Applications live (label tracking; the tracking-id annotation
    #: names its own namespace only for apps in other namespaces).
    argocd_namespace: str = "argocd"
    #: The Secret the pods read their DSN from (point-in-time recovery's switch, action
    #: ``pitr``); "" = the one the pod template's ``dsn_env`` variable names (secretKeyRef).
    dsn_secret: str = ""
    #: The key of ``dsn_secret`` holding the DSN; "" = ``[services.database] dsn_env``'s name.
    dsn_secret_key: str = ""


#: The values of ``[services.kubernetes] gitops``.
GITOPS_MODES = ("auto", "warn", "off")


def read_kubernetes(r: Reader) -> KubernetesConfig:
    r.expect(
        "deployment",
        "namespace",
        "context",
        "kubeconfig",
        "container",
        "lock_ttl_s",
        "gitops",
        "argocd_namespace",
        "dsn_secret",
        "dsn_secret_key",
    )
    secret = r.get("dsn_secret", str, "")
    cfg = KubernetesConfig(
        deployment=_dns_name(r, "deployment", r.require("deployment", str)),
        namespace=_dns_name(r, "namespace", r.get("namespace", str, "default")),
        context=r.get("context", str, ""),
        kubeconfig=r.path_value("kubeconfig", must_exist=True),
        container=r.get("container", str, ""),
        lock_ttl_s=r.duration("lock_ttl_s", 900.0, low=MIN_LOCK_TTL_S),
        gitops=_gitops(r),
        argocd_namespace=_dns_name(r, "argocd_namespace", r.get("argocd_namespace", str, "argocd")),
        dsn_secret=_dns_name(r, "dsn_secret", secret) if secret else "",
        dsn_secret_key=_secret_key(r),
    )
    r.done()
    return cfg


def _gitops(r: Reader) -> str:
    value: str = r.get("gitops", str, "auto")
    if value not in GITOPS_MODES:
        raise r.error("gitops", f"must be one of {', '.join(GITOPS_MODES)}, got {value!r}")
    return value


def _secret_key(r: Reader) -> str:
    """A Secret's data key: letters, digits, '-', '_' and '.' (the API's rule)."""
    value: str = r.get("dsn_secret_key", str, "")
    if value and not re.fullmatch(r"[-._a-zA-Z0-9]{1,253}", value):
        raise r.error(
            "dsn_secret_key",
            f"must be a Secret key (letters, digits, '-', '_', '.'), got {value!r}",
        )
    return value


def _dns_name(r: Reader, key: str, value: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", value):
        raise r.error(
            key, f"must be a Kubernetes name (lower-case letters, digits, '-'), got {value!r}"
        )
    return value
