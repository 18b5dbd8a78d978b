"""The HTTP side shared by the REST fakes (Cloud Run, Cloud SQL Admin, Neon, Secret Manager).

A stdlib ``ThreadingHTTPServer`` on 127.0.0.1 that reads a JSON body, keeps
every request (``requests``), lets a test answer the next matching request(s)
with an error of its choosing (``inject``) or lose their answers after
carrying them out (``lose_answers``), and hands the rest to the
subclass's ``route``, which answers ``(status, document)`` or raises
``RestError`` (the subclass says how an error document looks: ``error_body``).
A fake that needs a query parameter's every value overrides ``respond``.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

JSON = dict[str, Any]


class RestError(Exception):
    """An error answer: HTTP status, a code word (the API's), a message."""

    def __init__(self, http: int, code: str, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.http = http
        self.code = code
        self.message = message
        self.reason = reason


def google_error(err: RestError, *, reasons: bool = False) -> JSON:
    """A Google API's error document, ``{"error": {"code", "message", "status"}}``, with
    Cloud SQL's ``errors: [{"message", "domain", "reason"}]`` when ``reasons``."""
    error: JSON = {"code": err.http, "message": err.message, "status": err.code}
    if reasons:
        reason = err.reason or err.code.lower()
        error["errors"] = [{"message": err.message, "domain": "global", "reason": reason}]
    return {"error": error}


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
    error: RestError
    times: int = 1
    hits: int = field(default=0)


class RestServer:
    """A running fake; subclasses implement ``route`` and ``error_body``."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._injected: list[Injected] = []
        #: (method, path regex, times left): done, then the connection closed unanswered.
        self._lost: list[list[Any]] = []
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- test knobs

    def inject(self, method: str, path_regex: str, error: RestError, *, times: int = 1) -> Injected:
        """Answer the next ``times`` requests matching ``method`` and ``path_regex`` so."""
        return self._inject(method, path_regex, error, times)

    def _inject(self, method: str, path_regex: str, error: RestError, times: int) -> Injected:
        item = Injected(method.upper(), re.compile(path_regex), error, times)
        with self._lock:
            self._injected.append(item)
        return item

    def lose_answers(self, method: str, path_regex: str, *, times: int = 1) -> None:
        """The next ``times`` matching requests are carried out, then left unanswered (the
        connection is closed): a lost response."""
        with self._lock:
            self._lost.append([method.upper(), re.compile(path_regex), times])

    def _loses(self, method: str, path: str) -> bool:
        with self._lock:
            for item in self._lost:
                if item[0] == method and item[1].search(path) and item[2] > 0:
                    item[2] -= 1
                    return True
        return False

    def received(self, method: str, path_part: str = "") -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.method == method and path_part in r.path]

    # ----------------------------------------------------------------- for subclasses

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: JSON | None,
        headers: dict[str, str],
    ) -> tuple[int, JSON]:
        raise NotImplementedError

    def error_body(self, err: RestError) -> JSON:
        raise NotImplementedError

    def respond(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: JSON | None,
        headers: dict[str, str],
    ) -> tuple[int, JSON]:
        """The answer to a request no error was injected for: ``route``, given each query
        parameter's first value."""
        flat = {k: v[0] for k, v in query.items() if v}
        return self.route(method, path, flat, body, headers)

    # ----------------------------------------------------------------- plumbing

    def _injected_error(self, method: str, path: str) -> RestError | None:
        with self._lock:
            for item in self._injected:
                if item.method == method and item.path.search(path) and item.hits < item.times:
                    item.hits += 1
                    return item.error
        return None

    def _answer(
        self, method: str, raw_path: str, raw: bytes, headers: dict[str, str]
    ) -> tuple[int, JSON]:
        split = urlsplit(raw_path)
        query = parse_qs(split.query, keep_blank_values=True)
        body: JSON | None = None
        try:
            if raw:
                try:
                    parsed = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise RestError(
                        400, "INVALID_ARGUMENT", f"Invalid JSON payload: {exc}"
                    ) from None
                if not isinstance(parsed, dict):
                    raise RestError(400, "INVALID_ARGUMENT", "The body must be a JSON object.")
                body = parsed
            with self._lock:
                self.requests.append(Received(method, split.path, query, body, headers))
            injected = self._injected_error(method, split.path)
            if injected is not None:
                raise injected
            return self.respond(method, split.path, query, body, headers)
        except RestError as err:
            return err.http, self.error_body(err)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, answer = owner._answer(method, self.path, raw, dict(self.headers.items()))
                if owner._loses(method, urlsplit(self.path).path):
                    self.close_connection = True
                    return
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
