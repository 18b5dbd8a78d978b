"""The fault-injecting proxy itself: it forwards faithfully, and each fault is the real thing.

Real sockets on both sides: an HTTP server that echoes what it got, a TCP
echo server, and httpx or a bare socket as the client.
"""

from __future__ import annotations

import errno
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.faultproxy import FaultProxy

BIG = b"x" * (1024 * 1024)


class _EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real API servers do

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/big":
            payload = BIG
        else:
            payload = json.dumps(
                {"method": self.command, "path": self.path, "body": body.decode()}
            ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


class _TcpEcho(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture(scope="module")
def echo_http() -> Iterator[tuple[str, int]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield ("127.0.0.1", server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def echo_tcp() -> Iterator[tuple[str, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _TcpEcho)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield ("127.0.0.1", server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo_http: tuple[str, int]) -> Iterator[FaultProxy]:
    with FaultProxy(echo_http) as p:
        yield p


def raw_get(port: int, path: str = "/") -> bytes:
    """One GET on a bare socket; returns what arrived before the server closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def test_forwards_every_request_of_a_keep_alive_client(proxy: FaultProxy) -> None:
    with httpx.Client(base_url=proxy.url(), timeout=10) as client:
        answers = [client.get(f"/item/{i}").json() for i in range(30)]
        posted = client.post("/things", content=b'{"a": 1}').json()
        big = client.get("/big").content
    assert [a["path"] for a in answers] == [f"/item/{i}" for i in range(30)]
    assert posted == {"method": "POST", "path": "/things", "body": '{"a": 1}'}
    assert big == BIG
    assert [s.action for s in proxy.seen] == ["forward"] * 32
    assert proxy.seen[30].method == "POST" and proxy.seen[30].path == "/things"


def test_canned_status_for_the_next_n_requests_then_forwards(proxy: FaultProxy) -> None:
    rule = proxy.respond(503, count=2)
    with httpx.Client(base_url=proxy.url(), timeout=10) as client:
        statuses = [client.get("/x").status_code for _ in range(4)]
        assert statuses == [503, 503, 200, 200]
    assert rule.hits == 2


def test_canned_status_matches_method_and_path(proxy: FaultProxy) -> None:
    proxy.respond(409, method="patch", path=r"/deployments/web$")
    with httpx.Client(base_url=proxy.url(), timeout=10) as client:
        assert client.get("/apis/apps/v1/namespaces/x/deployments/web").status_code == 200
        assert client.patch("/apis/apps/v1/namespaces/x/deployments/api").status_code == 200
        conflict = client.patch("/apis/apps/v1/namespaces/x/deployments/web", content=b"{}")
    assert conflict.status_code == 409
    assert conflict.json()["code"] == 409
    assert "Conflict" in conflict.json()["message"]


def test_canned_body_and_headers_are_sent_as_given(proxy: FaultProxy) -> None:
    status = '{"kind": "Status", "reason": "Conflict", "code": 409}'
    proxy.respond(409, status, headers={"Retry-After": "1"}, count=1)
    answer = httpx.get(proxy.url("/x"), timeout=10)
    assert answer.json() == json.loads(status)
    assert answer.headers["retry-after"] == "1"


def test_reset_is_a_real_tcp_reset(proxy: FaultProxy) -> None:
    proxy.reset(path="/health")
    with pytest.raises(ConnectionResetError) as caught:
        raw_get(proxy.port, "/health")
    assert caught.value.errno == errno.ECONNRESET
    assert b"200 OK" in raw_get(proxy.port, "/other")
    with pytest.raises(httpx.TransportError):
        httpx.get(proxy.url("/health"), timeout=10)


def test_hang_holds_the_request_until_the_client_gives_up(proxy: FaultProxy) -> None:
    rule = proxy.hang(count=1)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(proxy.url("/slow"), timeout=httpx.Timeout(10, read=0.3))
    assert rule.hits == 1
    assert httpx.get(proxy.url("/after"), timeout=10).status_code == 200


def test_release_hung_and_close_end_held_requests(echo_http: tuple[str, int]) -> None:
    proxy = FaultProxy(echo_http)
    proxy.hang()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            httpx.get(proxy.url("/held"), timeout=60)
        except httpx.TransportError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(2)]
    threads[0].start()
    assert proxy.wait_for(lambda: proxy.requests == 1)
    proxy.release_hung()
    threads[0].join(30)
    assert not threads[0].is_alive() and len(errors) == 1
    proxy.hang()
    threads[1].start()
    assert proxy.wait_for(lambda: proxy.requests == 2)
    proxy.close()
    threads[1].join(30)
    assert not threads[1].is_alive() and len(errors) == 2


def test_delay_forwards_late(proxy: FaultProxy) -> None:
    rule = proxy.delay(0.2, path="^/late")
    assert httpx.get(proxy.url("/late"), timeout=30).json()["path"] == "/late"
    assert rule.hits == 1
    with pytest.raises(httpx.ReadTimeout):
        proxy.delay(30)
        httpx.get(proxy.url("/slow"), timeout=httpx.Timeout(10, read=0.2))


@pytest.mark.parametrize("rst", [True, False])
def test_drop_after_n_bytes_cuts_the_answer(proxy: FaultProxy, rst: bool) -> None:
    proxy.drop_after(1000, rst=rst, path="/big")
    with pytest.raises(httpx.TransportError):
        httpx.get(proxy.url("/big"), timeout=10)
    data = b""
    try:
        data = raw_get(proxy.port, "/big")
    except ConnectionResetError:
        assert rst
    else:
        assert not rst
        assert len(data) == 1000
    assert httpx.get(proxy.url("/small"), timeout=10).status_code == 200


def test_trickle_delivers_the_whole_answer_slowly(proxy: FaultProxy) -> None:
    proxy.trickle(chunk=16, interval_s=0.001)
    assert httpx.get(proxy.url("/dribble"), timeout=30).json()["path"] == "/dribble"


def test_down_refuses_and_up_listens_on_the_same_port(proxy: FaultProxy) -> None:
    port = proxy.port
    proxy.down()
    with pytest.raises(httpx.ConnectError):
        httpx.get(proxy.url("/"), timeout=5)
    proxy.up()
    assert proxy.port == port
    assert httpx.get(proxy.url("/"), timeout=10).status_code == 200


def test_rules_apply_in_order_and_can_be_removed(proxy: FaultProxy) -> None:
    first = proxy.respond(500)
    proxy.respond(503)
    assert httpx.get(proxy.url("/"), timeout=10).status_code == 500
    first.remove()
    assert httpx.get(proxy.url("/"), timeout=10).status_code == 503
    proxy.clear()
    assert httpx.get(proxy.url("/"), timeout=10).status_code == 200
    assert [s.action for s in proxy.seen] == ["respond", "respond", "forward"]


def test_unreachable_upstream_is_a_reset() -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        dead = spare.getsockname()
    with FaultProxy(dead) as proxy, pytest.raises(httpx.TransportError):
        httpx.get(proxy.url("/"), timeout=10)


def test_bad_options_are_refused(echo_tcp: tuple[str, int], proxy: FaultProxy) -> None:
    with pytest.raises(TypeError):
        proxy.reset(paths="/x")
    with FaultProxy(echo_tcp, mode="tcp") as tcp:
        with pytest.raises(ValueError):
            tcp.respond(503)
        with pytest.raises(ValueError):
            tcp.reset(path="/x")


def test_upgrades_pass_through_untouched(echo_tcp: tuple[str, int]) -> None:
    """A websocket / SPDY upgrade keeps its Connection header both ways (here: echoed)."""
    request = b"GET /exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n"
    with FaultProxy(echo_tcp) as proxy, socket.create_connection(proxy.address, 10) as sock:
        sock.sendall(request + b"frames")
        got = b""
        while len(got) < len(request) + 6:
            got += sock.recv(100)
    assert got == request + b"frames"
    assert [(s.method, s.path) for s in proxy.seen] == [("GET", "/exec")]


def test_tcp_mode_forwards_resets_and_cuts_connections(echo_tcp: tuple[str, int]) -> None:
    with FaultProxy(echo_tcp, mode="tcp") as proxy:
        with socket.create_connection(proxy.address, timeout=10) as sock:
            sock.sendall(b"ping")
            assert sock.recv(100) == b"ping"
        proxy.reset(count=1)
        # The reset comes at accept: connect itself may already see it.
        with (
            pytest.raises((ConnectionResetError, BrokenPipeError)),
            socket.create_connection(proxy.address, timeout=10) as sock,
        ):
            sock.sendall(b"x")
            sock.recv(100)
        proxy.drop_after(5, rst=False, count=1)
        with socket.create_connection(proxy.address, timeout=10) as sock:
            sock.sendall(b"0123456789")
            got = b""
            while chunk := sock.recv(100):
                got += chunk
            assert got == b"01234"
        proxy.drop_after(5, count=1)
        with socket.create_connection(proxy.address, timeout=10) as sock:
            sock.sendall(b"0123456789")
            with pytest.raises(ConnectionResetError):
                while sock.recv(100):
                    pass
        assert [s.action for s in proxy.seen] == ["forward", "reset", "drop", "drop"]
