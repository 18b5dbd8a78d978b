"""``serve``: the console in a real browser (headless Chromium), its token, its operator.

The demo sandbox is served by ``python -m console.cli serve`` as a process; Chromium
opens the page, the dashboard arrives, keys typed in the page reach the console (``?``
opens help; the ten keys of the fast path roll the demo back), the history entry names
the operator the proxy's header gave; every request the page made went to the server
itself.  A screenshot is kept in ``tests/artifacts/`` (gitignored).  Without the token,
the page, its files and the websocket are refused, in the browser and outside it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import httpx
import pytest
import tomli_w
import websocket

from console.config import Config
from console.config.console import ENV_SESSION_OPERATOR
from console.demo import DemoSandbox, build_sandbox
from tests.chromium import Browser, chromium_path
from tests.conftest import REPO
from tests.console_cli import run_console
from tests.fakes.demo import running
from tests.signals import free_port

TOKEN = "serve-test-token-0123456789"
ARTIFACTS = REPO / "tests" / "artifacts"
#: The fast path (tests/e2e/test_ten_keys.py): roll back, accept the reason, past the
#: checklist, the default target, type the service name, execute, verify, record, save.
TEN_KEYS = ("r", "Enter", "Enter", "Enter", "w", "e", "b", "Enter", "Enter", "Enter")


def _with_operator_header(box: DemoSandbox) -> None:
    config = tomllib.loads(box.config_path.read_text(encoding="utf-8"))
    config.setdefault("console", {})["operator_header"] = "X-Forwarded-User"
    config["console"]["operator"] = "configured-op"  # the session's operator beats it
    box.config_path.write_text(tomli_w.dumps(config), encoding="utf-8")


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[DemoSandbox]:
    """The demo sandbox, its config naming X-Forwarded-User as the operator header."""
    with running(tmp_path / "sandbox", _with_operator_header) as box:
        yield box


class Served:
    """``rollback-console serve`` as a process, its log in a file."""

    def __init__(self, config: Path, log: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = log
        env = {**os.environ, "SERVE_TOKEN": TOKEN}
        argv = [sys.executable, "-m", "console.cli", "serve", "--config", str(config)]
        with log.open("w") as sink:
            self.process = subprocess.Popen(
                [*argv, "--port", str(self.port), "--token-env", "SERVE_TOKEN", *args],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )
        deadline = time.monotonic() + 30
        while "serving " not in log.read_text():
            assert self.process.poll() is None, f"serve exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"serve did not start: {log.read_text()}"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def served(proxied: DemoSandbox, tmp_path: Path) -> Iterator[Served]:
    server = Served(proxied.config_path, tmp_path / "serve.log", "--operator", "fallback-op")
    try:
        yield server
    finally:
        server.stop()


def test_the_console_in_chromium(proxied: DemoSandbox, served: Served, tmp_path: Path) -> None:
    chromium_path()
    browser = Browser(tmp_path / "profile")
    try:
        browser.call("Network.enable")
        browser.call("Page.enable")
        browser.call("Log.enable")
        browser.call("Runtime.enable")
        # Without the token, the browser gets 401 and no console.
        browser.call("Page.navigate", url=served.url)
        browser.wait_for("the refused page", lambda: _statuses(browser, served.url) != [])
        assert _statuses(browser, served.url) == [401]
        # The proxy in front names the user; the address carries the token once.
        browser.call("Network.setExtraHTTPHeaders", headers={"X-Forwarded-User": "dana"})
        browser.call("Page.navigate", url=f"{served.url}?token={TOKEN}")
        browser.wait_for("the dashboard", lambda: "web (demo)" in browser.screen_text())
        browser.wait_for("the revisions", lambda: "v1.2.9" in browser.screen_text())
        assert browser.evaluate("document.title") == "rollback-console — web (demo)"
        assert browser.evaluate("location.search") == ""  # the token left the address bar

        browser.focus_terminal()
        browser.press("?")
        browser.wait_for("help", lambda: "Keys on the dashboard" in browser.screen_text())
        shot = browser.screenshot(ARTIFACTS / f"serve-help-{tmp_path.name}.png")
        print(f"screenshot: {shot}")
        assert shot.stat().st_size > 10_000  # a drawn terminal, not a blank page
        closed = browser.mark()
        browser.press("Escape")
        # The dashboard again (its footer redrawn) before the next key: an Escape followed
        # at once by "r" would reach the console as Alt+r.
        browser.wait_for("help closed", lambda: "Refresh" in browser.screen_text(closed))

        for key in TEN_KEYS:
            browser.press(key)
        history = proxied.root / "rollback-history.md"
        try:
            browser.wait_for(
                "the history entry",
                lambda: history.is_file() and "| Outcome |" in history.read_text(),
                timeout=45,
            )
        finally:
            print(f"screenshot: {browser.screenshot(ARTIFACTS / f'serve-end-{tmp_path.name}.png')}")
        entry = history.read_text()
        assert "| Operator | dana |" in entry
        assert (proxied.root / "current").resolve().name == "v1.2.9"

        origin = served.url.rstrip("/")
        ws_origin = origin.replace("http://", "ws://")
        outside = [u for u in browser.requests() if not u.startswith((origin, ws_origin))]
        assert outside == []
        assert any(u.endswith(".ttf") for u in browser.requests())  # the font, from here
        # The page's policy blocked nothing it needs, and nothing on it failed.
        complaints = [
            str(e["params"])
            for e in browser.events
            if e["method"] == "Runtime.exceptionThrown"
            or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
        ]
        assert [c for c in complaints if "401" not in c] == []
    finally:
        browser.close()
    assert "session opened: operator dana from 127.0.0.1" in served.log.read_text()


def _statuses(browser: Browser, url: str) -> list[int]:
    return [
        e["params"]["response"]["status"]
        for e in browser.events
        if e["method"] == "Network.responseReceived" and e["params"]["response"]["url"] == url
    ]


def test_requests_without_the_token_are_refused(served: Served) -> None:
    base = served.url
    assert httpx.get(base).status_code == 401
    assert httpx.get(f"{base}static/js/textual.js").status_code == 401
    assert httpx.get(f"{base}?token=wrong-token-wrong-token").status_code == 401
    assert httpx.get(base, headers={"Authorization": "Bearer nope"}).status_code == 401
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"ws://127.0.0.1:{served.port}/ws", timeout=10)
    assert refused.value.status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    page = httpx.get(base, headers=bearer)
    assert page.status_code == 200
    assert "<title>rollback-console — web (demo)</title>" in page.text
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)  # nothing from elsewhere
    # The token in the address: a cookie, the address without it.
    entered = httpx.get(f"{base}?token={TOKEN}")
    assert entered.status_code == 303 and entered.headers["location"] == "./"
    assert "HttpOnly" in entered.headers["set-cookie"]
    assert httpx.get(base, cookies=entered.cookies).status_code == 200
    # Another site's page must not drive the console, token or not.
    with pytest.raises(websocket.WebSocketBadStatusException) as foreign:
        websocket.create_connection(
            f"ws://127.0.0.1:{served.port}/ws",
            header=[f"Authorization: Bearer {TOKEN}"],
            origin="http://evil.example",
            timeout=10,
        )
    assert foreign.value.status_code == 403
    assert TOKEN not in served.log.read_text()


def test_the_session_gets_its_operator_and_not_the_token(served: Served) -> None:
    """Without the proxy's header, ``--operator`` is the session's operator; the console
    process gets it, and not the token's variable; stopping the server ends it."""
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{served.port}/ws?width=80&height=24",
        header=[f"Authorization: Bearer {TOKEN}"],
        timeout=10,
    )
    try:
        pid, environ = _session_process(served.process.pid)
        assert environ.get(ENV_SESSION_OPERATOR) == "fallback-op"
        assert "SERVE_TOKEN" not in environ
        assert "session opened: operator fallback-op" in served.log.read_text()
        served.stop()
        assert served.process.returncode == 0, served.log.read_text()
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), "session left running"
    finally:
        ws.close()


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True


def _session_process(server_pid: int, timeout: float = 20) -> tuple[int, dict[str, str]]:
    """The console process the server started for a session, and its environment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in _descendants(server_pid):
            try:
                raw = Path(f"/proc/{pid}/environ").read_bytes()
                argv = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"console.cli" in argv:
                pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
                return pid, {
                    k.decode(errors="replace"): v.decode(errors="replace") for k, _, v in pairs
                }
        time.sleep(0.05)
    raise AssertionError("no console process was started for the session")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_bytes().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--host", "0.0.0.0"], {}, "--host 0.0.0.0 is not a loopback address"),
        (["--allow-remote"], {}, "--allow-remote requires --token-env VAR"),
        (["--token-env", "SERVE_T"], {}, "$SERVE_T is not set or empty"),
        (["--token-env", "SERVE_T"], {"SERVE_T": "short"}, "shorter than 16 characters"),
        (["--token-env", "not a name!"], {}, "--token-env must name an environment variable"),
        ([], {}, "serve needs --operator NAME or console.operator_header"),
        (["--operator", ""], {}, "--operator must not be empty"),
        (["--operator", "x", "--service", "nope"], {}, "unknown service 'nope'"),
    ],
)
def test_bad_serve_arguments_are_one_line_and_exit_2(
    sandbox: DemoSandbox,
    args: list[str],
    env: dict[str, str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    done = run_console(sandbox.config_path, "serve", *args, timeout=60)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_remote_host_with_a_token_listens(tmp_path: Path, sandbox: DemoSandbox) -> None:
    """``--allow-remote`` with a token: listening on every address, the token required."""
    server = Served(
        sandbox.config_path,
        tmp_path / "remote.log",
        "--host",
        "0.0.0.0",
        "--allow-remote",
        "--operator",
        "erin",
    )
    try:
        assert httpx.get(server.url).status_code == 401
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(server.url, headers=headers).status_code == 200
    finally:
        server.stop()


def test_a_port_taken_is_one_line_and_exit_2(sandbox: DemoSandbox) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_console(
            sandbox.config_path, "serve", "--operator", "x", "--port", str(port), timeout=60
        )
    assert done.returncode == 2, done.stderr
    assert f"serve cannot listen on 127.0.0.1:{port}" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_bad_operator_header_is_named(tmp_path: Path) -> None:
    def bad_header(box: DemoSandbox) -> None:
        config = tomllib.loads(box.config_path.read_text(encoding="utf-8"))
        config.setdefault("console", {})["operator_header"] = "X Forwarded: User"
        box.config_path.write_text(tomli_w.dumps(config), encoding="utf-8")

    box = build_sandbox(tmp_path / "sandbox")
    bad_header(box)
    done = run_console(box.config_path, "serve", "--operator", "x", timeout=60)
    assert done.returncode == 2, done.stderr
    assert "operator_header" in done.stderr and "HTTP header name" in done.stderr


def test_sessions_inherit_read_only_and_the_log_flags(tmp_path: Path) -> None:
    """``serve --read-only --log-file F --debug``: each browser session's console runs with
    the same flags, so a watcher's page cannot roll back and its calls are logged."""
    from console.cli.parser import build_parser
    from console.cli.serve import app_command, ops_flags

    args = build_parser().parse_args(
        ["serve", "--read-only", "--log-file", "calls.log", "--debug", "--operator", "x"]
    )
    config = cast(Config, SimpleNamespace(path=tmp_path / "c.toml"))  # only its path is read
    command = app_command(config, None, ops_flags(args))
    assert "--read-only" in command
    assert f"--log-file {Path('calls.log').resolve()}" in command
    assert command.endswith("--debug")
    plain = app_command(config, None, ops_flags(build_parser().parse_args(["serve"])))
    assert "--read-only" not in plain and "--log-file" not in plain
