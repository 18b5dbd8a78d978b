"""Cloud SQL point-in-time recovery through the Admin API v1 (``instances.clone``), with httpx.

Runbook 001's ``gcloud sql instances clone SOURCE NEW --point-in-time TIME`` as
API calls: ``getLatestRecoveryTime`` for the window, ``instances.clone`` with a
``cloneContext`` (``destinationInstanceName``, ``pointInTime``), the clone's
operation until DONE, then the new instance until RUNNABLE with an address.
The live instance is never changed; the console never deletes an instance.

Never twice: ``restore`` looks the destination up by its name first (the name
is made from the chosen time), so a restore interrupted after the clone call
(killed, or its answer lost) waits for the instance that exists instead of
cloning again; a 409 ``instanceAlreadyExists`` means the same.

Credentials: Application Default Credentials (``rest.GoogleCredentials``,
scope ``sqlservice.admin``); an ``api_endpoint`` that is plain ``http://`` (a
local test server) is spoken to without a token, so a token is never sent in
clear text.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from providers.base import (
    CommandFailed,
    Conflict,
    InvalidTarget,
    NotFound,
    OutcomeUnknown,
)
from providers.database.rest import (
    REQUEST_TIMEOUT_S,
    RETRY_S,
    GoogleCredentials,
    RestApi,
    google_message,
)
from providers.database.restored import (
    RecoveryWindow,
    parse_rfc3339,
    poll,
    rfc3339,
    shown_time,
)

JSON = dict[str, Any]

DEFAULT_ENDPOINT = "https://sqladmin.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/sqlservice.admin"
#: States in which an instance will not become RUNNABLE by waiting.
_DEAD = frozenset({"FAILED", "SUSPENDED", "MAINTENANCE_FAILED", "ONLINE_MAINTENANCE_FAILED"})


@dataclass(frozen=True)
class CloudSqlInstance:
    """The parts of ``sql#instance`` a restore needs."""

    name: str
    state: str
    connection_name: str
    addresses: tuple[tuple[str, str], ...]
    pitr_enabled: bool
    retention_days: int
    database_version: str

    @classmethod
    def parse(cls, doc: JSON) -> CloudSqlInstance:
        backup = (doc.get("settings") or {}).get("backupConfiguration") or {}
        return cls(
            name=str(doc.get("name", "")),
            state=str(doc.get("state", "")),
            connection_name=str(doc.get("connectionName", "")),
            addresses=tuple(
                (str(a.get("type", "")), str(a.get("ipAddress", "")))
                for a in doc.get("ipAddresses") or []
                if isinstance(a, dict)
            ),
            pitr_enabled=bool(backup.get("pointInTimeRecoveryEnabled")),
            retention_days=int(backup.get("transactionLogRetentionDays") or 0),
            database_version=str(doc.get("databaseVersion", "")),
        )

    def address(self, kind: str) -> str:
        return next((ip for t, ip in self.addresses if t == kind and ip), "")

    def host_for(self, live_host: str, source: CloudSqlInstance) -> str:
        """The host the application reaches this instance at, the way it reaches ``source``.

        A socket folder (``/cloudsql/PROJECT:REGION:SOURCE``, the Cloud Run
        mount) becomes the same folder for this instance's connection name; the
        source's private address becomes this one's private address; anything
        else (its public address, a name) becomes this one's public address.
        """
        if live_host.startswith("/"):
            folder = os.path.dirname(live_host.rstrip("/")) or "/cloudsql"
            return f"{folder}/{self.connection_name}"
        kind = "PRIVATE" if live_host and live_host == source.address("PRIVATE") else "PRIMARY"
        found = self.address(kind) or self.address("PRIMARY") or self.address("PRIVATE")
        if not found:
            raise NotFound(f"Cloud SQL instance {self.name} has no IP address yet")
        return found


class CloudSqlClient:
    """The instance named by ``project`` and ``instance``, as the Admin API sees it."""

    def __init__(
        self,
        project: str,
        instance: str,
        *,
        api_endpoint: str = "",
        credentials: Any = None,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        retry_s: float = RETRY_S,
        poll_s: float = 2.0,
    ) -> None:
        self.project = project
        self.instance = instance
        self.endpoint = (api_endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self.poll_s = poll_s
        self.api = RestApi(
            self.endpoint,
            "the Cloud SQL Admin API",
            GoogleCredentials(self.endpoint, SCOPE, "the Cloud SQL Admin API", credentials),
            google_message,
            request_timeout_s=request_timeout_s,
            retry_s=retry_s,
        )

    @property
    def where(self) -> str:
        return f"Cloud SQL instance {self.instance} (project {self.project})"

    def _path(self, rest: str) -> str:
        return f"/v1/projects/{self.project}/{rest}"

    # ----------------------------------------------------------------- reading

    def source(self) -> CloudSqlInstance:
        doc = self.api.call("GET", self._path(f"instances/{self.instance}"), f"read {self.where}")
        return CloudSqlInstance.parse(doc)

    def find(self, name: str) -> CloudSqlInstance | None:
        """Instance ``name`` in the project, or None when there is none."""
        try:
            doc = self.api.call(
                "GET", self._path(f"instances/{name}"), f"look for Cloud SQL instance {name}"
            )
        except NotFound:
            return None
        return CloudSqlInstance.parse(doc)

    def window(self) -> RecoveryWindow:
        """Earliest and latest recoverable times; ``InvalidTarget`` without PITR on the source."""
        source = self.source()
        if not source.pitr_enabled:
            raise InvalidTarget(
                f"{self.where} has no point-in-time recovery "
                "(settings.backupConfiguration.pointInTimeRecoveryEnabled is false)"
            )
        doc = self.api.call(
            "POST",
            self._path(f"instances/{self.instance}/getLatestRecoveryTime"),
            f"read the latest recovery time of {self.where}",
        )
        latest = parse_rfc3339(str(doc["latestRecoveryTime"]))
        raw = doc.get("earliestRecoveryTime")
        if raw:
            earliest = parse_rfc3339(str(raw))
        else:  # older API versions: the log retention is the bound
            from datetime import timedelta

            earliest = latest - timedelta(days=source.retention_days or 7)
        return RecoveryWindow(earliest, latest)

    def operation(self, name: str) -> JSON:
        return self.api.call(
            "GET", self._path(f"operations/{name}"), f"read Cloud SQL operation {name}"
        )

    # ----------------------------------------------------------------- restoring

    def clone(self, destination: str, when: datetime) -> str:
        """Start the clone; the operation's name."""
        body = {
            "cloneContext": {
                "kind": "sql#cloneContext",
                "destinationInstanceName": destination,
                "pointInTime": rfc3339(when),
            }
        }
        doc = self.api.call(
            "POST",
            self._path(f"instances/{self.instance}/clone"),
            f"clone {self.where} as of {shown_time(when)} into {destination}",
            body,
        )
        return str(doc.get("name", ""))

    def wait_operation(self, name: str, timeout_s: float) -> Generator[str, None, JSON]:
        """Until the operation is DONE (bounded); ``CommandFailed`` with its errors."""

        def look() -> tuple[JSON | None, str]:
            doc = self.operation(name)
            status = str(doc.get("status", ""))
            return (doc if status == "DONE" else None), f"operation {name}: {status}"

        doc = yield from poll(look, timeout_s, self.poll_s, f"Cloud SQL operation {name}")
        errors = (doc.get("error") or {}).get("errors") or []
        if errors:
            detail = "; ".join(f"{e.get('code', '')}: {e.get('message', '')}" for e in errors)
            raise CommandFailed(f"Cloud SQL operation {name} failed: {detail}")
        return doc

    def wait_runnable(self, name: str, timeout_s: float) -> Generator[str, None, CloudSqlInstance]:
        """Until instance ``name`` is RUNNABLE with an address (bounded)."""

        def look() -> tuple[CloudSqlInstance | None, str]:
            found = self.find(name)
            if found is None:
                return None, f"{name} does not exist yet"
            if found.state in _DEAD:
                raise CommandFailed(
                    f"Cloud SQL instance {name} is {found.state}: it is kept; look with "
                    f"`gcloud sql instances describe {name} --project {self.project}`"
                )
            ready = found.state == "RUNNABLE" and found.addresses
            return (found if ready else None), f"{name}: {found.state}"

        return (yield from poll(look, timeout_s, self.poll_s, f"Cloud SQL instance {name}"))

    def restore(
        self, destination: str, when: datetime, timeout_s: float
    ) -> Generator[str, None, CloudSqlInstance]:
        """Clone the source as of ``when`` into ``destination`` unless it exists; wait for it."""
        import time

        deadline = time.monotonic() + timeout_s
        existing = self.find(destination)
        if existing is not None:
            yield f"{destination} exists already ({existing.state}): not cloned twice"
        else:
            try:
                op = self.clone(destination, when)
            except Conflict:
                yield f"{destination} exists already: not cloned twice"
            except OutcomeUnknown:
                if self.find(destination) is None:
                    raise
                yield f"{destination} exists: the clone call went through"
            else:
                yield (
                    f"clone of {self.instance} as of {shown_time(when)} into {destination} "
                    f"started (operation {op})"
                )
                yield from self.wait_operation(op, max(0.0, deadline - time.monotonic()))
        return (yield from self.wait_runnable(destination, max(0.0, deadline - time.monotonic())))

    def gcloud(self, destination: str, when: datetime) -> str:
        """The command an operator would type for the same clone."""
        return (
            f"gcloud sql instances clone {self.instance} {destination} "
            f"--point-in-time {rfc3339(when)} --project {self.project}"
        )
