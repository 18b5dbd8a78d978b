"""ConfigMaps and Secrets a pod template refers to: what a rollback leaves as they are.

``kubectl rollout undo`` puts back the old pod template, never the ConfigMaps
and Secrets it reads: the rolled-back code runs on today's config.  So for
each one the target refers to (env ``valueFrom``, ``envFrom``, volumes,
projected volumes, ``imagePullSecrets``) one line says so, and whether it was
modified after the target revision was created: the latest
``metadata.managedFields[].time`` against the target ReplicaSet's
``creationTimestamp`` ("modification time unknown" without managedFields);
or that it is missing, or lacks a key the target reads.  Of a Secret only its
metadata and the names of its keys are kept: its data is dropped as soon as it
is decoded, and never shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from console.model import Difference
from providers.base import Forbidden, NotFound
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import Cluster

#: The note of every ConfigMap and Secret line: what operators forget at 02:00.
NOT_ROLLED_BACK = "not rolled back with the Deployment"
MISSING = "missing: the target refers to it but it does not exist"
UNKNOWN_TIME = "modification time unknown"


@dataclass
class Reference:
    """One ConfigMap or Secret a pod template refers to, and how."""

    kind: str
    name: str
    #: Every reference to it is optional (pods start without it).
    optional: bool = True
    #: Keys the template reads from it; True when some reference to that key is required.
    keys: dict[str, bool] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


def references(template: Mapping[str, Any]) -> tuple[Reference, ...]:
    """Every ConfigMap and Secret ``template`` refers to, in the order it first names them."""
    found: dict[tuple[str, str], Reference] = {}

    def add(kind: str, ref: Any, name_key: str = "name", keys: Iterable[str] = ()) -> None:
        if not isinstance(ref, Mapping) or not ref.get(name_key):
            return
        entry = found.setdefault((kind, str(ref[name_key])), Reference(kind, str(ref[name_key])))
        required = not ref.get("optional")
        entry.optional = entry.optional and not required
        for key in keys:
            entry.keys[key] = entry.keys.get(key, False) or required

    def item_keys(ref: Any) -> list[str]:
        items = ref.get("items") if isinstance(ref, Mapping) else None
        return [str(i.get("key", "")) for i in items or [] if isinstance(i, Mapping)]

    spec = template.get("spec") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for container in containers:
        for var in container.get("env") or []:
            source = var.get("valueFrom") or {}
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = source.get(key)
                if isinstance(ref, Mapping):
                    add(kind, ref, keys=[str(ref.get("key", ""))])
        for source in container.get("envFrom") or []:
            add("ConfigMap", source.get("configMapRef"))
            add("Secret", source.get("secretRef"))
    for volume in spec.get("volumes") or []:
        add("ConfigMap", volume.get("configMap"), keys=item_keys(volume.get("configMap")))
        add("Secret", volume.get("secret"), "secretName", item_keys(volume.get("secret")))
        for source in (volume.get("projected") or {}).get("sources") or []:
            add("ConfigMap", source.get("configMap"), keys=item_keys(source.get("configMap")))
            add("Secret", source.get("secret"), keys=item_keys(source.get("secret")))
    for pull in spec.get("imagePullSecrets") or []:
        add("Secret", {"name": pull.get("name")} if isinstance(pull, Mapping) else None)
    return tuple(found.values())


@dataclass(frozen=True)
class Seen:
    """What is kept of a ConfigMap or Secret: its times and the names of its keys, no data."""

    created: datetime | None
    modified: datetime | None
    keys: frozenset[str]


def seen(obj: Mapping[str, Any]) -> Seen:
    """The times and key names of a ConfigMap or Secret read from the API."""
    meta = ro.meta(obj)
    times = [ro.parse_time(e.get("time")) for e in meta.get("managedFields") or []]
    stamped = [t for t in times if t is not None]
    keys = set((obj.get("data") or {}).keys()) | set((obj.get("binaryData") or {}).keys())
    return Seen(
        created=ro.parse_time(meta.get("creationTimestamp")),
        modified=max(stamped) if stamped else None,
        keys=frozenset(str(k) for k in keys),
    )


def read_reference(cluster: Cluster, ref: Reference) -> Seen | None:
    """``ref`` as it is now (None when it does not exist); a Secret's data is never kept."""
    core = cluster.clients().core
    method = (
        core.read_namespaced_config_map if ref.kind == "ConfigMap" else core.read_namespaced_secret
    )
    try:
        response = cluster.call(
            f"read {ref.kind.lower()} {ref.name}",
            method,
            ref.name,
            cluster.k8s.namespace,
            _preload_content=False,
        )
    except NotFound:
        return None
    return seen(cluster.decode(response))


def _when(moment: datetime, beside: datetime | None = None) -> str:
    """``2026-12-05 22:41 UTC``; with seconds when ``beside`` falls in the same minute."""
    same_minute = beside is not None and moment.replace(second=0, microsecond=0) == beside.replace(
        second=0, microsecond=0
    )
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if same_minute else "%Y-%m-%d %H:%M UTC")


def reference_note(ref: Reference, now: Seen | None, created: datetime | None, label: str) -> str:
    """What the operator must know about ``ref`` when rolling back to ``label`` (created then)."""
    if now is None:
        consequence = (
            "optional: the target's pods start without it"
            if ref.optional
            else "the target's pods cannot start without it"
        )
        return f"{MISSING}; {consequence}"
    parts = [NOT_ROLLED_BACK]
    if now.modified is not None and created is not None:
        if now.modified > created:
            parts.append(
                f"modified {_when(now.modified, created)}, after {label} was created on "
                f"{_when(created, now.modified)}"
            )
        else:
            parts.append(f"unchanged since {label} was created")
            parts.append(f"last modified {_when(now.modified, created)}")
    elif now.modified is not None:
        parts.append(f"last modified {_when(now.modified)}")
    elif now.created is not None and created is not None and now.created > created:
        parts.append(f"{UNKNOWN_TIME}; created {_when(now.created, created)}, after {label} was")
    else:
        parts.append(UNKNOWN_TIME)
    missing = sorted(k for k, required in ref.keys.items() if required and k not in now.keys)
    if missing:
        parts.append(
            f"no key {', '.join(missing)}: the target's pods cannot start"
            if len(missing) == 1
            else f"no keys {', '.join(missing)}: the target's pods cannot start"
        )
    return "; ".join(parts)


def reference_differences(
    cluster: Cluster, template: Mapping[str, Any], created: datetime | None, label: str
) -> tuple[Difference, ...]:
    """One line for every ConfigMap and Secret ``template`` refers to (see the module doc)."""
    out = []
    for ref in references(template):
        try:
            now = read_reference(cluster, ref)
        except Forbidden:
            out.append(
                Difference(
                    ref.label, note=f"{NOT_ROLLED_BACK}; {UNKNOWN_TIME} (not allowed to read it)"
                )
            )
            continue
        out.append(Difference(ref.label, note=reference_note(ref, now, created, label)))
    return tuple(out)
