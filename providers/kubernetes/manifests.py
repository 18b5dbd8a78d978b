"""Saved manifests: the backup taken before every change, and reading one back to restore.

Before any change the live Deployment is saved as YAML under
``<state_dir>/manifests/<service>/`` (``k8s.backup_manifest``), the way
``kubectl get -o yaml`` prints it but without status, server-set metadata or
the console's lock, so that runbook 001's method 3 (``kubectl replace -f``)
can put it back.  The file is written to a scratch name created anew (never
through a link), fsync'd, renamed into place and read back.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

from console.config import KubernetesConfig
from console.durable import create_fresh, os_reason
from console.model import Plan, Revision, Step, StepKind, utcnow
from providers.base import InvalidTarget, NotFound, ProviderError
from providers.kubernetes import ops
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import JSON, Cluster, short
from providers.kubernetes.lock import LOCK_ANNOTATION

#: Metadata the API server sets, left out of a saved manifest.
_SERVER_SET = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
)


def clean_manifest(deployment: Mapping[str, Any]) -> JSON:
    """The Deployment as a manifest to re-apply: no status, no server-set metadata, no lock."""
    manifest: JSON = json.loads(json.dumps(deployment))
    manifest.pop("status", None)
    meta = manifest.setdefault("metadata", {})
    for key in _SERVER_SET:
        meta.pop(key, None)
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LOCK_ANNOTATION, None)
    manifest.setdefault("apiVersion", "apps/v1")
    manifest.setdefault("kind", "Deployment")
    return manifest


class Manifests:
    """The folder of one service's saved manifests."""

    def __init__(self, k8s: KubernetesConfig, folder: Path) -> None:
        self.k8s = k8s
        self.folder = folder

    def backup_path(self, current: Revision) -> Path:
        """A new file name for the manifest saved before a change away from ``current``."""
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        revision = f"-rev{current.id}" if current.id.isdigit() else ""
        return self.folder / f"{self.k8s.deployment}-{stamp}{revision}.yaml"

    def saved(self) -> list[Path]:
        """The manifests saved for this service, newest first."""
        try:
            files = [p for p in self.folder.glob("*.yaml") if p.is_file()]
        except OSError:
            return []
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)

    def newest(self) -> str:
        return ", ".join(p.name for p in self.saved()[:5]) or "none saved yet"

    def find(self, argument: str) -> Path:
        """A saved manifest named by the operator: a file name in the folder, or a path."""
        candidate = Path(argument).expanduser()
        if not candidate.is_absolute():
            candidate = self.folder / argument
        if not candidate.is_file():
            raise NotFound(
                f"manifest {argument!r} not found in {self.folder} (newest: {self.newest()})"
            )
        return candidate

    def load(self, path: Path) -> JSON:
        """A saved manifest, checked to be this Deployment (``InvalidTarget`` otherwise)."""
        import yaml

        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidTarget(f"cannot read manifest {path}: {short(exc, 200)}") from None
        if not isinstance(loaded, dict) or loaded.get("kind") != "Deployment":
            raise InvalidTarget(f"{path} is not a Deployment manifest")
        meta = loaded.get("metadata") or {}
        if meta.get("name") != self.k8s.deployment:
            raise InvalidTarget(
                f"{path} is the manifest of deployment/{meta.get('name')}, "
                f"not deployment/{self.k8s.deployment}"
            )
        if meta.get("namespace", self.k8s.namespace) != self.k8s.namespace:
            raise InvalidTarget(
                f"{path} is from namespace {meta.get('namespace')}, not {self.k8s.namespace}"
            )
        if not ro.containers_of(ro.template_of(loaded)):
            raise InvalidTarget(f"{path} has no pod template with containers")
        return loaded


class BackupPart:
    """``k8s.backup_manifest``: save the live Deployment before it is changed."""

    ops = frozenset({ops.BACKUP_MANIFEST})

    def __init__(self, cluster: Cluster, manifests: Manifests, service_name: str, label: str):
        self.cluster = cluster
        self.manifests = manifests
        self.service_name = service_name
        #: ``web (production)``.
        self.label = label

    def command(self, params: Mapping[str, Any]) -> str:
        get = self.cluster.kubectl("get", f"deployment/{self.cluster.name}", "-o", "yaml")
        return f"{get} > {shlex.quote(ops.text(params, 'path'))}"

    def step(self, path: Path, environment: str) -> Step:
        params = {"path": str(path)}
        return Step(
            title=(
                f"Save the live manifest of deployment/{self.cluster.name} ({environment}) "
                f"to {path}"
            ),
            command=self.command(params),
            kind=StepKind.BACKUP,
            op=ops.BACKUP_MANIFEST,
            params=params,
        )

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        import yaml

        cluster = self.cluster
        d = cluster.get_deployment()
        path = Path(ops.text(step.params, "path"))
        manifest = clean_manifest(d)
        # Key order as kubectl prints it: apiVersion, kind, metadata, spec.
        ordered = {
            k: manifest[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in manifest
        }
        restore = cluster.kubectl("replace", "-f", str(path))
        header = (
            f"# deployment/{cluster.name} in namespace {cluster.k8s.namespace} "
            f"({self.label}), resourceVersion {d['metadata'].get('resourceVersion')},\n"
            f"# saved by rollback-console at {ro.stamp(utcnow())} before: {plan.summary}\n"
            f"# restore: rollback-console action {self.service_name} {ops.ACTION_RESTORE} "
            f"{path.name}  (or: {restore})\n"
        )
        text = header + yaml.safe_dump(ordered, sort_keys=False, default_flow_style=False)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            temp = path.with_name(f".{path.name}.tmp")
            # Created anew, never through a link; the rename then replaces the name itself.
            with open(create_fresh(temp, 0o600), "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, path)
        except OSError as exc:
            raise ProviderError(
                f"cannot save the manifest backup to {path}: {os_reason(exc)}"
            ) from None
        if self.manifests.load(path).get("spec") != manifest.get("spec"):
            raise ProviderError(f"the manifest saved to {path} does not read back the same")
        yield f"resourceVersion {d['metadata'].get('resourceVersion')}, {len(text)} bytes"
        return f"saved {path}"

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        """Whether the backup file is there (what it holds was checked when it was written)."""
        return Path(ops.text(step.params, "path")).is_file()
