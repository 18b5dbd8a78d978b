"""The HTTP side of the fake Cloud Run Admin API v2 (and Cloud Monitoring's timeSeries.list).

A ``tests.fakes.rest.RestServer`` (stdlib HTTP on 127.0.0.1) answering the REST paths the
official ``google-cloud-run`` client calls with ``transport="rest"``:

=======  ==================================================================
GET      ``/v2/projects/P/locations/R/services/S``
GET      ``/v2/projects/P/locations/R/services/S/revisions`` (``pageSize``, ``pageToken``)
GET      ``/v2/projects/P/locations/R/services/S/revisions/REV``
PATCH    ``/v2/projects/P/locations/R/services/S`` (body: the Service) -> Operation
GET      ``/v2/projects/P/locations/R/operations/ID``
GET      ``/v3/projects/P/timeSeries`` (Cloud Monitoring, see ``monitoring.py``)
GET      ``/v1/projects/P/secrets/S/versions/V:access`` (Secret Manager: what a
         revision's ``secretKeyRef`` resolves to; the console never asks)
=======  ==================================================================

Errors have the API's shape and status codes (404 NOT_FOUND, 403
PERMISSION_DENIED, 409 ABORTED, 400 INVALID_ARGUMENT, 500, 503).  Tests can
inject an error for the next matching request(s) with ``inject``, and look at
every request received in ``requests``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.cloudrun_server.monitoring import MonitoringData
from tests.cloudrun_server.store import GRPC_HTTP, ApiError, CloudRunStore, short
from tests.fakes.rest import Injected, Received, RestError, RestServer, google_error

JSON = dict[str, Any]

_SERVICE = re.compile(r"^/v2/projects/([^/]+)/locations/([^/]+)/services/([^/:]+)$")
_REVISIONS = re.compile(r"^/v2/projects/([^/]+)/locations/([^/]+)/services/([^/]+)/revisions$")
_REVISION = re.compile(
    r"^/v2/projects/([^/]+)/locations/([^/]+)/services/([^/]+)/revisions/([^/:]+)$"
)
_OPERATION = re.compile(r"^/v2/projects/([^/]+)/locations/([^/]+)/operations/([^/:]+)$")
_TIME_SERIES = re.compile(r"^/v3/projects/([^/]+)/timeSeries$")
_SECRET_ACCESS = re.compile(r"^/v1/projects/([^/]+)/secrets/([^/]+)/versions/([^/:]+):access$")

#: Revisions per page at most, whatever the client asks: small, so paging is always
#: exercised (AIP-158 lets a server return fewer items than asked for).
MAX_PAGE_SIZE = 2


class CloudRunServer(RestServer):
    """A running fake: ``store`` holds the state, ``monitoring`` the metrics; ``url``."""

    def __init__(self) -> None:
        self.store = CloudRunStore()
        self.monitoring = MonitoringData()
        self.max_page_size = MAX_PAGE_SIZE
        super().__init__()

    # ----------------------------------------------------------------- test knobs

    def inject(  # type: ignore[override]  # Cloud Run's tests name the status, not an error
        self,
        method: str,
        path_regex: str,
        http: int,
        status: str = "",
        message: str = "injected error",
        *,
        times: int = 1,
    ) -> Injected:
        """Answer the next ``times`` requests matching ``method`` and ``path_regex`` so."""
        status = status or {
            400: "INVALID_ARGUMENT",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            409: "ABORTED",
            429: "RESOURCE_EXHAUSTED",
            500: "INTERNAL",
            503: "UNAVAILABLE",
        }.get(http, "UNKNOWN")
        return self._inject(method, path_regex, ApiError(http, status, message), times)

    @contextmanager
    def paused_operations(self) -> Iterator[None]:
        """Operations started inside the block never finish until it ends."""
        saved = self.store.operation_delay_s
        self.store.operation_delay_s = float("inf")
        try:
            yield
        finally:
            self.store.operation_delay_s = saved

    # ----------------------------------------------------------------- routing

    def error_body(self, err: RestError) -> JSON:
        return google_error(err)

    def respond(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: JSON | None,
        headers: dict[str, str],
    ) -> tuple[int, JSON]:
        return 200, self._route(method, path, query, body)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: JSON | None
    ) -> JSON:
        store = self.store
        flat = {k: v[0] for k, v in query.items() if v}
        if method == "GET" and (m := _SERVICE.match(path)):
            project, region, service = m.groups()
            with store.lock:
                svc = store.service(project, region, service, "run.services.get")
                return store.public_service(svc["name"])
        if method == "PATCH" and (m := _SERVICE.match(path)):
            project, region, service = m.groups()
            if body is None:
                raise ApiError(400, "INVALID_ARGUMENT", "Request body is required.")
            named = body.get("name", "")
            if named and short(named) != service:
                raise ApiError(400, "INVALID_ARGUMENT", f"service.name {named!r} does not match")
            return store.update(project, region, service, body, flat)
        if method == "GET" and (m := _REVISIONS.match(path)):
            project, region, service = m.groups()
            return self._list_revisions(project, region, service, flat)
        if method == "GET" and (m := _REVISION.match(path)):
            project, region, service, rev = m.groups()
            with store.lock:
                svc = store.service(project, region, service, "run.revisions.get")
                found = store.revisions.get(f"{svc['name']}/revisions/{rev}")
                if found is None:
                    raise ApiError(404, "NOT_FOUND", f"Revision '{rev}' does not exist.")
                return store.public_revision(found)
        if method == "GET" and (m := _OPERATION.match(path)):
            project, region, op_id = m.groups()
            return store.operation(project, region, op_id)
        if method == "GET" and (m := _TIME_SERIES.match(path)):
            (project,) = m.groups()
            store.check_project(project, "monitoring.timeSeries.list", f"projects/{project}")
            return self.monitoring.query(project, query)
        if method == "GET" and (m := _SECRET_ACCESS.match(path)):
            project, secret, version = m.groups()
            store.check_project(project, "secretmanager.versions.access", path)
            return store.access_secret(project, secret, version)
        raise ApiError(404, "NOT_FOUND", f"Method not found: {method} {path}")

    def _list_revisions(
        self, project: str, region: str, service: str, query: dict[str, str]
    ) -> JSON:
        store = self.store
        with store.lock:
            store.tick()
            svc = store.service(project, region, service, "run.revisions.list")
            mine = sorted(
                (r for n, r in store.revisions.items() if n.startswith(svc["name"] + "/")),
                key=lambda r: (r["createTime"], r["name"]),
            )
            size = min(int(query.get("pageSize") or 0) or MAX_PAGE_SIZE, self.max_page_size)
            try:
                offset = int(query.get("pageToken") or 0)
            except ValueError:
                raise ApiError(400, "INVALID_ARGUMENT", "Invalid page token.") from None
            page = mine[offset : offset + size]
            body: JSON = {"revisions": [store.public_revision(r) for r in page]}
            if offset + size < len(mine):
                body["nextPageToken"] = str(offset + size)
            return body


__all__ = ["GRPC_HTTP", "CloudRunServer", "Received"]
