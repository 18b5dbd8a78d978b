"""State of the fake Neon API v2: projects, branches, compute endpoints, operations.

Kept as the JSON the public API exchanges (snake_case, RFC 3339 times, ids
``br-…``, ``ep-…``, operation UUIDs).  Semantics followed (the public v2
reference, "Branching with the Neon API"):

* ``POST /projects/{id}/branches`` with ``parent_timestamp`` creates a branch
  holding the parent's data as of that moment; it answers 201 at once with the
  branch (``current_state`` ``init``, ``pending_state`` ``ready``), the new
  endpoints (``ep-…`` with their ``host``), and the operations it scheduled
  (``create_branch``, then ``start_compute`` for each endpoint), which go
  ``scheduling`` -> ``running`` -> ``finished`` (or ``failed``).  The branch is
  ``ready`` and its endpoint ``active`` when they have finished.
* A ``parent_timestamp`` older than the project's ``history_retention_seconds``
  or in the future is refused with 400; an existing branch name with 409; a
  new operation while the project's operations still run with 423 (the API's
  "project already has running conflicting operations").
* ``GET /projects/{id}/operations`` lists the project's operations newest
  first, ``limit`` (1 to 1000, default 10) at a time, with
  ``pagination.cursor`` to pass as ``cursor`` for the next page (an empty
  page ends it); it has no filter, so a client picks its branch's by
  ``branch_id``.
* Every request needs ``Authorization: Bearer KEY``; without a valid key 401.
* Errors are ``{"code": "...", "message": "..."}``.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.rest import RestError

JSON = dict[str, Any]

REGION = "aws-us-east-2"


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    return datetime.now(UTC)


def _word() -> str:
    return (
        secrets.choice(["cool", "quiet", "late", "bold", "still"])
        + "-"
        + secrets.choice(["darkness", "river", "moon", "field", "frost"])
    )


@dataclass
class Operation:
    doc: JSON
    started: float
    due: float
    fails: str = ""


class NeonStore:
    """Projects with their branches, endpoints and operations, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.api_keys: set[str] = set()
        self.projects: dict[str, JSON] = {}
        self.branches: dict[str, JSON] = {}
        self.endpoints: dict[str, JSON] = {}
        self.operations: dict[str, Operation] = {}
        #: Seconds each operation takes; ``float("inf")`` never finishes.
        self.operation_delay_s = 0.2
        #: The next branch creations' operations fail with this message, in order.
        self.failing_branches: list[str] = []
        #: The host a new endpoint gets (a test points it at a server it runs).
        self.endpoint_host = ""
        #: Every accepted branch creation's body, in order.
        self.created: list[JSON] = []

    # ----------------------------------------------------------------- building state

    def add_project(
        self,
        project_id: str,
        *,
        history_retention_seconds: int = 86400,
        main: str = "main",
        created: datetime | None = None,
    ) -> str:
        """A project with its root branch ``main`` (and its endpoint); returns the branch id."""
        with self.lock:
            at = created or now() - timedelta(days=30)
            self.projects[project_id] = {
                "id": project_id,
                "platform_id": "aws",
                "region_id": REGION,
                "name": project_id,
                "provisioner": "k8s-neonvm",
                "pg_version": 16,
                "history_retention_seconds": history_retention_seconds,
                "created_at": rfc3339(at),
                "updated_at": rfc3339(at),
                "owner_id": "user-1",
                "org_id": "org-1",
            }
            branch = self._branch_doc(project_id, main, None, at)
            branch.update(current_state="ready", default=True, primary=True)
            branch.pop("pending_state", None)
            self.branches[branch["id"]] = branch
            endpoint = self._endpoint_doc(project_id, branch["id"], at)
            endpoint["current_state"] = "idle"
            endpoint.pop("pending_state", None)
            self.endpoints[endpoint["id"]] = endpoint
            return str(branch["id"])

    def _branch_doc(self, project_id: str, name: str, parent: JSON | None, at: datetime) -> JSON:
        doc: JSON = {
            "id": f"br-{_word()}-{secrets.token_hex(4)}",
            "project_id": project_id,
            "name": name,
            "current_state": "init",
            "pending_state": "ready",
            "state_changed_at": rfc3339(at),
            "creation_source": "console",
            "default": False,
            "primary": False,
            "protected": False,
            "cpu_used_sec": 0,
            "compute_time_seconds": 0,
            "active_time_seconds": 0,
            "written_data_bytes": 0,
            "data_transfer_bytes": 0,
            "created_at": rfc3339(at),
            "updated_at": rfc3339(at),
        }
        if parent is not None:
            doc["parent_id"] = parent["id"]
            doc["parent_lsn"] = f"0/{secrets.token_hex(3).upper()}"
        return doc

    def _endpoint_doc(self, project_id: str, branch_id: str, at: datetime) -> JSON:
        ident = f"ep-{_word()}-{secrets.randbelow(900000) + 100000}"
        host = self.endpoint_host or f"{ident}.{REGION.removeprefix('aws-')}.aws.neon.tech"
        return {
            "host": host,
            "id": ident,
            "project_id": project_id,
            "branch_id": branch_id,
            "autoscaling_limit_min_cu": 0.25,
            "autoscaling_limit_max_cu": 2,
            "region_id": REGION,
            "type": "read_write",
            "current_state": "init",
            "pending_state": "active",
            "settings": {},
            "pooler_enabled": False,
            "pooler_mode": "transaction",
            "disabled": False,
            "passwordless_access": True,
            "creation_source": "console",
            "created_at": rfc3339(at),
            "updated_at": rfc3339(at),
            "proxy_host": f"{REGION.removeprefix('aws-')}.aws.neon.tech",
            "suspend_timeout_seconds": 0,
            "provisioner": "k8s-neonvm",
        }

    # ----------------------------------------------------------------- reading

    def check_key(self, headers: dict[str, str]) -> None:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or key.strip() not in self.api_keys:
            raise RestError(401, "", "authentication required")

    def project(self, project_id: str) -> JSON:
        with self.lock:
            self.tick()
            found = self.projects.get(project_id)
            if found is None:
                raise RestError(404, "", "project not found")
            return copy.deepcopy(found)

    def list_branches(self, project_id: str) -> JSON:
        with self.lock:
            self.project(project_id)
            mine = [
                copy.deepcopy(b) for b in self.branches.values() if b["project_id"] == project_id
            ]
            return {"branches": mine, "annotations": {}}

    def branch(self, project_id: str, branch_id: str) -> JSON:
        with self.lock:
            self.project(project_id)
            found = self.branches.get(branch_id)
            if found is None or found["project_id"] != project_id:
                raise RestError(404, "", "branch not found")
            return {"branch": copy.deepcopy(found), "annotation": {"value": {}}}

    def list_endpoints(self, project_id: str, branch_id: str = "") -> JSON:
        with self.lock:
            self.project(project_id)
            if branch_id:
                self.branch(project_id, branch_id)
            mine = [
                copy.deepcopy(e)
                for e in self.endpoints.values()
                if e["project_id"] == project_id and (not branch_id or e["branch_id"] == branch_id)
            ]
            return {"endpoints": mine}

    def operation(self, project_id: str, op_id: str) -> JSON:
        with self.lock:
            self.project(project_id)
            found = self.operations.get(op_id)
            if found is None or found.doc["project_id"] != project_id:
                raise RestError(404, "", "operation not found")
            return {"operation": copy.deepcopy(found.doc)}

    def list_operations(self, project_id: str, limit: str | None, cursor: str | None) -> JSON:
        """Newest first, ``limit`` a page; the cursor is the last operation handed out."""
        try:
            count = int(limit) if limit is not None else 10
        except ValueError:
            raise RestError(400, "", f"limit: {limit!r} is not an integer") from None
        if not 1 <= count <= 1000:
            raise RestError(400, "", "limit: must be between 1 and 1000")
        with self.lock:
            self.project(project_id)
            newest = list(reversed(self._mine(project_id)))
            ids = [op.doc["id"] for op in newest]
            start = 0
            if cursor:
                if cursor not in ids:
                    raise RestError(400, "", f"cursor: {cursor!r} is not valid")
                start = ids.index(cursor) + 1
            page = newest[start : start + count]
            return {
                "operations": [copy.deepcopy(op.doc) for op in page],
                "pagination": {"cursor": page[-1].doc["id"] if page else ""},
            }

    # ----------------------------------------------------------------- branch creation

    def create_branch(self, project_id: str, body: JSON | None) -> JSON:
        body = body or {}
        spec = body.get("branch") or {}
        if not isinstance(spec, dict):
            raise RestError(400, "", "branch: must be an object")
        with self.lock:
            project = self.project(project_id)
            if any(
                op.doc["status"] not in ("finished", "failed", "error")
                for op in self._mine(project_id)
            ):
                raise RestError(
                    423,
                    "",
                    "project already has running conflicting operations, scheduling of new "
                    "ones is prohibited",
                )
            parent = self._parent(project_id, str(spec.get("parent_id") or ""))
            name = str(spec.get("name") or f"br-{_word()}")
            if any(
                b["name"] == name for b in self.branches.values() if b["project_id"] == project_id
            ):
                raise RestError(409, "", f"branch with name {name!r} already exists")
            moment = now()
            doc = self._branch_doc(project_id, name, parent, moment)
            raw_time = spec.get("parent_timestamp")
            if raw_time:
                when = self._timestamp(str(raw_time))
                oldest = moment - timedelta(seconds=int(project["history_retention_seconds"]))
                if when > moment:
                    raise RestError(400, "", "parent_timestamp must not be in the future")
                if when < oldest:
                    raise RestError(
                        400,
                        "",
                        f"timestamp {rfc3339(when)} precedes your project's history retention "
                        f"window of {int(project['history_retention_seconds']) // 3600} hours, "
                        f"try a more recent timestamp (no earlier than {rfc3339(oldest)})",
                    )
                doc["parent_timestamp"] = rfc3339(when)
            self.created.append(copy.deepcopy(body))
            self.branches[doc["id"]] = doc
            endpoints = []
            for wanted in body.get("endpoints") or []:
                endpoint = self._endpoint_doc(project_id, doc["id"], moment)
                endpoint["type"] = str((wanted or {}).get("type") or "read_write")
                self.endpoints[endpoint["id"]] = endpoint
                endpoints.append(endpoint)
            fails = self.failing_branches.pop(0) if self.failing_branches else ""
            ops = [self._schedule(project_id, doc["id"], "", "create_branch", 0, fails)]
            for i, endpoint in enumerate(endpoints, start=1):
                ops.append(
                    self._schedule(project_id, doc["id"], endpoint["id"], "start_compute", i)
                )
            return {
                "branch": copy.deepcopy(doc),
                "endpoints": copy.deepcopy(endpoints),
                "operations": [copy.deepcopy(op.doc) for op in ops],
                "roles": [{"branch_id": doc["id"], "name": "app", "protected": False}],
                "databases": [{"branch_id": doc["id"], "name": "app", "owner_name": "app"}],
                "connection_uris": [
                    {
                        "connection_uri": f"postgresql://app:npg_{secrets.token_hex(8)}@"
                        f"{e['host']}/app?sslmode=require",
                        "connection_parameters": {"host": e["host"], "database": "app"},
                    }
                    for e in endpoints
                ],
            }

    def _mine(self, project_id: str) -> list[Operation]:
        self.tick()
        return [op for op in self.operations.values() if op.doc["project_id"] == project_id]

    def _parent(self, project_id: str, parent_id: str) -> JSON:
        mine = [b for b in self.branches.values() if b["project_id"] == project_id]
        if not parent_id:
            return next(b for b in mine if b.get("default"))
        found = next((b for b in mine if b["id"] == parent_id), None)
        if found is None:
            raise RestError(404, "", f"branch {parent_id} not found")
        return found

    @staticmethod
    def _timestamp(text: str) -> datetime:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise RestError(400, "", f"parent_timestamp: {text!r} is not a date-time") from None
        if when.tzinfo is None:
            raise RestError(400, "", f"parent_timestamp: {text!r} has no time zone")
        return when.astimezone(UTC)

    def _schedule(
        self,
        project_id: str,
        branch_id: str,
        endpoint_id: str,
        action: str,
        order: int,
        fails: str = "",
    ) -> Operation:
        start = time.monotonic() + (order * self.operation_delay_s if order else 0.0)
        doc: JSON = {
            "id": str(uuid.uuid4()),
            "project_id": project_id,
            "branch_id": branch_id,
            "action": action,
            "status": "scheduling",
            "failures_count": 0,
            "created_at": rfc3339(now()),
            "updated_at": rfc3339(now()),
            "total_duration_ms": 0,
        }
        if endpoint_id:
            doc["endpoint_id"] = endpoint_id
        op = Operation(doc, start, start + self.operation_delay_s, fails)
        self.operations[doc["id"]] = op
        return op

    def tick(self) -> None:
        """Move the operations on; apply what the finished ones did."""
        with self.lock:
            moment = time.monotonic()
            # A failed create_branch fails its branch's later operations too.
            failed_branches = {
                op.doc["branch_id"]
                for op in self.operations.values()
                if op.doc["status"] == "failed"
            }
            for op in self.operations.values():
                doc = op.doc
                if doc["status"] in ("finished", "failed"):
                    continue
                if doc["branch_id"] in failed_branches:
                    doc.update(status="failed", error="the branch could not be created")
                    continue
                if moment < op.started:
                    continue
                if moment < op.due:
                    doc["status"] = "running"
                    continue
                doc["updated_at"] = rfc3339(now())
                doc["total_duration_ms"] = int((op.due - op.started) * 1000)
                if op.fails:
                    doc.update(status="failed", error=op.fails, failures_count=1)
                    failed_branches.add(doc["branch_id"])
                    self.branches[doc["branch_id"]]["current_state"] = "init"
                    continue
                doc["status"] = "finished"
                if doc["action"] == "create_branch":
                    branch = self.branches[doc["branch_id"]]
                    branch["current_state"] = "ready"
                    branch.pop("pending_state", None)
                elif doc["action"] == "start_compute":
                    endpoint = self.endpoints[doc["endpoint_id"]]
                    endpoint["current_state"] = "active"
                    endpoint.pop("pending_state", None)
