"""A fault-injecting TCP proxy for tests: real sockets between a client and its server.

``FaultProxy`` listens on 127.0.0.1 and forwards every connection to an
upstream address.  Told to, it misbehaves the way networks and platform APIs
do in an incident: it waits, hangs, resets the connection, answers with a
canned HTTP status, cuts a response off after N bytes, trickles it, or stops
listening.  The client under test (httpx, the Kubernetes client, boto3, psql)
talks to ``proxy.url`` / ``proxy.port`` instead of the server and never knows.

Two modes:

``http`` (the default)
    Faults apply per HTTP request and may match its method and path.  To see
    every request, the proxy reads each request's head, rewrites it to
    ``Connection: close`` (and the response's head too), so one connection
    carries one request; clients reconnect on their own.  Requests asking for
    a protocol upgrade (websockets, SPDY) and HTTP/2 (gRPC) connections are
    passed through untouched; faults then apply to the whole connection (use
    ``tcp`` mode for gRPC).

``tcp``
    Faults apply per connection, decided when it is accepted (before any byte
    is read); ``method``/``path`` matching is not available.  For databases
    and other non-HTTP protocols.

Faults are rules, checked in the order they were added; the first rule that
matches a request (and has hits left) decides what happens to it, otherwise
it is forwarded::

    with FaultProxy(("127.0.0.1", api_port)) as proxy:
        proxy.respond(503, count=2)                         # next 2 requests: 503
        proxy.respond(409, method="PATCH", path=r"/deployments/web$", count=1)
        proxy.reset(path="/health")                         # every /health: RST
        proxy.hang(count=1)                                 # next request: no answer, ever
        proxy.delay(2.0, path="/api/")                      # 2 s before forwarding
        proxy.drop_after(100)                               # cut the response after 100 bytes
        rule = proxy.trickle(chunk=1, interval_s=0.05)      # drip the response
        rule.remove()                                       # ... and stop doing that
        proxy.clear()                                       # behave again
        proxy.down(); proxy.up()                            # refuse connections, same port
        proxy.seen                                          # [Seen(method, path, action), ...]

A rule's ``hits`` counts how often it fired; ``proxy.wait_for(lambda: rule.hits)``
waits (without a timing assertion) until the client got there.  ``close()``
releases every hung or delayed connection.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

#: Largest request or response head the proxy reads before giving up on HTTP framing.
MAX_HEAD = 256 * 1024
_CHUNK = 65536


@dataclass(frozen=True)
class Seen:
    """One request (http mode) or connection (tcp mode) and what the proxy did with it."""

    method: str
    path: str
    action: str


@dataclass
class Rule:
    """One fault: what to do, to which requests, how many more times (None: until removed)."""

    action: str
    count: int | None = None
    method: str | None = None
    path: re.Pattern[str] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0
    _proxy: FaultProxy | None = field(default=None, repr=False)

    def matches(self, method: str, path: str) -> bool:
        if self.count is not None and self.hits >= self.count:
            return False
        if self.method is not None and method.upper() != self.method:
            return False
        return self.path is None or bool(self.path.search(path))

    def remove(self) -> None:
        """Stop applying this rule (requests already caught by it are not released)."""
        if self._proxy is not None:
            self._proxy.remove(self)


class FaultProxy:
    """Forward 127.0.0.1:``port`` to ``upstream``, injecting the faults it is told to."""

    def __init__(
        self,
        upstream: tuple[str, int] | str,
        *,
        mode: str = "http",
        port: int = 0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        if mode not in ("http", "tcp"):
            raise ValueError("mode must be 'http' or 'tcp'")
        self.upstream = _address(upstream)
        self.mode = mode
        self.port = port
        self.connect_timeout_s = connect_timeout_s
        #: Every request (http) or connection (tcp), in the order seen.
        self.seen: list[Seen] = []
        self._rules: list[Rule] = []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._closing = threading.Event()
        self._release = threading.Event()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        self.up()

    # ------------------------------------------------------------------ lifecycle

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def url(self, path: str = "") -> str:
        """``http://127.0.0.1:PORT`` followed by ``path``."""
        return f"http://127.0.0.1:{self.port}{path}"

    def up(self) -> None:
        """Listen (again, on the same port after ``down``)."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self.port = listener.getsockname()[1]
            self._listener = listener
            thread = threading.Thread(
                target=self._accept_loop, args=(listener,), name="faultproxy-accept", daemon=True
            )
            self._accepting = thread
        thread.start()

    def down(self) -> None:
        """Stop listening: new connections are refused until ``up()``; open ones go on."""
        with self._lock:
            listener, self._listener = self._listener, None
            thread, self._accepting = self._accepting, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if thread is not None:
            thread.join(5)

    def close(self) -> None:
        """Stop listening and end every open connection (hung ones included)."""
        self._closing.set()
        self._release.set()
        self.down()
        with self._lock:
            sockets = list(self._sockets)
            workers = list(self._workers)
        for sock in sockets:
            _abort(sock)
        for worker in workers:
            worker.join(5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ faults

    def delay(self, seconds: float, **match: Any) -> Rule:
        """Wait ``seconds`` before forwarding (the client may time out first)."""
        return self._add("delay", match, seconds=seconds)

    def hang(self, **match: Any) -> Rule:
        """Take the request and never answer, until ``release_hung()``, ``close()`` or the
        client gives up."""
        return self._add("hang", match)

    def reset(self, **match: Any) -> Rule:
        """Close the client's connection with a TCP RST (``SO_LINGER`` 0), nothing answered."""
        return self._add("reset", match)

    def respond(
        self,
        status: int,
        body: bytes | str | None = None,
        *,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        **match: Any,
    ) -> Rule:
        """Answer with ``status`` instead of forwarding (http mode only).

        The default body is a small JSON object naming the status; pass the
        platform's own error document (a Kubernetes ``Status``, an AWS error)
        as ``body`` when the client parses it.
        """
        if self.mode != "http":
            raise ValueError("respond() needs http mode")
        if body is None:
            phrase = _phrase(status)
            body = f'{{"code": {status}, "message": "fault injected: {status} {phrase}"}}'
        raw = body.encode() if isinstance(body, str) else body
        return self._add(
            "respond",
            match,
            status=status,
            body=raw,
            headers={"Content-Type": content_type, **(headers or {})},
        )

    def drop_after(self, nbytes: int, *, rst: bool = True, **match: Any) -> Rule:
        """Forward, but cut the connection after ``nbytes`` of the answer reached the client.

        ``rst`` chooses a reset (default) over an orderly close (FIN), which a
        client only notices by the short body.
        """
        return self._add("drop", match, nbytes=nbytes, rst=rst)

    def trickle(self, *, chunk: int = 1, interval_s: float = 0.05, **match: Any) -> Rule:
        """Forward, but hand the answer to the client ``chunk`` bytes every ``interval_s``."""
        return self._add("trickle", match, chunk=max(1, chunk), interval_s=interval_s)

    def remove(self, rule: Rule) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule: forward everything again (hung requests stay hung)."""
        with self._lock:
            self._rules.clear()

    def release_hung(self) -> None:
        """End the requests held by ``hang`` (their connections are closed)."""
        self._release.set()

    def wait_for(self, condition: Callable[[], object], timeout_s: float = 30.0) -> bool:
        """Wait until ``condition()`` is true, re-checked whenever the proxy saw something."""
        with self._changed:
            return self._changed.wait_for(lambda: bool(condition()), timeout_s)

    @property
    def requests(self) -> int:
        """How many requests (http) or connections (tcp) the proxy has seen."""
        with self._lock:
            return len(self.seen)

    def _add(self, action: str, match: dict[str, Any], **params: Any) -> Rule:
        unknown = set(match) - {"count", "method", "path"}
        if unknown:
            raise TypeError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        if self.mode == "tcp" and (match.get("method") or match.get("path")):
            raise ValueError("method/path matching needs http mode")
        path = match.get("path")
        method = match.get("method")
        rule = Rule(
            action=action,
            count=match.get("count"),
            method=method.upper() if method else None,
            path=re.compile(path) if isinstance(path, str) else path,
            params=params,
            _proxy=self,
        )
        if action == "hang":
            self._release.clear()
        with self._lock:
            self._rules.append(rule)
        return rule

    def _decide(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.hits += 1
                    self.seen.append(Seen(method, path, rule.action))
                    self._changed.notify_all()
                    return rule
            self.seen.append(Seen(method, path, "forward"))
            self._changed.notify_all()
            return None

    # ------------------------------------------------------------------ plumbing

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # down() or close()
            worker = threading.Thread(
                target=self._serve, args=(client,), name="faultproxy-conn", daemon=True
            )
            with self._lock:
                self._workers.add(worker)
                self._sockets.add(client)
            worker.start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            rewrite = False
            if self.mode == "tcp":
                rule = self._decide("", "")
                head = b""
            else:
                request, rest = _read_head(client)
                if request is None:
                    return  # the client went away before sending a request
                method, path = _request_line(request)
                rule = self._decide(method, path)
                rewrite = not _is_upgrade(request)
                if rewrite:
                    request = _set_connection_close(request)
                head = request + rest
            if rule is not None and not self._before_forward(client, rule):
                return
            upstream = self._connect()
            if upstream is None:
                _abort(client)
                return
            if head:
                upstream.sendall(head)
            self._pump(client, upstream, rule, rewrite)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()
                    with self._lock:
                        self._sockets.discard(sock)
            with self._lock:
                self._workers.discard(threading.current_thread())

    def _before_forward(self, client: socket.socket, rule: Rule) -> bool:
        """Apply the part of ``rule`` that happens before forwarding; False: do not forward."""
        if rule.action == "reset":
            _abort(client)
            return False
        if rule.action == "respond":
            client.sendall(_response(rule.params))
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_WR)
            _drain(client, self._closing)
            return False
        if rule.action == "hang":
            while not (self._release.is_set() or self._closing.is_set()):
                if _peer_closed(client, 0.05):
                    break
            _abort(client)
            return False
        if rule.action == "delay":
            self._closing.wait(float(rule.params["seconds"]))
            return not self._closing.is_set()
        return True

    def _connect(self) -> socket.socket | None:
        try:
            sock = socket.create_connection(self.upstream, timeout=self.connect_timeout_s)
        except OSError:
            return None
        sock.settimeout(None)
        with self._lock:
            self._sockets.add(sock)
        return sock

    def _pump(
        self, client: socket.socket, upstream: socket.socket, rule: Rule | None, rewrite: bool
    ) -> None:
        """Copy both ways until both sides are done, applying drop/trickle to the answer.

        ``rewrite``: the answer's head gets ``Connection: close`` too.
        """
        budget = int(rule.params["nbytes"]) if rule and rule.action == "drop" else None
        trickle = rule.params if rule and rule.action == "trickle" else None
        rewrite_head = rewrite
        pending_head = b""
        open_in = {client: True, upstream: True}
        while open_in[upstream] and not self._closing.is_set():
            readable = [s for s, is_open in open_in.items() if is_open]
            ready, _, _ = select.select(readable, [], [], 0.1)
            for sock in ready:
                data = sock.recv(_CHUNK)
                if sock is client:
                    if not data:
                        open_in[client] = False
                        with contextlib.suppress(OSError):
                            upstream.shutdown(socket.SHUT_WR)
                    else:
                        upstream.sendall(data)
                    continue
                if not data:
                    open_in[upstream] = False
                    if pending_head:
                        data, pending_head = pending_head, b""
                    else:
                        break
                elif rewrite_head:
                    pending_head += data
                    end = pending_head.find(b"\r\n\r\n")
                    if end < 0 and len(pending_head) < MAX_HEAD:
                        continue
                    rewrite_head = False
                    data, pending_head = pending_head, b""
                    if end >= 0:
                        data = _set_connection_close(data[: end + 4]) + data[end + 4 :]
                if budget is not None:
                    if len(data) >= budget:
                        client.sendall(data[:budget])
                        if rule is not None and rule.params["rst"]:
                            _abort(client)
                        return
                    budget -= len(data)
                if trickle is not None:
                    step = int(trickle["chunk"])
                    for i in range(0, len(data), step):
                        client.sendall(data[i : i + step])
                        if self._closing.wait(float(trickle["interval_s"])):
                            return
                else:
                    client.sendall(data)


# --------------------------------------------------------------------------- helpers


def _address(upstream: tuple[str, int] | str) -> tuple[str, int]:
    if isinstance(upstream, tuple):
        return upstream
    match = re.match(r"^(?:[a-z]+://)?(?P<host>[^:/]+):(?P<port>\d+)", upstream)
    if not match:
        raise ValueError(f"upstream must be (host, port) or 'host:port' / a URL: {upstream!r}")
    return match["host"], int(match["port"])


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Fault"


def _response(params: dict[str, Any]) -> bytes:
    status = int(params["status"])
    body: bytes = params["body"]
    lines = [f"HTTP/1.1 {status} {_phrase(status)}"]
    headers = {**params["headers"], "Content-Length": str(len(body)), "Connection": "close"}
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    """The request head (through the blank line) and whatever came after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD:
            return data, b""
        chunk = sock.recv(_CHUNK)
        if not chunk:
            return None, b""
        data += chunk
    end = data.index(b"\r\n\r\n") + 4
    return data[:end], data[end:]


def _request_line(head: bytes) -> tuple[str, str]:
    first = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = first.split(" ")
    if len(parts) < 2:
        return "", first
    return parts[0].upper(), parts[1]


def _is_upgrade(head: bytes) -> bool:
    """A protocol switch (websocket, SPDY) or HTTP/2 with prior knowledge: pass it through."""
    if head.startswith(b"PRI * HTTP/2.0"):
        return True
    return re.search(rb"(?im)^upgrade:", head) is not None


def _set_connection_close(head: bytes) -> bytes:
    """Replace any Connection / Keep-Alive / Proxy-Connection header with ``Connection: close``."""
    if not head.endswith(b"\r\n\r\n"):
        return head
    lines = head[:-4].split(b"\r\n")
    kept = [
        line
        for line in lines[1:]
        if not re.match(rb"(?i)(connection|keep-alive|proxy-connection)\s*:", line)
    ]
    return b"\r\n".join([lines[0], *kept, b"Connection: close"]) + b"\r\n\r\n"


def _abort(sock: socket.socket) -> None:
    """Close with RST: SO_LINGER on with a zero timeout."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def _peer_closed(sock: socket.socket, timeout_s: float) -> bool:
    """Whether the peer closed its side (reads and discards whatever it still sends)."""
    try:
        ready, _, _ = select.select([sock], [], [], timeout_s)
        if not ready:
            return False
        return sock.recv(_CHUNK) == b""
    except OSError:
        return True


def _drain(sock: socket.socket, closing: threading.Event) -> None:
    """After a canned answer: wait for the client to close, so it reads the whole answer."""
    for _ in range(100):  # at most ~10 s
        if closing.is_set() or _peer_closed(sock, 0.1):
            return
