"""The cluster state behind the fake API server: objects, resourceVersions, watches.

Objects are plain JSON dicts, exactly what goes over the wire.  Every write
gets the next cluster-wide ``resourceVersion``; a write that carries a stale
``resourceVersion`` (a PUT, or a patch that sets one) fails with 409 like
the real API server's optimistic concurrency.  The main resource of a
Deployment or ReplicaSet ignores ``status`` (only the controller writes it),
and ``metadata.generation`` goes up when, and only when, ``spec`` changes.

The server-side defaults the real API server fills in (replicas, strategy,
the pod template's ``restartPolicy``, ``imagePullPolicy``, ``resources: {}``,
``creationTimestamp: null``...) are filled in here too, so templates copied
by kubectl (which re-encodes them through its Go types) and templates copied
as raw JSON compare equal, as they do against a real cluster.
"""

from __future__ import annotations

import copy
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.k8s_server import managed
from tests.k8s_server.patching import (
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from tests.k8s_server.selectors import field_selector, label_selector


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool = True
    short: tuple[str, ...] = ()
    #: A custom resource (a CRD's kind): no strategic merge patch, as on a real server.
    custom: bool = False
    #: Its CRD enables the status subresource: the main resource ignores ``status``.
    status_subresource: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``deployments.apps`` / ``pods``: how error messages name the resource."""
        return f"{self.resource}.{self.group}" if self.group else self.resource


KINDS: dict[str, Kind] = {
    k.resource: k
    for k in (
        Kind("", "v1", "namespaces", "Namespace", namespaced=False, short=("ns",)),
        Kind("", "v1", "pods", "Pod", short=("po",)),
        Kind("", "v1", "events", "Event", short=("ev",)),
        Kind("", "v1", "configmaps", "ConfigMap", short=("cm",)),
        Kind("", "v1", "secrets", "Secret"),
        Kind("apps", "v1", "deployments", "Deployment", short=("deploy",)),
        Kind("apps", "v1", "replicasets", "ReplicaSet", short=("rs",)),
        # The GitOps controllers' custom resources, as their CRDs define them: Argo CD's
        # Application has no status subresource (its controller writes the whole object);
        # Flux's Kustomization and HelmRelease have one.
        Kind(
            "argoproj.io",
            "v1alpha1",
            "applications",
            "Application",
            short=("app", "apps"),
            custom=True,
            status_subresource=False,
        ),
        Kind(
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "kustomizations",
            "Kustomization",
            short=("ks",),
            custom=True,
        ),
        Kind(
            "helm.toolkit.fluxcd.io",
            "v2",
            "helmreleases",
            "HelmRelease",
            short=("hr",),
            custom=True,
        ),
    )
}

#: The manager a write made through the store itself (not over HTTP) is recorded under.
STORE_MANAGER = "k8s-fake-store"
#: The API groups of the custom resources, each with its one version.
CUSTOM_GROUPS: dict[str, str] = {k.group: k.version for k in KINDS.values() if k.custom}

#: How many writes the watch log keeps (older resourceVersions answer 410 Gone).
WATCH_LOG_SIZE = 50_000


class ApiError(Exception):
    """An error answer: becomes a ``Status`` object with this code, reason and message."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


def not_found(kind: Kind, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{kind.qualified} "{name}" not found')


def conflict(kind: Kind, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
    )


def invalid(kind: Kind, name: str, why: str) -> ApiError:
    return ApiError(422, "Invalid", f'{kind.kind} "{name}" is invalid: {why}')


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- defaults


def _image_pull_policy(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def default_pod_template(template: dict[str, Any]) -> None:
    """The defaults the API server gives a pod template (in place)."""
    meta = template.setdefault("metadata", {})
    if meta is None:
        meta = template["metadata"] = {}
    meta.setdefault("creationTimestamp", None)
    spec = template.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            container.setdefault("resources", {})
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            container.setdefault("imagePullPolicy", _image_pull_policy(container.get("image", "")))
            for port in container.get("ports") or []:
                port.setdefault("protocol", "TCP")


def default_deployment(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    default_pod_template(spec.setdefault("template", {}))


def _drop_nulls(value: Any) -> Any:
    """What decoding into Go types does to ``null`` values: they become absent."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _normalise_template(template: dict[str, Any]) -> dict[str, Any]:
    meta = template.get("metadata")
    created = meta.get("creationTimestamp") if isinstance(meta, dict) else None
    out = _drop_nulls(template)
    out.setdefault("metadata", {})["creationTimestamp"] = created
    return dict(out)


# --------------------------------------------------------------------------- the store


class Cluster:
    """Objects of one fake cluster, guarded by one lock; see the module docstring."""

    def __init__(self, *, seed: int = 1, clock: Callable[[], datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {k: {} for k in KINDS}
        self.rv = 1000
        self.watch_log: list[tuple[int, str, str, dict[str, Any]]] = []
        self.rng = random.Random(seed)
        self._clock = clock or (lambda: datetime.now(UTC))
        self.offset = timedelta(0)
        #: Images whose containers crash (CrashLoopBackOff) instead of becoming ready.
        self.failing_images: set[str] = set()
        #: Pod name -> log lines (generated when the pod starts; tests may replace them).
        self.logs: dict[str, list[str]] = {}
        self.closed = False

    # ------------------------------------------------------------------ time and ids

    def now(self) -> datetime:
        return self._clock() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the cluster's clock forward (progress deadlines, ages)."""
        with self.lock:
            self.offset += timedelta(seconds=seconds)

    def stamp(self) -> str:
        return rfc3339(self.now())

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def suffix(self, length: int = 5) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def _next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    # ------------------------------------------------------------------ low level

    def _record(self, event: str, resource: str, obj: dict[str, Any]) -> None:
        self.watch_log.append((int(obj["metadata"]["resourceVersion"]), event, resource, obj))
        if len(self.watch_log) > WATCH_LOG_SIZE:
            del self.watch_log[: len(self.watch_log) - WATCH_LOG_SIZE]
        self.changed.notify_all()

    def _store(self, resource: str, obj: dict[str, Any], event: str) -> dict[str, Any]:
        meta = obj["metadata"]
        meta["resourceVersion"] = self._next_rv()
        key = (meta.get("namespace", ""), meta["name"])
        self.objects[resource][key] = obj
        # Stored objects are never changed in place (every write stores a new dict),
        # so the watch log can share them.
        self._record(event, resource, obj)
        return copy.deepcopy(obj)

    def _require_namespace(self, namespace: str) -> None:
        if ("", namespace) not in self.objects["namespaces"]:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')

    def _existing(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        found = self.objects[resource].get((namespace, name))
        if found is None:
            raise not_found(KINDS[resource], name)
        return found

    # ------------------------------------------------------------------ API verbs

    def create(
        self,
        resource: str,
        namespace: str,
        obj: dict[str, Any],
        *,
        dry_run: bool = False,
        manager: str = STORE_MANAGER,
    ) -> dict[str, Any]:
        kind = KINDS[resource]
        with self.lock:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + self.suffix()
            name = meta.get("name")
            if not name:
                raise invalid(
                    kind, "", "metadata.name: Required value: name or generateName is required"
                )
            if kind.namespaced:
                self._require_namespace(namespace)
                meta["namespace"] = namespace
            else:
                namespace = ""
            if (namespace, name) in self.objects[resource]:
                raise ApiError(409, "AlreadyExists", f'{kind.qualified} "{name}" already exists')
            obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
            meta["uid"] = self.new_uid()
            meta["creationTimestamp"] = meta.get("creationTimestamp") or self.stamp()
            meta.pop("resourceVersion", None)
            if resource in ("deployments", "replicasets") or kind.custom:
                meta["generation"] = 1
            if resource in ("deployments", "replicasets"):
                obj.setdefault("status", {})
            if resource == "deployments":
                default_deployment(obj)
                obj["spec"]["template"] = _normalise_template(obj["spec"]["template"])
                self._validate_deployment(obj, None)
            elif resource == "replicasets":
                default_pod_template(obj["spec"].setdefault("template", {}))
                obj["spec"]["template"] = _normalise_template(obj["spec"]["template"])
            elif resource in managed.TRACKED:
                managed.prepare(resource, None, obj)
                managed.track(None, obj, manager, self.stamp())
            if dry_run:
                return copy.deepcopy(obj)
            return self._store(resource, obj, "ADDED")

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._existing(resource, namespace, name))

    def list(
        self,
        resource: str,
        namespace: str | None,
        *,
        labels: str | None = None,
        fields: str | None = None,
        copies: bool = True,
    ) -> tuple[list[dict[str, Any]], str]:
        """Matching objects sorted by namespace and name, and the list's resourceVersion.

        ``copies=False`` returns the stored dicts themselves, for a caller that only
        reads them (serialising a LIST answer).
        """
        match_labels = label_selector(labels)
        match_fields = field_selector(fields)
        with self.lock:
            items = [
                copy.deepcopy(obj) if copies else obj
                for (ns, _), obj in sorted(self.objects[resource].items())
                if (namespace is None or ns == namespace)
                and match_labels(obj["metadata"].get("labels") or {})
                and match_fields(obj)
            ]
            return items, str(self.rv)

    def replace(
        self,
        resource: str,
        namespace: str,
        name: str,
        obj: dict[str, Any],
        *,
        dry_run: bool = False,
        manager: str = STORE_MANAGER,
    ) -> dict[str, Any]:
        """PUT: the whole object; a stale resourceVersion is a 409."""
        kind = KINDS[resource]
        with self.lock:
            current = self._existing(resource, namespace, name)
            new = copy.deepcopy(obj)
            meta = new.setdefault("metadata", {})
            if meta.get("name", name) != name:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"the name of the object ({meta['name']}) does not "
                    f"match the name on the URL ({name})",
                )
            given_rv = meta.get("resourceVersion")
            if given_rv and given_rv != current["metadata"]["resourceVersion"]:
                raise conflict(kind, name)
            return self._write(resource, current, new, dry_run=dry_run, manager=manager)

    def patch(
        self,
        resource: str,
        namespace: str,
        name: str,
        content_type: str,
        body: Any,
        *,
        dry_run: bool = False,
        manager: str = STORE_MANAGER,
    ) -> dict[str, Any]:
        kind = KINDS[resource]
        with self.lock:
            current = self._existing(resource, namespace, name)
            try:
                if content_type.startswith("application/json-patch+json"):
                    new = json_patch(current, body)
                elif content_type.startswith("application/merge-patch+json"):
                    new = merge_patch(current, body)
                elif content_type.startswith("application/strategic-merge-patch+json"):
                    if kind.custom:
                        raise ApiError(
                            415,
                            "UnsupportedMediaType",
                            "the body of the request was in an unknown format - accepted media "
                            "types include: application/json-patch+json, "
                            "application/merge-patch+json, application/apply-patch+yaml",
                        )
                    new = strategic_merge_patch(current, body)
                else:
                    raise ApiError(
                        415,
                        "UnsupportedMediaType",
                        f"the body of the request was in an unknown "
                        f"format - accepted media types include: application/json-patch+json, "
                        f"application/merge-patch+json, application/strategic-merge-patch+json "
                        f"(got {content_type})",
                    )
            except PatchError as err:
                raise ApiError(422, "Invalid", str(err)) from None
            if not isinstance(new, dict):
                raise ApiError(422, "Invalid", "the patch did not produce an object")
            given_rv = (new.get("metadata") or {}).get("resourceVersion")
            if given_rv and given_rv != current["metadata"]["resourceVersion"]:
                raise conflict(kind, name)
            return self._write(resource, current, new, dry_run=dry_run, manager=manager)

    def _write(
        self,
        resource: str,
        current: dict[str, Any],
        new: dict[str, Any],
        *,
        dry_run: bool,
        manager: str = STORE_MANAGER,
    ) -> dict[str, Any]:
        kind = KINDS[resource]
        meta = new.setdefault("metadata", {})
        for key in ("name", "namespace", "uid", "creationTimestamp", "generation"):
            if key in current["metadata"]:
                meta[key] = current["metadata"][key]
        meta.pop("resourceVersion", None)
        new["apiVersion"], new["kind"] = kind.api_version, kind.kind
        if resource in ("deployments", "replicasets"):
            new["status"] = copy.deepcopy(current.get("status", {}))
        elif kind.custom and kind.status_subresource:
            new.pop("status", None)
            if "status" in current:
                new["status"] = copy.deepcopy(current["status"])
        if resource == "deployments":
            default_deployment(new)
            new["spec"]["template"] = _normalise_template(new["spec"]["template"])
            self._validate_deployment(new, current)
        elif resource == "replicasets":
            default_pod_template(new["spec"].setdefault("template", {}))
            new["spec"]["template"] = _normalise_template(new["spec"]["template"])
        elif resource in managed.TRACKED:
            why = managed.prepare(resource, current, new)
            if why is not None:
                raise invalid(kind, meta["name"], why)
            managed.track(current, new, manager, self.stamp())
        if resource in ("deployments", "replicasets") and new.get("spec") != current.get("spec"):
            meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
        elif kind.custom and _outside_metadata(new) != _outside_metadata(current):
            # A custom resource's generation counts changes to anything but metadata
            # (with a status subresource, status is never changed here).
            meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
        if dry_run:
            meta["resourceVersion"] = current["metadata"]["resourceVersion"]
            return copy.deepcopy(new)
        unchanged = {
            **current,
            "metadata": {k: v for k, v in current["metadata"].items() if k != "resourceVersion"},
        }
        if new == unchanged:
            return copy.deepcopy(current)  # a no-op write keeps its resourceVersion
        return self._store(resource, new, "MODIFIED")

    def _validate_deployment(self, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        kind = KINDS["deployments"]
        name = obj["metadata"]["name"]
        spec = obj["spec"]
        selector = spec.get("selector")
        if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
            raise invalid(kind, name, "spec.selector: Required value")
        labels = (spec["template"].get("metadata") or {}).get("labels") or {}
        if not label_selector(_selector_string(selector))(labels):
            raise invalid(
                kind,
                name,
                f"spec.template.metadata.labels: Invalid value: {labels!r}: "
                "`selector` does not match template `labels`",
            )
        if old is not None and old["spec"].get("selector") != selector:
            raise invalid(kind, name, "spec.selector: Invalid value: field is immutable")
        containers = spec["template"].get("spec", {}).get("containers") or []
        if not containers:
            raise invalid(kind, name, "spec.template.spec.containers: Required value")
        for i, container in enumerate(containers):
            if not container.get("name") or not container.get("image"):
                raise invalid(
                    kind, name, f"spec.template.spec.containers[{i}]: name and image are required"
                )
        if int(spec.get("replicas", 0)) < 0:
            raise invalid(kind, name, "spec.replicas: must be greater than or equal to 0")

    def delete(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        """Delete, then (as the garbage collector does by default) what it owns, recursively."""
        with self.lock:
            obj = self._existing(resource, namespace, name)
            del self.objects[resource][(namespace, name)]
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self._record("DELETED", resource, copy.deepcopy(obj))
            uid = obj["metadata"].get("uid")
            for kind in ("replicasets", "pods"):
                for (ns, dependent), child in list(self.objects[kind].items()):
                    refs = child["metadata"].get("ownerReferences") or []
                    if ns == namespace and any(ref.get("uid") == uid for ref in refs):
                        self.delete(kind, ns, dependent)
            return obj

    # ------------------------------------------------------------------ controller side

    def put_status(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        """The status subresource as the controllers use it: status and annotations only."""
        with self.lock:
            meta = obj["metadata"]
            current = self._existing(resource, meta.get("namespace", ""), meta["name"])
            new = copy.deepcopy(current)
            new["status"] = copy.deepcopy(obj.get("status", {}))
            new["metadata"]["annotations"] = copy.deepcopy(meta.get("annotations") or {})
            if new == current:
                return copy.deepcopy(current)
            return self._store(resource, new, "MODIFIED")

    def put_internal(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        """A controller's full update (ReplicaSet scale and annotations, pod status)."""
        with self.lock:
            meta = obj["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            current = self.objects[resource].get(key)
            if current is not None:
                stripped = {
                    **obj,
                    "metadata": {**meta, "resourceVersion": current["metadata"]["resourceVersion"]},
                }
                if stripped == current:
                    return copy.deepcopy(current)
                if obj.get("spec") != current.get("spec") and "generation" in current["metadata"]:
                    meta["generation"] = int(current["metadata"]["generation"]) + 1
            return self._store(resource, copy.deepcopy(obj), "MODIFIED" if current else "ADDED")

    def owned_by(self, resource: str, owner: dict[str, Any]) -> list[dict[str, Any]]:
        uid = owner["metadata"]["uid"]
        ns = owner["metadata"].get("namespace", "")
        return [
            obj
            for (obj_ns, _), obj in sorted(self.objects[resource].items())
            if obj_ns == ns
            and any(
                ref.get("uid") == uid and ref.get("controller")
                for ref in obj["metadata"].get("ownerReferences") or []
            )
        ]

    def events_since(
        self, rv: int, resources: Iterable[str]
    ) -> list[tuple[int, str, str, dict[str, Any]]]:
        wanted = set(resources)
        return [entry for entry in self.watch_log if entry[0] > rv and entry[2] in wanted]

    def record_event(
        self,
        obj: dict[str, Any],
        kind: str,
        reason: str,
        message: str,
        *,
        type_: str = "Normal",
        component: str = "deployment-controller",
    ) -> None:
        """A core/v1 Event about ``obj``; a repeat of the same one raises its count."""
        with self.lock:
            meta = obj["metadata"]
            ns = meta.get("namespace", "default")
            now = self.stamp()
            for event in self.objects["events"].values():
                involved = event["involvedObject"]
                if (
                    involved.get("uid") == meta.get("uid")
                    and event["reason"] == reason
                    and event["message"] == message
                ):
                    updated = copy.deepcopy(event)
                    updated["count"] = int(event.get("count", 1)) + 1
                    updated["lastTimestamp"] = now
                    self._store("events", updated, "MODIFIED")
                    return
            name = f"{meta['name']}.{self.rng.getrandbits(64):016x}"
            event = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "uid": self.new_uid(),
                    "creationTimestamp": now,
                },
                "involvedObject": {
                    "kind": kind,
                    "namespace": ns,
                    "name": meta["name"],
                    "uid": meta.get("uid", ""),
                    "apiVersion": obj.get("apiVersion", "v1"),
                    "resourceVersion": meta.get("resourceVersion", ""),
                },
                "reason": reason,
                "message": message,
                "source": {"component": component},
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
                "type": type_,
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": "",
            }
            self._store("events", event, "ADDED")


def _outside_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}


def _selector_string(selector: dict[str, Any]) -> str:
    from tests.k8s_server.selectors import selector_from_label_selector

    return selector_from_label_selector(selector)
