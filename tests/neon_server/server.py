"""The HTTP side of the fake Neon API v2 (every path under ``/api/v2``).

=======  ==================================================================
GET      ``/projects/ID``
GET      ``/projects/ID/branches``
POST     ``/projects/ID/branches`` (``{"branch": {...}, "endpoints": [...]}``) -> 201
GET      ``/projects/ID/branches/BR``
GET      ``/projects/ID/branches/BR/endpoints``
GET      ``/projects/ID/endpoints``
GET      ``/projects/ID/operations`` (``?limit=1..1000&cursor=...``; newest first)
GET      ``/projects/ID/operations/OP``
=======  ==================================================================

Every request needs ``Authorization: Bearer KEY`` (a key in ``store.api_keys``).
Errors are ``{"code": "...", "message": "..."}`` with the API's statuses.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.rest import RestError, RestServer
from tests.neon_server.store import NeonStore

JSON = dict[str, Any]

_P = r"^/api/v2/projects/([^/]+)"
_PROJECT = re.compile(_P + "$")
_BRANCHES = re.compile(_P + "/branches$")
_BRANCH = re.compile(_P + "/branches/([^/]+)$")
_BRANCH_ENDPOINTS = re.compile(_P + "/branches/([^/]+)/endpoints$")
_ENDPOINTS = re.compile(_P + "/endpoints$")
_OPERATIONS = re.compile(_P + "/operations$")
_OPERATION = re.compile(_P + "/operations/([^/]+)$")


class NeonServer(RestServer):
    """A running fake: ``store`` holds the state; ``url`` is its endpoint (add ``/api/v2``)."""

    def __init__(self, api_key: str = "neon-test-key") -> None:
        self.store = NeonStore()
        self.store.api_keys.add(api_key)
        self.api_key = api_key
        super().__init__()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v2"

    def error_body(self, err: RestError) -> JSON:
        return {"code": err.code, "message": err.message}

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: JSON | None,
        headers: dict[str, str],
    ) -> tuple[int, JSON]:
        store = self.store
        store.check_key(headers)
        if method == "GET" and (m := _PROJECT.match(path)):
            return 200, {"project": store.project(m.group(1))}
        if method == "GET" and (m := _BRANCHES.match(path)):
            return 200, store.list_branches(m.group(1))
        if method == "POST" and (m := _BRANCHES.match(path)):
            return 201, store.create_branch(m.group(1), body)
        if method == "GET" and (m := _BRANCH.match(path)):
            return 200, store.branch(*m.groups())
        if method == "GET" and (m := _BRANCH_ENDPOINTS.match(path)):
            return 200, store.list_endpoints(*m.groups())
        if method == "GET" and (m := _ENDPOINTS.match(path)):
            return 200, store.list_endpoints(m.group(1))
        if method == "GET" and (m := _OPERATIONS.match(path)):
            return 200, store.list_operations(m.group(1), query.get("limit"), query.get("cursor"))
        if method == "GET" and (m := _OPERATION.match(path)):
            return 200, store.operation(*m.groups())
        raise RestError(404, "", "not found")
