"""A feature-flag service standing in for an OpenFeature flagd / Unleash admin API.

A real ``ThreadingHTTPServer`` on 127.0.0.1.  ``PUT /api/flags/NAME`` with a
JSON body ``{"enabled": false}`` sets the flag (the kill switch) when the
``Authorization`` header is ``Bearer TOKEN``, else 401; ``GET
/api/flags/NAME`` answers ``{"name":"NAME","enabled":false}`` (compact JSON,
as a check's ``expect_body`` reads it).  Every request is kept
(``requests``).  The answer to a change quotes the header it came with
(``"by":"Bearer …"``), so a console that did not redact its output would
leak the token into the entry.  ``lose_answers``: the change is applied,
then the connection is closed without an answer (a lost response).
``refuse_with``: changes are answered with that status and not applied.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class FlagRequest:
    method: str
    path: str
    authorization: str
    body: str


class FlagService:
    """The flag service; ``flags`` holds each flag's state, ``requests`` what came in."""

    def __init__(self, token: str, flags: dict[str, bool] | None = None) -> None:
        self.token = token
        self.flags: dict[str, bool] = dict(flags or {"new-checkout": True})
        self.requests: list[FlagRequest] = []
        self.lose_answers = False
        self.refuse_with = 0
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc, separators=(",", ":")).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _name(self) -> str | None:
                prefix = "/api/flags/"
                return self.path[len(prefix) :] if self.path.startswith(prefix) else None

            def do_GET(self) -> None:
                service._keep(self, "")
                name = self._name()
                with service._lock:
                    enabled = service.flags.get(name or "")
                if enabled is None:
                    self._answer(404, {"error": f"no flag {name}"})
                    return
                self._answer(200, {"name": name, "enabled": enabled})

            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", errors="replace")
                service._keep(self, body)
                auth = self.headers.get("Authorization", "")
                if auth != f"Bearer {service.token}":
                    self._answer(401, {"error": "unauthorized"})
                    return
                if service.refuse_with:
                    self._answer(service.refuse_with, {"error": "flag store unavailable"})
                    return
                name = self._name()
                if name not in service.flags:
                    self._answer(404, {"error": f"no flag {name}"})
                    return
                enabled = bool(json.loads(body or "{}").get("enabled"))
                with service._lock:
                    service.flags[name] = enabled
                if service.lose_answers:
                    self.close_connection = True
                    self.connection.close()
                    return
                self._answer(200, {"name": name, "enabled": enabled, "by": auth})

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/api/flags/{name}"

    def _keep(self, handler: BaseHTTPRequestHandler, body: str) -> None:
        with self._lock:
            self.requests.append(
                FlagRequest(
                    handler.command, handler.path, handler.headers.get("Authorization", ""), body
                )
            )

    def changes(self) -> list[FlagRequest]:
        with self._lock:
            return [r for r in self.requests if r.method != "GET"]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
