"""The Secret a Deployment reads its DSN from: found, read, copied, patched; never shown.

Point-in-time recovery's switch (``providers.kubernetes.pitr``) writes one key
of one Secret in the Deployment's namespace.  Which one: ``[services.kubernetes]
dsn_secret`` / ``dsn_secret_key`` when set, else the Secret the pod template's
``dsn_env`` variable comes from (``valueFrom.secretKeyRef``).  A value is
decoded only to be compared; nothing here returns it in a message.

The kubectl commands shown for each write are ones an operator can paste: the
values travel through ``$(kubectl get ... -o jsonpath=...)``, never on the
command line as text.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from console.config import ServiceConfig
from providers.base import Conflict, InvalidTarget
from providers.kubernetes import config_refs
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import JSON, Cluster

#: The label on the copies of a previous value the console makes (never deleted by it).
MANAGED_BY = {"app.kubernetes.io/managed-by": "rollback-console"}
_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")


@dataclass(frozen=True)
class SecretRef:
    """One key of one Secret of the Deployment's namespace."""

    name: str
    key: str
    #: How it was found, for the plan ("configured", "env DATABASE_URL of container app").
    how: str

    @property
    def label(self) -> str:
        return f"key {self.key} of Secret {self.name}"


def find(service: ServiceConfig, template: Mapping[str, Any]) -> SecretRef:
    """The Secret key holding the DSN the pods read (``InvalidTarget`` saying why not)."""
    k8s, database = service.kubernetes, service.database
    assert k8s is not None and database is not None
    dsn_env = database.dsn_env
    if k8s.dsn_secret:
        ref = SecretRef(k8s.dsn_secret, k8s.dsn_secret_key or dsn_env, "configured")
        if not any(
            r.kind == "Secret" and r.name == ref.name for r in config_refs.references(template)
        ):
            raise InvalidTarget(
                f"pitr: the pod template of deployment/{k8s.deployment} does not read Secret "
                f"{ref.name} ([services.kubernetes] dsn_secret): a restart would not switch "
                "the application"
            )
        return _checked(ref)
    plain = False
    for container in (template.get("spec") or {}).get("containers") or []:
        for var in container.get("env") or []:
            if var.get("name") != dsn_env:
                continue
            key_ref = ((var.get("valueFrom") or {}).get("secretKeyRef")) or {}
            if key_ref.get("name") and key_ref.get("key"):
                how = f"env {dsn_env} of container {container.get('name', '?')}"
                return _checked(SecretRef(str(key_ref["name"]), str(key_ref["key"]), how))
            plain = plain or "value" in var
    if plain:
        raise InvalidTarget(
            f"pitr: {dsn_env} of deployment/{k8s.deployment} is a plain value in the pod "
            "template, not a Secret: the console does not put a DSN in a pod template; move it "
            "into a Secret (or name one with [services.kubernetes] dsn_secret)"
        )
    raise InvalidTarget(
        f"pitr: deployment/{k8s.deployment} reads {dsn_env} from no Secret key "
        "(env valueFrom.secretKeyRef): name the Secret with [services.kubernetes] dsn_secret "
        "(and dsn_secret_key)"
    )


def _checked(ref: SecretRef) -> SecretRef:
    if not _KEY.fullmatch(ref.key):
        raise InvalidTarget(f"pitr: {ref.key!r} is not a Secret key (Secret {ref.name})")
    return ref


def value_of(secret: Mapping[str, Any], key: str) -> str | None:
    """The decoded value of ``key`` (None when absent or not base64 text)."""
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        return None
    try:
        return base64.b64decode(str(raw), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def encoded(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def copy_name(ref: SecretRef, instance: str) -> str:
    """``SECRET-before-INSTANCE``: where the value before the switch to ``instance`` is kept."""
    return f"{ref.name}-before-{instance}"[:253].rstrip("-.")


class Secrets:
    """Reads and writes of the Deployment namespace's Secrets (bounded calls)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    @property
    def namespace(self) -> str:
        return self.cluster.k8s.namespace

    def get(self, name: str) -> JSON:
        core = self.cluster.clients().core
        return self.cluster.decode(
            self.cluster.call(
                f"read Secret {name} in namespace {self.namespace}",
                core.read_namespaced_secret,
                name,
                self.namespace,
                _preload_content=False,
            )
        )

    def create_copy(self, name: str, key: str, raw: str) -> JSON:
        """A new Opaque Secret holding ``key`` = ``raw`` (already base64), labelled as ours."""
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": self.namespace, "labels": dict(MANAGED_BY)},
            "type": "Opaque",
            "data": {key: raw},
        }
        core = self.cluster.clients().core
        return self.cluster.decode(
            self.cluster.call(
                f"create Secret {name} in namespace {self.namespace}",
                core.create_namespaced_secret,
                self.namespace,
                body,
                _preload_content=False,
            )
        )

    def patch_key(self, name: str, key: str, value: str, resource_version: str) -> JSON:
        """Merge-patch ``key`` to ``value``, guarded by ``resource_version`` (409 if stale)."""
        body = {"metadata": {"resourceVersion": resource_version}, "data": {key: encoded(value)}}
        core = self.cluster.clients().core
        try:
            response = self.cluster.call(
                f"patch Secret {name} in namespace {self.namespace}",
                core.patch_namespaced_secret,
                name,
                self.namespace,
                body,
                _content_type="application/merge-patch+json",
                _preload_content=False,
            )
        except Conflict:
            raise Conflict(
                f"Secret {name} changed while trying to switch it (409 Conflict: someone else "
                "wrote it first): nothing was written; look again before retrying"
            ) from None
        return self.cluster.decode(response)

    # ------------------------------------------------------------------ kubectl

    def _jsonpath(self, name: str, key: str) -> str:
        escaped = key.replace(".", "\\.")
        return self.cluster.kubectl("get", "secret", name, "-o", f"jsonpath={{.data.{escaped}}}")

    def copy_command(self, ref: SecretRef, copy: str) -> str:
        """``kubectl create secret generic COPY --from-literal=KEY="$(… ref's value …)"``."""
        value = f"$({self._jsonpath(ref.name, ref.key)} | base64 -d)"
        create = self.cluster.kubectl("create", "secret", "generic", copy)
        return f'{create} --from-literal={ref.key}="{value}"'

    def patch_command(self, ref: SecretRef, value: str) -> str:
        """``kubectl patch secret NAME --type merge -p '{"data":{KEY:VALUE}}'`` (``value``:
        base64 text or a ``$(…)`` that prints it: the command is put in double quotes)."""
        patch = self.cluster.kubectl("patch", "secret", ref.name, "--type", "merge")
        return f'{patch} -p "{{\\"data\\":{{\\"{ref.key}\\":\\"{value}\\"}}}}"'

    def way_back(self, ref: SecretRef, copy: str) -> str:
        """Put the copied value back and restart: a command line to paste."""
        back = self.patch_command(ref, f"$({self._jsonpath(copy, ref.key)})")
        restart = self.cluster.kubectl("rollout", "restart", f"deployment/{self.cluster.name}")
        return f"{back} && {restart}"


def owners(secret: Mapping[str, Any]) -> str:
    """``SealedSecret/web-db, ExternalSecret/x``: what may write the Secret back ("" none)."""
    found = (secret.get("metadata") or {}).get("ownerReferences") or []
    return ", ".join(f"{o.get('kind', '?')}/{o.get('name', '?')}" for o in found)


def managed(secret: Mapping[str, Any]) -> str:
    """The Secret's managed-by label or Argo CD tracking, when it has one ("" none)."""
    labels = ro.annotations_of(secret) | ((secret.get("metadata") or {}).get("labels") or {})
    for key in ("app.kubernetes.io/managed-by", "argocd.argoproj.io/tracking-id"):
        if labels.get(key):
            return f"{key}={labels[key]}"
    return ""
