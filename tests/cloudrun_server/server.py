"""The HTTP side of the fake Cloud Run Admin API v2 (and Cloud Monitoring's timeSeries.list).

A stdlib ``ThreadingHTTPServer`` on 127.0.0.1 answering the REST paths the
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

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.cloudrun_server.monitoring import MonitoringData
from tests.cloudrun_server.store import GRPC_HTTP, ApiError, CloudRunStore, short

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


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: JSON | None
    headers: dict[str, str]


@dataclass
class Injected:
    method: str
    path: re.Pattern[str]
    http: int
    status: str
    message: str
    times: int = 1
    hits: int = field(default=0)


class CloudRunServer:
    """A running fake: ``store`` holds the state, ``monitoring`` the metrics; ``url``."""

    def __init__(self) -> None:
        self.store = CloudRunStore()
        self.monitoring = MonitoringData()
        self.requests: list[Received] = []
        self.max_page_size = MAX_PAGE_SIZE
        self._injected: list[Injected] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CloudRunServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- test knobs

    def inject(
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
        item = Injected(method.upper(), re.compile(path_regex), http, status, message, times)
        with self._lock:
            self._injected.append(item)
        return item

    def received(self, method: str, path_part: str = "") -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.method == method and path_part in r.path]

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

    def _injected_error(self, method: str, path: str) -> ApiError | None:
        with self._lock:
            for item in self._injected:
                if item.method == method and item.path.search(path) and item.hits < item.times:
                    item.hits += 1
                    return ApiError(item.http, item.status, item.message)
        return None

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: JSON | None
    ) -> JSON:
        injected = self._injected_error(method, path)
        if injected is not None:
            raise injected
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

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str) -> None:
                split = urlsplit(self.path)
                query = parse_qs(split.query, keep_blank_values=True)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body: JSON | None = None
                try:
                    if raw:
                        body = json.loads(raw)
                        if not isinstance(body, dict):
                            raise ApiError(400, "INVALID_ARGUMENT", "The body must be an object.")
                    with owner._lock:
                        owner.requests.append(
                            Received(method, split.path, query, body, dict(self.headers.items()))
                        )
                    status, answer = 200, owner._route(method, split.path, query, body)
                except json.JSONDecodeError as exc:
                    status, answer = 400, ApiError(400, "INVALID_ARGUMENT", str(exc)).body()
                except ApiError as err:
                    status, answer = err.http, err.body()
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


__all__ = ["GRPC_HTTP", "CloudRunServer", "Received"]
