"""State of the fake Cloud SQL Admin API v1: instances, clones to a point in time, operations.

Everything is kept as the JSON the public REST API exchanges (lowerCamelCase,
``kind`` on every resource, RFC 3339 times with ``Z``).  Semantics followed
(from the public v1 reference and ``gcloud sql instances clone``):

* ``instances.clone`` is called on the *source* instance with a
  ``cloneContext``; it answers at once with an Operation (``sql#operation``,
  ``operationType`` CLONE, ``status`` PENDING, then RUNNING, then DONE) and
  the destination instance exists from that moment in state
  ``PENDING_CREATE`` without addresses; it becomes ``RUNNABLE`` with its
  address when the operation is DONE.  An operation that fails is DONE with
  ``error.errors[]`` and leaves the destination ``FAILED``.
* A destination name that exists already is refused with 409
  (``instanceAlreadyExists``); a ``pointInTime`` outside what the source can
  be recovered to, or on a source without point-in-time recovery, with 400;
  an unknown source with 404 (``instanceDoesNotExist``).
* ``getLatestRecoveryTime`` answers the latest (a few seconds behind now: the
  transaction log is shipped continuously) and the earliest recoverable time
  (the start of the log retention, or the instance's creation if later).
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.rest import RestError

JSON = dict[str, Any]

DEFAULT_REGION = "asia-northeast1"


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    raw = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise RestError(
            400, "INVALID_ARGUMENT", f"Invalid value at 'point_in_time' ({text!r})", "invalid"
        ) from None
    if when.tzinfo is None:
        raise RestError(
            400, "INVALID_ARGUMENT", f"Invalid value at 'point_in_time' ({text!r})", "invalid"
        )
    return when.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Operation:
    name: str
    project: str
    source: str
    destination: str
    created: datetime
    due: float
    started: float
    error: tuple[str, str] | None = None
    done: bool = False
    ended: datetime | None = None
    user: str = "oncall@example.com"
    extra: JSON = field(default_factory=dict)


class CloudSqlStore:
    """Projects' instances and operations, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        #: ``project/instance`` -> the instance JSON.
        self.instances: dict[str, JSON] = {}
        #: The transaction log's earliest time kept, per ``project/instance``.
        self.earliest: dict[str, datetime] = {}
        self.operations: dict[str, Operation] = {}
        #: Seconds a clone takes; ``float("inf")`` never finishes.
        self.clone_delay_s = 0.3
        #: How far behind now the latest recoverable time is.
        self.log_lag_s = 2.0
        #: The next clones' operations fail with these (code, message), in order.
        self.failing_clones: list[tuple[str, str]] = []
        #: The address a clone gets (a test points it at a server it runs); else 34.84.0.N.
        self.clone_ip = ""
        #: Every accepted clone request, in order: (source, cloneContext).
        self.clones: list[tuple[str, JSON]] = []
        self._next_ip = 10

    # ----------------------------------------------------------------- building state

    def add_instance(
        self,
        project: str,
        name: str,
        *,
        region: str = DEFAULT_REGION,
        pitr: bool = True,
        retention_days: int = 7,
        created: datetime | None = None,
        ip: str = "34.84.0.2",
        private_ip: str = "",
        database_version: str = "POSTGRES_16",
    ) -> JSON:
        with self.lock:
            at = created or now() - timedelta(days=30)
            doc = self._instance_doc(project, name, region, database_version, at)
            doc["state"] = "RUNNABLE"
            doc["ipAddresses"] = self._addresses(ip, private_ip)
            backup = doc["settings"]["backupConfiguration"]
            backup["enabled"] = True
            backup["pointInTimeRecoveryEnabled"] = pitr
            backup["transactionLogRetentionDays"] = retention_days
            self.instances[f"{project}/{name}"] = doc
            self.earliest[f"{project}/{name}"] = max(at, now() - timedelta(days=retention_days))
            return doc

    def _instance_doc(
        self, project: str, name: str, region: str, version: str, created: datetime
    ) -> JSON:
        return {
            "kind": "sql#instance",
            "state": "PENDING_CREATE",
            "databaseVersion": version,
            "settings": {
                "kind": "sql#settings",
                "tier": "db-custom-2-7680",
                "availabilityType": "ZONAL",
                "settingsVersion": "1",
                "ipConfiguration": {"ipv4Enabled": True, "requireSsl": False},
                "backupConfiguration": {
                    "kind": "sql#backupConfiguration",
                    "startTime": "18:00",
                    "enabled": False,
                    "pointInTimeRecoveryEnabled": False,
                    "transactionLogRetentionDays": 7,
                    "backupRetentionSettings": {"retentionUnit": "COUNT", "retainedBackups": 7},
                },
            },
            "etag": uuid.uuid4().hex,
            "ipAddresses": [],
            "instanceType": "CLOUD_SQL_INSTANCE",
            "backendType": "SECOND_GEN",
            "connectionName": f"{project}:{region}:{name}",
            "name": name,
            "project": project,
            "region": region,
            "gceZone": f"{region}-b",
            "selfLink": f"https://sqladmin.googleapis.com/v1/projects/{project}/instances/{name}",
            "serviceAccountEmailAddress": f"p-{project}@gcp-sa-cloud-sql.iam.gserviceaccount.com",
            "createTime": rfc3339(created),
        }

    @staticmethod
    def _addresses(ip: str, private_ip: str = "") -> list[JSON]:
        found = [{"type": "PRIMARY", "ipAddress": ip}] if ip else []
        if private_ip:
            found.append({"type": "PRIVATE", "ipAddress": private_ip})
        return found

    # ----------------------------------------------------------------- reading

    def instance(self, project: str, name: str) -> JSON:
        with self.lock:
            self.tick()
            found = self.instances.get(f"{project}/{name}")
            if found is None:
                raise RestError(
                    404,
                    "NOT_FOUND",
                    "The Cloud SQL instance does not exist.",
                    "instanceDoesNotExist",
                )
            return copy.deepcopy(found)

    def recovery_times(self, project: str, name: str) -> tuple[datetime, datetime]:
        with self.lock:
            doc = self.instance(project, name)
            if not doc["settings"]["backupConfiguration"].get("pointInTimeRecoveryEnabled"):
                raise RestError(
                    400,
                    "FAILED_PRECONDITION",
                    "Point-in-time recovery is not enabled on this instance.",
                    "pointInTimeRecoveryDisabled",
                )
            return self.earliest[f"{project}/{name}"], now() - timedelta(seconds=self.log_lag_s)

    def latest_recovery_time(self, project: str, name: str) -> JSON:
        earliest, latest = self.recovery_times(project, name)
        return {
            "kind": "sql#getLatestRecoveryTime",
            "latestRecoveryTime": rfc3339(latest),
            "earliestRecoveryTime": rfc3339(earliest),
        }

    # ----------------------------------------------------------------- clone

    def clone(self, project: str, source: str, body: JSON | None) -> JSON:
        context = (body or {}).get("cloneContext")
        if not isinstance(context, dict):
            raise RestError(400, "INVALID_ARGUMENT", "Missing cloneContext.", "required")
        destination = str(context.get("destinationInstanceName") or "")
        if not destination:
            raise RestError(400, "INVALID_ARGUMENT", "Missing destinationInstanceName.", "required")
        with self.lock:
            src = self.instance(project, source)
            if f"{project}/{destination}" in self.instances:
                raise RestError(
                    409,
                    "ALREADY_EXISTS",
                    "The Cloud SQL instance already exists.",
                    "instanceAlreadyExists",
                )
            raw_time = context.get("pointInTime")
            if raw_time:
                when = parse_time(str(raw_time))
                earliest, latest = self.recovery_times(project, source)
                if not earliest <= when <= latest:
                    raise RestError(
                        400,
                        "INVALID_ARGUMENT",
                        f"Invalid request: the point in time {rfc3339(when)} is outside the "
                        f"recoverable range of {source} ({rfc3339(earliest)} to "
                        f"{rfc3339(latest)}).",
                        "invalid",
                    )
            self.clones.append((source, copy.deepcopy(context)))
            doc = self._instance_doc(
                project, destination, src["region"], src["databaseVersion"], now()
            )
            doc["settings"] = copy.deepcopy(src["settings"])
            self.instances[f"{project}/{destination}"] = doc
            self.earliest[f"{project}/{destination}"] = now()
            op = Operation(
                name=str(uuid.uuid4()),
                project=project,
                source=source,
                destination=destination,
                created=now(),
                started=time.monotonic(),
                due=time.monotonic() + self.clone_delay_s,
                error=self.failing_clones.pop(0) if self.failing_clones else None,
            )
            self.operations[op.name] = op
            return self.public_operation(op)

    def tick(self) -> None:
        """Finish the operations that are due."""
        with self.lock:
            moment = time.monotonic()
            for op in self.operations.values():
                if op.done or moment < op.due:
                    continue
                op.done = True
                op.ended = now()
                target = self.instances[f"{op.project}/{op.destination}"]
                if op.error is not None:
                    target["state"] = "FAILED"
                    continue
                target["state"] = "RUNNABLE"
                ip = self.clone_ip or f"34.84.0.{self._next_ip}"
                self._next_ip += 1
                target["ipAddresses"] = self._addresses(ip)
                target["etag"] = uuid.uuid4().hex

    def operation(self, project: str, name: str) -> JSON:
        with self.lock:
            self.tick()
            op = self.operations.get(name)
            if op is None or op.project != project:
                raise RestError(
                    404, "NOT_FOUND", "The operation does not exist.", "operationDoesNotExist"
                )
            return self.public_operation(op)

    def public_operation(self, op: Operation) -> JSON:
        elapsed = time.monotonic() - op.started
        span = op.due - op.started
        if op.done:
            status = "DONE"
        elif elapsed < min(span / 3, 0.1):
            status = "PENDING"
        else:
            status = "RUNNING"
        base = f"https://sqladmin.googleapis.com/v1/projects/{op.project}"
        doc: JSON = {
            "kind": "sql#operation",
            # The instance the call was made on (the source of the clone).
            "targetLink": f"{base}/instances/{op.source}",
            "status": status,
            "user": op.user,
            "insertTime": rfc3339(op.created),
            "operationType": "CLONE",
            "name": op.name,
            "targetId": op.source,
            "selfLink": f"{base}/operations/{op.name}",
            "targetProject": op.project,
        }
        if status != "PENDING":
            doc["startTime"] = rfc3339(op.created)
        if op.done and op.ended is not None:
            doc["endTime"] = rfc3339(op.ended)
        if op.done and op.error is not None:
            code, message = op.error
            doc["error"] = {
                "kind": "sql#operationErrors",
                "errors": [{"kind": "sql#operationError", "code": code, "message": message}],
            }
        return doc
