"""An HTTP proxy in front of moto that answers chosen AWS operations with AWS errors.

``AwsFaultProxy(upstream_url)`` listens on 127.0.0.1 and forwards every
request to moto, except those whose *operation* matches a rule: those get the
error AWS itself would send (AccessDeniedException, ThrottlingException...),
encoded in the request's protocol so botocore parses it like the real thing:

* JSON 1.0 / 1.1 (ECS, ECR): the operation is the ``X-Amz-Target`` header;
  the answer is ``{"__type": CODE, "message": ...}`` with ``x-amzn-ErrorType``.
* Smithy RPC v2 CBOR (CloudWatch in current botocore): the operation is the
  last part of the path ``/service/NAME/operation/OPERATION``; the answer is a
  CBOR map with ``__type`` and ``message``.
* Query (RDS, ELBv2): the operation is the form field ``Action``; the answer is
  the XML ``ErrorResponse``.
* REST-XML (CloudFront): the operation is told by the method and the path
  (``POST /2020-05-31/distribution/ID/invalidation`` is ``CreateInvalidation``,
  see ``REST_OPERATIONS``); the answer is the same XML ``ErrorResponse``.

::

    with AwsFaultProxy(moto_url) as proxy:
        proxy.fail("DescribeServices", "AccessDeniedException", "User: x is not authorized")
        proxy.fail("GetMetricData", "ThrottlingException", "Rate exceeded", count=1)
        proxy.seen   # [(operation, "forwarded" | CODE | "hang"), ...]

Besides AWS errors, for faults a network (not AWS) causes and for timing a
test around one call:

* ``hang(operation)``: the request is taken and never forwarded nor answered
  until ``release_hung()`` (then its connection is closed): a console killed
  while it waits there was killed *before* that call reached AWS.
* ``lose_answer(operation)``: the request reaches moto (the change is made),
  then the connection is closed without the answer, as when a network fails
  on the way back.
* ``after(operation, callback)``: ``callback()`` runs once moto answered the
  operation and before the client receives that answer, e.g. to kill the
  console at the one moment its change took effect but it never learnt so, or
  to let "someone else" change the service right then.
* ``forwarded(operation)`` counts the requests of an operation that reached
  moto; ``wait_for(condition)`` waits (bounded) until the proxy saw enough.
"""

from __future__ import annotations

import http.client
import json
import re
import struct
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: (method, path pattern) -> operation, for the REST-XML services (CloudFront).
REST_OPERATIONS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "POST",
        re.compile(r"/\d{4}-\d{2}-\d{2}/distribution/[^/]+/invalidation$"),
        "CreateInvalidation",
    ),
    (
        "GET",
        re.compile(r"/\d{4}-\d{2}-\d{2}/distribution/[^/]+/invalidation(\?.*)?$"),
        "ListInvalidations",
    ),
    (
        "GET",
        re.compile(r"/\d{4}-\d{2}-\d{2}/distribution/[^/]+/invalidation/[^/?]+$"),
        "GetInvalidation",
    ),
    ("POST", re.compile(r"/\d{4}-\d{2}-\d{2}/distribution$"), "CreateDistribution"),
    ("GET", re.compile(r"/\d{4}-\d{2}-\d{2}/distribution/[^/?]+$"), "GetDistribution"),
)


def rest_operation(method: str, path: str) -> str:
    """The REST-XML operation a request is ("" when none of ``REST_OPERATIONS`` matches)."""
    for verb, pattern, operation in REST_OPERATIONS:
        if method == verb and pattern.match(path):
            return operation
    return ""


@dataclass
class Fault:
    operation: str
    code: str
    message: str
    status: int = 400
    #: How many more requests it answers (None: until removed).
    count: int | None = None
    hits: int = 0
    #: "error": answer with the AWS error; "hang": hold the request, never forward it;
    #: "lose": forward it, then close the connection without the answer.
    action: str = "error"


@dataclass
class Hook:
    """A callback run after moto answered ``operation``, before the client gets the answer."""

    operation: str
    callback: Callable[[], object]
    #: How many more times it runs (None: every time).
    count: int | None = 1
    hits: int = 0


def cbor_map(values: dict[str, str]) -> bytes:
    """A CBOR map of text to text (all the error body needs)."""

    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        if length < 256:
            return bytes([major << 5 | 24, length])
        return bytes([major << 5 | 25]) + struct.pack(">H", length)

    out = head(5, len(values))
    for key, value in values.items():
        for text in (key, value):
            raw = text.encode()
            out += head(3, len(raw)) + raw
    return out


class AwsFaultProxy:
    """See the module doc."""

    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.faults: list[Fault] = []
        self.hooks: list[Hook] = []
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._release = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                proxy._handle(self)

            def do_GET(self) -> None:
                proxy._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> AwsFaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def fail(
        self,
        operation: str,
        code: str,
        message: str = "",
        *,
        status: int = 400,
        count: int | None = None,
    ) -> Fault:
        fault = Fault(operation, code, message or code, status, count)
        with self._lock:
            self.faults.append(fault)
        return fault

    def hang(self, operation: str, *, count: int | None = None) -> Fault:
        """Hold ``operation``'s requests unanswered (never forwarded) until ``release_hung()``."""
        fault = Fault(operation, "hang", "", count=count, action="hang")
        self._release.clear()
        with self._lock:
            self.faults.append(fault)
        return fault

    def lose_answer(self, operation: str, *, count: int | None = None) -> Fault:
        """Forward ``operation`` to moto (it takes effect), then close the client's
        connection without its answer: the change is made and the client never learns so."""
        fault = Fault(operation, "lose", "", count=count, action="lose")
        with self._lock:
            self.faults.append(fault)
        return fault

    def release_hung(self) -> None:
        """Close the connections of the held requests (nothing is forwarded or answered)."""
        self._release.set()

    def after(
        self, operation: str, callback: Callable[[], object], *, count: int | None = 1
    ) -> Hook:
        """Run ``callback()`` once moto answered ``operation``, before the client gets it."""
        hook = Hook(operation, callback, count)
        with self._lock:
            self.hooks.append(hook)
        return hook

    def forwarded(self, operation: str) -> int:
        """How many requests of ``operation`` reached moto."""
        with self._lock:
            return self.seen.count((operation, "forwarded"))

    def wait_for(self, condition: Callable[[], object], timeout_s: float = 30.0) -> bool:
        """Wait until ``condition()`` holds, re-checked whenever a request came in."""
        with self._changed:
            return self._changed.wait_for(lambda: bool(condition()), timeout_s)

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.hooks.clear()

    def _match(self, operation: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.operation == operation and (fault.count is None or fault.count > 0):
                    if fault.count is not None:
                        fault.count -= 1
                    fault.hits += 1
                    return fault
        return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        target = handler.headers.get("X-Amz-Target", "")
        protocol, operation = "query", ""
        if target:
            protocol, operation = "json", target.rsplit(".", 1)[-1]
        elif "/operation/" in handler.path:
            protocol, operation = "cbor", handler.path.rsplit("/", 1)[-1]
        elif rest_operation(handler.command, handler.path):
            protocol, operation = "rest-xml", rest_operation(handler.command, handler.path)
        else:
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            operation = (form.get("Action") or [""])[0]
        fault = self._match(operation)
        with self._lock:
            forwarding = fault is None or fault.action == "lose"
            self.seen.append((operation, "forwarded" if forwarding else fault.code))
            self._changed.notify_all()
        if fault is not None and fault.action == "hang":
            self._release.wait(300)
            handler.close_connection = True
            return
        if fault is not None and fault.action == "error":
            self._answer_fault(handler, protocol, fault)
            return
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() != "connection"}
            conn.request(handler.command, handler.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        for hook in self._hooks_for(operation):
            hook.callback()
        if fault is not None and fault.action == "lose":
            handler.close_connection = True
            return
        try:
            handler.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            handler.close_connection = True  # the client is gone (a hook may have killed it)

    def _hooks_for(self, operation: str) -> list[Hook]:
        due = []
        with self._lock:
            for hook in self.hooks:
                if hook.operation == operation and (hook.count is None or hook.count > 0):
                    if hook.count is not None:
                        hook.count -= 1
                    hook.hits += 1
                    due.append(hook)
        return due

    @staticmethod
    def _answer_fault(handler: BaseHTTPRequestHandler, protocol: str, fault: Fault) -> None:
        headers: dict[str, str] = {"x-amzn-RequestId": "fault-proxy"}
        if protocol == "json":
            body = json.dumps({"__type": fault.code, "message": fault.message}).encode()
            headers["Content-Type"] = "application/x-amz-json-1.1"
            headers["x-amzn-ErrorType"] = fault.code
        elif protocol == "cbor":
            body = cbor_map({"__type": fault.code, "message": fault.message})
            headers["Content-Type"] = "application/cbor"
            headers["smithy-protocol"] = "rpc-v2-cbor"
        else:
            body = (
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{fault.code}</Code><Message>{fault.message}</Message>"
                "</Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
            ).encode()
            headers["Content-Type"] = "text/xml"
        handler.send_response(fault.status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
