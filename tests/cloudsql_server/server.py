"""The HTTP side of the fake Cloud SQL Admin API v1.

=======  ==================================================================
GET      ``/v1/projects/P/instances/I``
POST     ``/v1/projects/P/instances/I/clone`` (``{"cloneContext": {...}}``) -> Operation
POST     ``/v1/projects/P/instances/I/getLatestRecoveryTime``
GET      ``/v1/projects/P/operations/OP``
=======  ==================================================================

Errors have the Google API shape Cloud SQL answers with: ``{"error": {"code",
"message", "status", "errors": [{"domain", "reason", "message"}]}}``.
"""

from __future__ import annotations

import re
from typing import Any

from tests.cloudsql_server.store import CloudSqlStore
from tests.fakes.rest import RestError, RestServer, google_error

JSON = dict[str, Any]

_INSTANCE = re.compile(r"^/v1/projects/([^/]+)/instances/([^/:]+)$")
_CLONE = re.compile(r"^/v1/projects/([^/]+)/instances/([^/:]+)/clone$")
_LATEST = re.compile(r"^/v1/projects/([^/]+)/instances/([^/:]+)/getLatestRecoveryTime$")
_OPERATION = re.compile(r"^/v1/projects/([^/]+)/operations/([^/:]+)$")


class CloudSqlServer(RestServer):
    """A running fake: ``store`` holds the state; ``url`` is its endpoint."""

    def __init__(self) -> None:
        self.store = CloudSqlStore()
        super().__init__()

    def error_body(self, err: RestError) -> JSON:
        return google_error(err, reasons=True)

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: JSON | None,
        headers: dict[str, str],
    ) -> tuple[int, JSON]:
        store = self.store
        if method == "GET" and (m := _INSTANCE.match(path)):
            return 200, store.instance(*m.groups())
        if method == "POST" and (m := _CLONE.match(path)):
            return 200, store.clone(m.group(1), m.group(2), body)
        if method == "POST" and (m := _LATEST.match(path)):
            return 200, store.latest_recovery_time(*m.groups())
        if method == "GET" and (m := _OPERATION.match(path)):
            return 200, store.operation(*m.groups())
        raise RestError(404, "NOT_FOUND", f"Method not found: {method} {path}", "notFound")
