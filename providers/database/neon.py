"""Neon point-in-time recovery through the API v2: a branch from the parent at a moment.

Runbook 004's ``neon branches create --parent main@TIME`` (``--restore-to-time``)
as API calls: the project's ``history_retention_seconds`` gives the window,
``POST /projects/{id}/branches`` with ``parent_timestamp`` and one
``read_write`` endpoint creates the restored branch, its operations are
followed until finished, and the new endpoint's host is what the new DSN
points at.  The parent branch is never changed; the console never deletes a
branch.

Never twice: ``restore`` looks the branch up by its name first (the name is
made from the chosen time), so a restore interrupted after the create call
waits for the branch that exists instead of creating another; a 409 for the
name means the same.  The API key comes from the environment variable
``api_key_env`` names and is never part of a message; the connection URIs the
API answers with (they hold a password) are never kept.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from providers.base import CommandFailed, Conflict, InvalidTarget, NotFound, OutcomeUnknown
from providers.database.rest import REQUEST_TIMEOUT_S, RETRY_S, RestApi
from providers.database.restored import (
    RecoveryWindow,
    parse_rfc3339,
    poll,
    rfc3339,
    shown_time,
)

JSON = dict[str, Any]

DEFAULT_ENDPOINT = "https://console.neon.tech/api/v2"
_FAILED = frozenset({"failed", "error", "cancelled"})
#: Operations read a page when listing a project's (the API allows 1 to 1000).
_PAGE = 100
#: Pages read at most when looking for a branch's operations (newest first).
_MAX_PAGES = 10


def _message(doc: Any) -> str:
    if not isinstance(doc, dict):
        return ""
    code = str(doc.get("code") or "")
    text = str(doc.get("message") or "")
    return f"{text} ({code})" if code else text


def api_key_from(env_name: str, environ: Mapping[str, str]) -> str:
    """The key in ``$env_name``; ``InvalidTarget`` (exit 2) naming the variable when unset."""
    key = environ.get(env_name, "").strip()
    if not key:
        state = "is empty" if env_name in environ else "is not set"
        raise InvalidTarget(
            f"environment variable {env_name} {state}: it must hold the Neon API key "
            "([services.database.pitr.neon] api_key_env)"
        )
    return key


@dataclass(frozen=True)
class NeonBranch:
    """A branch and its read-write endpoint, as far as a restore needs them."""

    id: str
    name: str
    state: str
    parent_id: str
    parent_timestamp: str
    endpoint_id: str
    endpoint_state: str
    host: str
    created_at: str = ""

    @property
    def ready(self) -> bool:
        return self.state == "ready" and bool(self.host) and self.endpoint_state != "init"


class NeonClient:
    """Project ``project_id``; ``parent_branch`` (a name or an id) or the default branch."""

    def __init__(
        self,
        project_id: str,
        api_key: str,
        *,
        api_endpoint: str = "",
        parent_branch: str = "",
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        retry_s: float = RETRY_S,
        poll_s: float = 1.0,
    ) -> None:
        self.project_id = project_id
        self.parent_branch = parent_branch
        self.poll_s = poll_s
        self._key = api_key
        self.api = RestApi(
            (api_endpoint or DEFAULT_ENDPOINT).rstrip("/"),
            "the Neon API",
            lambda: {"Authorization": f"Bearer {self._key}"},
            _message,
            request_timeout_s=request_timeout_s,
            retry_s=retry_s,
        )

    @property
    def where(self) -> str:
        return f"Neon project {self.project_id}"

    def _path(self, rest: str = "") -> str:
        return f"/projects/{self.project_id}{rest}"

    # ----------------------------------------------------------------- reading

    def project(self) -> JSON:
        doc = self.api.call("GET", self._path(), f"read {self.where}")
        return dict(doc.get("project") or {})

    def window(self, now: datetime) -> RecoveryWindow:
        """From ``now`` minus the project's history retention to ``now``."""
        seconds = int(self.project().get("history_retention_seconds") or 0)
        if seconds <= 0:
            raise InvalidTarget(
                f"{self.where} keeps no history (history_retention_seconds is 0): "
                "nothing to restore to a point in time"
            )
        return RecoveryWindow(now - timedelta(seconds=seconds), now)

    def branches(self) -> list[JSON]:
        doc = self.api.call("GET", self._path("/branches"), f"list the branches of {self.where}")
        return [b for b in doc.get("branches") or [] if isinstance(b, dict)]

    def parent(self) -> JSON:
        """The branch restored from: ``parent_branch`` by id or name, else the default one."""
        branches = self.branches()
        wanted = self.parent_branch
        if wanted:
            found = [b for b in branches if wanted in (b.get("id"), b.get("name"))]
            if not found:
                raise NotFound(f"{self.where} has no branch {wanted!r} (parent_branch)")
            return found[0]
        found = [b for b in branches if b.get("default") or b.get("primary")]
        if not found:
            raise NotFound(f"{self.where} has no default branch: set parent_branch")
        return found[0]

    def endpoints(self, branch_id: str) -> list[JSON]:
        doc = self.api.call(
            "GET",
            self._path(f"/branches/{branch_id}/endpoints"),
            f"list the endpoints of branch {branch_id}",
        )
        return [e for e in doc.get("endpoints") or [] if isinstance(e, dict)]

    def _view(self, branch: JSON) -> NeonBranch:
        writers = [e for e in self.endpoints(str(branch["id"])) if e.get("type") == "read_write"]
        endpoint = writers[0] if writers else {}
        return NeonBranch(
            id=str(branch.get("id", "")),
            name=str(branch.get("name", "")),
            state=str(branch.get("current_state", "")),
            parent_id=str(branch.get("parent_id", "")),
            parent_timestamp=str(branch.get("parent_timestamp", "")),
            endpoint_id=str(endpoint.get("id", "")),
            endpoint_state=str(endpoint.get("current_state", "")),
            host=str(endpoint.get("host", "")),
            created_at=str(branch.get("created_at", "")),
        )

    def find(self, name: str) -> NeonBranch | None:
        """The branch called ``name`` with its read-write endpoint, or None."""
        found = [b for b in self.branches() if b.get("name") == name]
        return self._view(found[0]) if found else None

    def operation(self, op_id: str) -> JSON:
        doc = self.api.call(
            "GET", self._path(f"/operations/{op_id}"), f"read Neon operation {op_id}"
        )
        return dict(doc.get("operation") or {})

    def branch_operations(self, branch_id: str, since: str = "") -> list[JSON]:
        """The operations of ``branch_id``, newest first: ``GET /operations`` has no filter,
        so pages are read until one reaches before ``since`` (the branch's creation)."""
        found: list[JSON] = []
        cursor = ""
        for _ in range(_MAX_PAGES):
            query = f"?limit={_PAGE}" + (f"&cursor={cursor}" if cursor else "")
            doc = self.api.call(
                "GET", self._path(f"/operations{query}"), f"list the operations of {self.where}"
            )
            page = [o for o in doc.get("operations") or [] if isinstance(o, dict)]
            found += [o for o in page if o.get("branch_id") == branch_id]
            cursor = str((doc.get("pagination") or {}).get("cursor") or "")
            older = since and page and str(page[-1].get("created_at", "")) < since
            if not page or not cursor or older:
                break
        return found

    def failed_operation(self, branch: NeonBranch) -> str:
        """One line naming the branch's failed operation ("" when none failed): the latest
        operation of each kind counts (Neon may retry a failed one)."""
        latest: dict[tuple[str, str], JSON] = {}
        for doc in self.branch_operations(branch.id, branch.created_at):
            latest.setdefault((str(doc.get("action")), str(doc.get("endpoint_id", ""))), doc)
        for doc in reversed(list(latest.values())):  # the first to fail: the cause
            if str(doc.get("status", "")) in _FAILED:
                return _failure(doc)
        return ""

    # ----------------------------------------------------------------- restoring

    def create(self, name: str, when: datetime, parent_id: str) -> tuple[str, list[str]]:
        """Create the branch (with a read-write endpoint); its id and its operations' ids."""
        body = {
            "branch": {"parent_id": parent_id, "parent_timestamp": rfc3339(when), "name": name},
            "endpoints": [{"type": "read_write"}],
        }
        doc = self.api.call(
            "POST",
            self._path("/branches"),
            f"create branch {name} of {self.where} as of {shown_time(when)}",
            body,
        )
        ops = [str(o.get("id")) for o in doc.get("operations") or [] if isinstance(o, dict)]
        return str((doc.get("branch") or {}).get("id", "")), ops

    def wait_operations(self, ids: list[str], timeout_s: float) -> Generator[str, None, None]:
        """Until every operation finished (bounded); ``CommandFailed`` when one failed."""
        left = list(ids)

        def look() -> tuple[bool | None, str]:
            for op_id in list(left):
                doc = self.operation(op_id)
                status = str(doc.get("status", ""))
                if status in _FAILED:
                    raise CommandFailed(_failure(doc))
                if status == "finished":
                    left.remove(op_id)
                else:
                    return None, f"{doc.get('action', 'operation')}: {status}"
            return True, ""

        yield from poll(look, timeout_s, self.poll_s, "the Neon operations")

    def wait_ready(self, name: str, timeout_s: float) -> Generator[str, None, NeonBranch]:
        """Until branch ``name`` is ready with a read-write endpoint that has a host; a
        failed operation of the branch fails the wait at once (not a timeout), also when
        the operations' ids were lost with a console killed after the create."""

        def look() -> tuple[NeonBranch | None, str]:
            found = self.find(name)
            if found is None:
                return None, f"branch {name} does not exist yet"
            if not found.endpoint_id:
                raise CommandFailed(
                    f"Neon branch {name} ({found.id}) has no read-write endpoint: add one "
                    f"(`neon branches add-compute {name} --project-id {self.project_id}`) "
                    "and resume"
                )
            if found.ready:
                return found, ""
            failed = self.failed_operation(found)
            if failed:
                raise CommandFailed(f"{failed} (branch {name} is not ready)")
            return None, f"branch {name}: {found.state}, endpoint {found.endpoint_state}"

        return (yield from poll(look, timeout_s, self.poll_s, f"Neon branch {name}"))

    def restore(
        self, name: str, when: datetime, timeout_s: float
    ) -> Generator[str, None, NeonBranch]:
        """Branch the parent as of ``when`` into ``name`` unless it exists; wait for it."""
        deadline = time.monotonic() + timeout_s
        existing = self.find(name)
        if existing is not None:
            yield f"branch {name} exists already ({existing.state}): not created twice"
        else:
            parent = self.parent()
            try:
                branch_id, ops = self.create(name, when, str(parent["id"]))
            except Conflict:
                yield f"branch {name} exists already: not created twice"
            except OutcomeUnknown:
                if self.find(name) is None:
                    raise
                yield f"branch {name} exists: the create call went through"
            else:
                yield (
                    f"branch {name} ({branch_id}) of {parent.get('name')} as of "
                    f"{shown_time(when)} created; {len(ops)} operation(s) running"
                )
                yield from self.wait_operations(ops, max(0.0, deadline - time.monotonic()))
        return (yield from self.wait_ready(name, max(0.0, deadline - time.monotonic())))

    def cli(self, name: str, when: datetime) -> str:
        """The command an operator would type for the same branch."""
        parent = self.parent_branch or str(self.parent().get("name") or "")
        return (
            f"neon branches create --project-id {self.project_id} --name {name} "
            f"--parent {parent}@{rfc3339(when)} --compute"
        )


def _failure(doc: Mapping[str, Any]) -> str:
    """ "Neon operation ACTION ID failed: ERROR", one line."""
    text = f"Neon operation {doc.get('action', '')} {doc.get('id', '')} {doc.get('status', '')}"
    error = " ".join(str(doc.get("error") or "").split())
    return f"{text}: {error}" if error else text


__all__ = ["NeonBranch", "NeonClient", "api_key_from", "parse_rfc3339"]
