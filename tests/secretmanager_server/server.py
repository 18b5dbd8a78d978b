"""The HTTP side of the fake Secret Manager API v1.

=======  ==================================================================
GET      ``/v1/projects/P/secrets/S``
GET      ``/v1/projects/P/secrets/S/versions`` (``pageSize``, ``pageToken``)
GET      ``/v1/projects/P/secrets/S/versions/V`` (``V``: a number or ``latest``)
GET      ``/v1/projects/P/secrets/S/versions/V:access``
POST     ``/v1/projects/P/secrets/S:addVersion`` (``{"payload": {"data": BASE64}}``)
POST     ``/v1/projects/P/secrets/S/versions/V:disable`` and ``:enable``
=======  ==================================================================

Errors have the Google API shape: ``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.rest import RestError, RestServer, google_error
from tests.secretmanager_server.store import SecretManagerStore

JSON = dict[str, Any]

_S = r"^/v1/projects/([^/]+)/secrets/([^/:]+)"
_SECRET = re.compile(_S + "$")
_ADD = re.compile(_S + ":addVersion$")
_VERSIONS = re.compile(_S + "/versions$")
_VERSION = re.compile(_S + "/versions/([^/:]+)$")
_ACCESS = re.compile(_S + "/versions/([^/:]+):access$")
_STATE = re.compile(_S + "/versions/([^/:]+):(disable|enable)$")


class SecretManagerServer(RestServer):
    """A running fake: ``store`` holds the state; ``url`` is its endpoint."""

    def __init__(self) -> None:
        self.store = SecretManagerStore()
        super().__init__()

    def error_body(self, err: RestError) -> JSON:
        return google_error(err)

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: JSON | None,
        headers: dict[str, str],
    ) -> tuple[int, JSON]:
        store = self.store
        if method == "GET" and (m := _SECRET.match(path)):
            return 200, store.secret(*m.groups())
        if method == "POST" and (m := _ADD.match(path)):
            return 200, store.add_version(m.group(1), m.group(2), body)
        if method == "GET" and (m := _VERSIONS.match(path)):
            return 200, store.list_versions(m.group(1), m.group(2), query)
        if method == "GET" and (m := _VERSION.match(path)):
            return 200, store.version(*m.groups())
        if method == "GET" and (m := _ACCESS.match(path)):
            return 200, store.access(*m.groups())
        if method == "POST" and (m := _STATE.match(path)):
            project, secret, version, verb = m.groups()
            state = "DISABLED" if verb == "disable" else "ENABLED"
            return 200, store.set_state(project, secret, version, state)
        raise RestError(404, "NOT_FOUND", f"Method not found: {method} {path}")
