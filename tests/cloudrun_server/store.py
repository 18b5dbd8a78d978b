"""State of the fake Cloud Run Admin API v2: services, revisions, long-running operations.

Everything is kept as the JSON the public REST API exchanges (lowerCamelCase
field names, int64 as strings, enums as integers because every client call
carries ``$alt=json;enum-encoding=int``), so what the server answers is what
the real API would answer for the same state.

Semantics followed (from the public v2 reference and the behaviour seen with
the real client):

* ``generation`` grows by one with every accepted update of the spec;
  ``observedGeneration`` catches up when the update's operation completes.
  Meanwhile ``reconciling`` is true and ``terminalCondition`` is RECONCILING.
* ``traffic`` (the spec) changes at once; ``trafficStatuses`` (what is served)
  only when the operation completes successfully.  An empty ``traffic`` means
  100% to the latest Ready revision.
* An operation that fails leaves the spec as requested, marks the service's
  Ready condition FAILED with the error's message, and keeps the statuses.
* ``etag`` changes with every change; an update carrying a stale etag is
  refused with 409 ABORTED, as is one made while another is still running.
* An update whose ``template`` differs from the stored one creates a new
  revision (``SERVICE-0000N-xyz``) that becomes Ready with the operation.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.rest import RestError

JSON = dict[str, Any]

# TrafficTargetAllocationType and Condition.State, as the API numbers them.
LATEST = 1
REVISION = 2
PENDING = 1
RECONCILING = 2
FAILED = 3
SUCCEEDED = 4

_TYPE_NAMES = {
    "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST": LATEST,
    "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION": REVISION,
}
SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"

# google.rpc.Code numbers and the HTTP status each maps to.
GRPC_HTTP = {
    3: (400, "INVALID_ARGUMENT"),
    5: (404, "NOT_FOUND"),
    7: (403, "PERMISSION_DENIED"),
    9: (400, "FAILED_PRECONDITION"),
    10: (409, "ABORTED"),
    13: (500, "INTERNAL"),
    14: (503, "UNAVAILABLE"),
}


class ApiError(RestError):
    """An error answered in the API's shape: ``{"error": {code, message, status}}``."""

    def __init__(self, http: int, status: str, message: str) -> None:
        super().__init__(http, status, message)
        self.status = status

    def body(self) -> JSON:
        return {"error": {"code": self.http, "message": self.message, "status": self.status}}


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> datetime:
    return datetime.now(UTC)


def _int(value: Any) -> int:
    return int(value or 0)


def _etag() -> str:
    return '"' + secrets.token_hex(8) + '"'


def short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _traffic_type(entry: JSON) -> int:
    raw = entry.get("type", entry.get("type_", 0))
    if isinstance(raw, str):
        if raw.isdigit():
            return int(raw)
        return _TYPE_NAMES.get(raw, 0)
    return int(raw or 0)


@dataclass
class Operation:
    """One long-running operation of an update."""

    name: str
    service: str
    due: float
    apply: Callable[[], None]
    fail: Callable[[int, str], None]
    error: tuple[int, str] | None = None
    done: bool = False
    result: JSON | None = None
    created: datetime = field(default_factory=now)


class CloudRunStore:
    """Projects, services, revisions and operations, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.projects: set[str] = set()
        self.forbidden_projects: set[str] = set()
        self.services: dict[str, JSON] = {}
        self.revisions: dict[str, JSON] = {}
        self.operations: dict[str, Operation] = {}
        #: Seconds an update's operation takes; ``float("inf")`` never finishes.
        self.operation_delay_s = 0.05
        #: The next updates' operations finish with these errors (code, message), in order.
        self.failing_operations: list[tuple[int, str]] = []
        #: The next updates' operations never finish (how many).
        self.hanging_operations = 0
        #: Called with the service JSON each time an operation applied a traffic change.
        self.on_traffic: list[Callable[[JSON], None]] = []
        #: Full service names whose spec updates are counted (PATCH accepted).
        self.updates: list[JSON] = []
        #: Called with the service's full name when an update arrives, before its etag is
        #: checked: a test makes "someone else's" change there, and loses the race for real.
        self.before_update: list[Callable[[str], None]] = []
        #: Secret Manager's side: ``projects/P/secrets/S/versions/N`` -> the secret's bytes,
        #: which a revision's ``secretKeyRef`` names and Cloud Run reads at instance start.
        self.secret_versions: dict[str, bytes] = {}

    # ----------------------------------------------------------------- building state

    def add_service(
        self,
        project: str,
        region: str,
        service: str,
        *,
        created: datetime | None = None,
    ) -> str:
        """An empty service (no revisions yet); returns its full name."""
        with self.lock:
            self.projects.add(project)
            name = f"projects/{project}/locations/{region}/services/{service}"
            at = rfc3339(created or now() - timedelta(days=30))
            self.services[name] = {
                "name": name,
                "uid": secrets.token_hex(8),
                "generation": "0",
                "createTime": at,
                "updateTime": at,
                "creator": "deployer@example.com",
                "lastModifier": "deployer@example.com",
                "ingress": 1,
                "template": {},
                "traffic": [{"type": LATEST, "percent": 100}],
                "observedGeneration": "0",
                "terminalCondition": self._condition("Ready", SUCCEEDED),
                "conditions": [
                    self._condition("RoutesReady", SUCCEEDED),
                    self._condition("ConfigurationsReady", SUCCEEDED),
                ],
                "latestReadyRevision": "",
                "latestCreatedRevision": "",
                "trafficStatuses": [],
                "uri": f"https://{service}-abc123-an.a.run.app",
                "urls": [f"https://{service}-123456789.{region}.run.app"],
                "reconciling": False,
                "etag": _etag(),
            }
            return name

    def deploy(
        self,
        service_name: str,
        image: str,
        *,
        revision: str | None = None,
        created: datetime | None = None,
        ready: bool = True,
        message: str = "",
        min_instances: int = 0,
        template: JSON | None = None,
    ) -> str:
        """A new revision of ``service_name`` as ``gcloud run deploy`` leaves it; returns its name.

        The service's generation grows, its template becomes the revision's,
        and a Ready revision becomes ``latestReadyRevision`` (so a LATEST
        traffic target moves to it).  ``ready=False`` is a deploy whose revision
        failed to start: it is the latest created, never the latest ready.
        ``template``: the rest of the RevisionTemplate (API JSON: ``scaling``,
        ``timeout``, ``serviceAccount``, ``maxInstanceRequestConcurrency``,
        ``volumes``, and ``containers`` whose first one gets ``image``).
        """
        with self.lock:
            svc = self.services[service_name]
            generation = _int(svc["generation"]) + 1
            spec = copy.deepcopy(template or {})
            containers = spec.setdefault("containers", [{}])
            containers[0].setdefault("image", image)
            containers[0].setdefault("ports", [{"containerPort": 8080}])
            name = self._new_revision(
                svc,
                spec,
                generation=generation,
                revision=revision,
                created=created,
                ready=ready,
                message=message,
                min_instances=min_instances,
            )
            svc["generation"] = str(generation)
            svc["observedGeneration"] = str(generation)
            svc["template"] = copy.deepcopy(self.revisions[name]["_template"])
            self._settle(svc)
            return name

    def _new_revision(
        self,
        svc: JSON,
        template: JSON,
        *,
        generation: int,
        revision: str | None = None,
        created: datetime | None = None,
        ready: bool = True,
        message: str = "",
        min_instances: int = 0,
    ) -> str:
        service = short(svc["name"])
        count = sum(1 for r in self.revisions.values() if r["service"] == service) + 1
        rev_short = revision or f"{service}-{count:05d}-{secrets.token_hex(2)[:3]}"
        name = f"{svc['name']}/revisions/{rev_short}"
        at = rfc3339(created or now())
        state = SUCCEEDED if ready else FAILED
        containers = copy.deepcopy(template.get("containers", []))
        for container in containers:
            # What the API fills in for a container that set no resources.
            container.setdefault(
                "resources", {"limits": {"cpu": "1000m", "memory": "512Mi"}, "cpuIdle": True}
            )
        scaling = {"minInstanceCount": min_instances, "maxInstanceCount": 100}
        scaling.update(template.get("scaling") or {})
        # The revision is the template with the API's defaults for what it left out.
        self.revisions[name] = {
            "name": name,
            "uid": secrets.token_hex(8),
            "generation": "1",
            "labels": {"serving.knative.dev/configurationGeneration": str(generation)},
            "createTime": at,
            "updateTime": at,
            "service": service,
            "scaling": scaling,
            "maxInstanceRequestConcurrency": template.get("maxInstanceRequestConcurrency") or 80,
            "timeout": template.get("timeout") or "300s",
            "serviceAccount": template.get("serviceAccount")
            or "123456789-compute@developer.gserviceaccount.com",
            "containers": containers,
            "volumes": copy.deepcopy(template.get("volumes") or []),
            "executionEnvironment": template.get("executionEnvironment") or 2,
            "reconciling": False,
            "conditions": [
                self._condition("Ready", state, message),
                self._condition("ContainerHealthy", state, message),
                self._condition("ResourcesAvailable", SUCCEEDED),
            ],
            "observedGeneration": "1",
            "logUri": f"https://console.cloud.google.com/logs/viewer?revision={rev_short}",
            "scalingStatus": {"desiredMinInstanceCount": scaling["minInstanceCount"]},
            "creator": "deployer@example.com",
            "etag": _etag(),
            "_template": copy.deepcopy(template),
        }
        svc["latestCreatedRevision"] = name
        return name

    @staticmethod
    def _condition(kind: str, state: int, message: str = "") -> JSON:
        cond: JSON = {"type": kind, "state": state, "lastTransitionTime": rfc3339(now())}
        if message:
            cond["message"] = message
        if state == FAILED:
            cond["severity"] = 1
        return cond

    def add_secret_version(self, project: str, secret: str, value: str) -> str:
        """A new version of Secret Manager secret ``secret`` holding ``value``; its number."""
        with self.lock:
            self.projects.add(project)
            prefix = f"projects/{project}/secrets/{secret}/versions/"
            number = 1 + sum(1 for name in self.secret_versions if name.startswith(prefix))
            self.secret_versions[f"{prefix}{number}"] = value.encode()
            return str(number)

    def access_secret(self, project: str, secret: str, version: str) -> JSON:
        """``versions/V:access`` as Secret Manager v1 answers it (``latest``: the newest)."""
        with self.lock:
            prefix = f"projects/{project}/secrets/{secret}/versions/"
            mine = sorted(
                (int(n.removeprefix(prefix)) for n in self.secret_versions if n.startswith(prefix)),
            )
            number = str(mine[-1]) if version == "latest" and mine else version
            data = self.secret_versions.get(f"{prefix}{number}")
            if data is None:
                raise ApiError(404, "NOT_FOUND", f"Secret Version [{prefix}{version}] not found.")
            return {
                "name": f"{prefix}{number}",
                "payload": {"data": base64.b64encode(data).decode()},
            }

    def set_traffic(self, service_name: str, traffic: list[JSON]) -> None:
        """Set spec and served traffic at once (the state a past ``update-traffic`` left)."""
        with self.lock:
            svc = self.services[service_name]
            self._validate_traffic(svc, traffic)
            svc["traffic"] = copy.deepcopy(traffic)
            svc["etag"] = _etag()
            self._settle(svc)

    # ----------------------------------------------------------------- reading

    def revision_ready(self, name: str) -> bool:
        rev = self.revisions.get(name)
        if rev is None:
            return False
        ready = next((c for c in rev["conditions"] if c["type"] == "Ready"), None)
        return bool(ready and ready["state"] == SUCCEEDED)

    def _latest_ready(self, svc: JSON) -> str:
        service = short(svc["name"])
        ready = [
            r
            for r in self.revisions.values()
            if r["service"] == service
            and r["name"].startswith(svc["name"] + "/")
            and self.revision_ready(r["name"])
        ]
        if not ready:
            return ""
        return str(max(ready, key=lambda r: (r["createTime"], r["name"]))["name"])

    def _statuses(self, svc: JSON) -> list[JSON]:
        traffic = svc["traffic"] or [{"type": LATEST, "percent": 100}]
        statuses: list[JSON] = []
        for entry in traffic:
            kind = _traffic_type(entry)
            status: JSON = {"type": kind, "percent": int(entry.get("percent", 0))}
            if kind == REVISION:
                status["revision"] = entry["revision"]
            elif svc.get("latestReadyRevision"):
                status["revision"] = short(svc["latestReadyRevision"])
            if entry.get("tag"):
                status["tag"] = entry["tag"]
                status["uri"] = f"https://{entry['tag']}---{svc['uri'].removeprefix('https://')}"
            statuses.append(status)
        return statuses

    def _settle(self, svc: JSON) -> None:
        """The service after its last operation succeeded: served == spec.

        Ready is RoutesReady and ConfigurationsReady; the latter stays failed
        while the newest revision is not Ready, whatever the traffic.
        """
        svc["latestReadyRevision"] = self._latest_ready(svc)
        svc["trafficStatuses"] = self._statuses(svc)
        svc["observedGeneration"] = svc["generation"]
        svc["reconciling"] = False
        newest = svc.get("latestCreatedRevision", "")
        why = ""
        if newest and not self.revision_ready(newest):
            rev = self.revisions[newest]
            ready: JSON = next((c for c in rev["conditions"] if c["type"] == "Ready"), {})
            why = ready.get("message") or (
                f"Revision '{short(newest)}' is not ready and cannot serve traffic."
            )
        svc["terminalCondition"] = self._condition("Ready", FAILED if why else SUCCEEDED, why)
        svc["conditions"] = [
            self._condition("RoutesReady", SUCCEEDED),
            self._condition("ConfigurationsReady", FAILED if why else SUCCEEDED, why),
        ]
        svc["updateTime"] = rfc3339(now())

    def public_service(self, name: str) -> JSON:
        with self.lock:
            self.tick()
            return copy.deepcopy(self.services[name])

    @staticmethod
    def public_revision(rev: JSON) -> JSON:
        out = copy.deepcopy(rev)
        out.pop("_template", None)
        return out

    # ----------------------------------------------------------------- checks

    def check_project(self, project: str, permission: str, resource: str) -> None:
        if project in self.forbidden_projects or project not in self.projects:
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                f"Permission '{permission}' denied on resource '{resource}' "
                "(or resource may not exist).",
            )

    def service(self, project: str, region: str, service: str, permission: str) -> JSON:
        name = f"projects/{project}/locations/{region}/services/{service}"
        self.check_project(project, permission, name)
        svc = self.services.get(name)
        if svc is None:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Resource '{service}' of kind 'SERVICE' in region '{region}' "
                f"in project '{project}' does not exist.",
            )
        return svc

    def _validate_traffic(self, svc: JSON, traffic: list[JSON], creating: str = "") -> None:
        if not traffic:
            return
        total = 0
        tags: set[str] = set()
        for entry in traffic:
            kind = _traffic_type(entry)
            percent = int(entry.get("percent", 0) or 0)
            if kind not in (LATEST, REVISION):
                raise ApiError(400, "INVALID_ARGUMENT", "spec.traffic.type: must be set")
            if not 0 <= percent <= 100:
                raise ApiError(400, "INVALID_ARGUMENT", f"spec.traffic.percent: {percent}")
            if kind == REVISION:
                rev = entry.get("revision", "")
                if not rev:
                    raise ApiError(400, "INVALID_ARGUMENT", "spec.traffic.revision: must be set")
                if rev != creating and f"{svc['name']}/revisions/{rev}" not in self.revisions:
                    raise ApiError(
                        400,
                        "INVALID_ARGUMENT",
                        f"Revision named '{rev}' does not exist in service '{short(svc['name'])}'.",
                    )
            tag = entry.get("tag", "")
            if tag:
                if tag in tags:
                    raise ApiError(400, "INVALID_ARGUMENT", f"spec.traffic.tag: duplicate {tag!r}")
                tags.add(tag)
            total += percent
        if total != 100:
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                f"spec.traffic: percentages must add up to 100, got {total}",
            )

    # ----------------------------------------------------------------- updating

    def update(self, project: str, region: str, service: str, body: JSON, query: JSON) -> JSON:
        """PATCH .../services/S: validate, change the spec, start the operation."""
        with self.lock:
            self.tick()
            svc = self.service(project, region, service, "run.services.update")
            for hook in list(self.before_update):
                hook(svc["name"])
            etag = body.get("etag")
            if etag and etag != svc["etag"]:
                raise ApiError(
                    409,
                    "ABORTED",
                    "The service has been modified since it was read: etag mismatch. "
                    "Read it again and retry.",
                )
            running = [
                op for op in self.operations.values() if op.service == svc["name"] and not op.done
            ]
            if running:
                raise ApiError(
                    409,
                    "ABORTED",
                    f"Operation {running[0].name} on service '{service}' is still in progress.",
                )
            masks = [m.strip() for m in str(query.get("updateMask", "")).split(",") if m.strip()]
            traffic = body.get("traffic", []) if (not masks or "traffic" in masks) else None
            template = body.get("template") if (not masks or "template" in masks) else None
            if not masks and not template:
                raise ApiError(400, "INVALID_ARGUMENT", "service.template: must be set")
            new_template = template is not None and _normal(template) != _normal(svc["template"])
            named = str((template or {}).get("revision") or "") if new_template else ""
            if named:
                # RevisionTemplate.revision: the new revision's name, prefixed by the service's.
                if not named.startswith(f"{service}-") or len(named) > 63:
                    raise ApiError(
                        400,
                        "INVALID_ARGUMENT",
                        f"template.revision: {named!r} must start with '{service}-' and be at "
                        "most 63 characters",
                    )
                if f"{svc['name']}/revisions/{named}" in self.revisions:
                    raise ApiError(
                        409,
                        "ALREADY_EXISTS",
                        f"Revision named '{named}' with different configuration already exists.",
                    )
            if traffic is not None:
                # A target may name the revision this very request creates (template.revision).
                self._validate_traffic(svc, traffic, creating=named)
            if str(query.get("validateOnly", "")).lower() == "true":
                preview = copy.deepcopy(svc)
                if traffic is not None:
                    preview["traffic"] = copy.deepcopy(traffic)
                return self._operation_json(
                    self._new_operation_name(project, region), done=True, result=preview
                )
            self.updates.append(copy.deepcopy(body))
            generation = _int(svc["generation"]) + 1
            svc["generation"] = str(generation)
            if traffic is not None:
                svc["traffic"] = copy.deepcopy(traffic)
            new_revision = ""
            if new_template:
                assert template is not None
                svc["template"] = copy.deepcopy(template)
                new_revision = self._new_revision(
                    svc, template, generation=generation, revision=named or None
                )
                self._set_revision_state(new_revision, RECONCILING)
            svc["reconciling"] = True
            svc["terminalCondition"] = self._condition("Ready", RECONCILING)
            svc["etag"] = _etag()
            svc["lastModifier"] = "rollback-console@example.com"
            svc["updateTime"] = rfc3339(now())
            name = self._new_operation_name(project, region)
            error = self.failing_operations.pop(0) if self.failing_operations else None
            delay = self.operation_delay_s
            if self.hanging_operations > 0:
                self.hanging_operations -= 1
                delay = float("inf")
            svc_name = svc["name"]

            def apply() -> None:
                if new_revision:
                    self._set_revision_state(new_revision, SUCCEEDED)
                self._settle(self.services[svc_name])
                self.services[svc_name]["etag"] = _etag()

            def fail(code: int, message: str) -> None:
                if new_revision:
                    self._set_revision_state(new_revision, FAILED, message)
                current = self.services[svc_name]
                current["observedGeneration"] = current["generation"]
                current["reconciling"] = False
                current["terminalCondition"] = self._condition("Ready", FAILED, message)
                current["conditions"] = [
                    self._condition("RoutesReady", FAILED, message),
                    self._condition("ConfigurationsReady", SUCCEEDED),
                ]
                current["etag"] = _etag()

            op = Operation(
                name=name,
                service=svc_name,
                due=time.monotonic() + delay,
                apply=apply,
                fail=fail,
                error=error,
            )
            if error is None and traffic is not None:
                not_ready = [
                    e["revision"]
                    for e in traffic
                    if _traffic_type(e) == REVISION
                    and int(e.get("percent", 0) or 0) > 0
                    and f"{svc_name}/revisions/{e['revision']}" != new_revision
                    and not self.revision_ready(f"{svc_name}/revisions/{e['revision']}")
                ]
                if not_ready:
                    op.error = (
                        9,
                        f"Revision '{not_ready[0]}' is not ready and cannot serve traffic.",
                    )
            self.operations[name] = op
            return self._op_json(op, svc)

    def _set_revision_state(self, name: str, state: int, message: str = "") -> None:
        rev = self.revisions[name]
        rev["reconciling"] = state == RECONCILING
        for cond in rev["conditions"]:
            if cond["type"] in ("Ready", "ContainerHealthy"):
                cond.update(self._condition(cond["type"], state, message))

    @staticmethod
    def _new_operation_name(project: str, region: str) -> str:
        return f"projects/{project}/locations/{region}/operations/{secrets.token_hex(16)}"

    def tick(self) -> None:
        """Complete every operation whose time has come."""
        with self.lock:
            clock = time.monotonic()
            for op in self.operations.values():
                if op.done or op.due > clock:
                    continue
                op.done = True
                if op.error is not None:
                    op.fail(*op.error)
                else:
                    op.apply()
                    svc = self.services[op.service]
                    op.result = copy.deepcopy(svc)
                    for hook in list(self.on_traffic):
                        hook(copy.deepcopy(svc))

    def operation(self, project: str, region: str, op_id: str) -> JSON:
        name = f"projects/{project}/locations/{region}/operations/{op_id}"
        with self.lock:
            self.check_project(project, "run.operations.get", name)
            self.tick()
            op = self.operations.get(name)
            if op is None:
                raise ApiError(404, "NOT_FOUND", f"Operation '{name}' not found.")
            return self._op_json(op, self.services[op.service])

    def _op_json(self, op: Operation, svc: JSON) -> JSON:
        return self._operation_json(
            op.name, done=op.done, result=op.result, svc=svc, error=op.error
        )

    @staticmethod
    def _operation_json(
        name: str,
        *,
        done: bool,
        result: JSON | None = None,
        svc: JSON | None = None,
        error: tuple[int, str] | None = None,
    ) -> JSON:
        body: JSON = {"name": name}
        meta = svc if svc is not None else result
        if meta is not None:
            body["metadata"] = {"@type": SERVICE_TYPE, **copy.deepcopy(meta)}
        if done:
            body["done"] = True
            if error is not None:
                body["error"] = {"code": error[0], "message": error[1]}
            elif result is not None:
                body["response"] = {"@type": SERVICE_TYPE, **copy.deepcopy(result)}
        return body


def _normal(template: Any) -> str:
    """A template compared as the API would: defaults and int64-as-string ignored."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in sorted(value.items()) if v not in ("", 0, [], {}, None)}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return value

    return json.dumps(clean(template), sort_keys=True)
