"""Tests of the signal sources, and the real local HTTP server they (and verify's tests) use.

``FlipServer`` is a real ``ThreadingHTTPServer`` on 127.0.0.1 whose behaviour
can be changed while it runs: healthy, failing, every n-th request failing,
slow, or not listening at all (connection refused).  No httpx mock anywhere.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: ``behave(n)`` -> (status, delay in seconds) for the n-th request (from 0).
Behaviour = Callable[[int], tuple[int, float]]


def healthy(n: int) -> tuple[int, float]:
    return 200, 0.0


def failing(n: int) -> tuple[int, float]:
    return 500, 0.0


def alternating(n: int) -> tuple[int, float]:
    """Every 2nd request answers 500: an error rate of 50%."""
    return (500 if n % 2 else 200), 0.0


def slow(delay_s: float, every: int = 1) -> Behaviour:
    """Every ``every``-th request waits ``delay_s`` before answering 200."""

    def behave(n: int) -> tuple[int, float]:
        return 200, (delay_s if n % every == every - 1 else 0.0)

    return behave


def free_port() -> int:
    """A port nothing listens on (connecting to it is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Backlogged(ThreadingHTTPServer):
    """A listen backlog for a probe's bursts: with the default 5, a loaded machine drops
    or resets connections the probe then counts as errors (a gate failing for nothing)."""

    request_queue_size = 128


class FlipServer:
    """A local HTTP server; set ``behave`` to change its answers, ``down()``/``up()`` to refuse."""

    def __init__(self, behave: Behaviour = healthy) -> None:
        self.behave = behave
        self.requests = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def up(self) -> None:
        if self._server is not None:
            return
        server = _Backlogged(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        """Stop listening: new connections are refused until ``up()``."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def close(self) -> None:
        self._closing.set()  # releases handlers sleeping in a slow answer
        self.down()

    def _next(self) -> int:
        with self._lock:
            n = self.requests
            self.requests += 1
            return n

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, delay = owner.behave(owner._next())
                if delay:
                    owner._closing.wait(delay)
                body = b'{"status": "ok"}' if status < 400 else b'{"status": "error"}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
