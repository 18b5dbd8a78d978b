"""A real headless Chromium, driven over the Chrome DevTools Protocol, for ``serve``'s tests.

Debian's ``chromium`` started with ``--remote-debugging-port=0``; the page's
websocket endpoint read from ``/json/list``; the protocol spoken with
``websocket-client`` (already installed: the Kubernetes SDK uses it).  The
browser's network events are kept, so a test sees every request the page made
and every websocket frame the console sent it.

xterm.js draws the terminal on a canvas: the screen's text is not in the DOM.
What the console drew is read from the frames the browser received
(``screen_text``), what the operator saw from a screenshot.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websocket

#: Escape sequences: CSI (colours, cursor moves), OSC, the two-byte ones.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def chromium_path() -> str:
    """Debian's ``chromium``; the test is skipped without it, and fails under CI=true."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed (.ci/run installs the Debian package)")
    pytest.skip("chromium is not installed (apt-get install chromium)")


class Browser:
    """One headless Chromium with one page; ``close`` ends the process."""

    def __init__(self, profile: Path, size: tuple[int, int] = (1280, 800)) -> None:
        self.profile = profile
        self.process = subprocess.Popen(
            [
                chromium_path(),
                "--headless=new",
                "--no-sandbox",  # tests run as root in CI containers
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--window-size={size[0]},{size[1]}",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        try:
            port = self._port()
            page = next(
                t
                for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json()
                if t["type"] == "page"
            )
            self.ws = websocket.create_connection(
                page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True
            )
        except BaseException:
            self.close()
            raise

    def _port(self) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if marker.is_file() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port in 30 s")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command; its result (events read meanwhile are kept)."""
        self._next_id += 1
        wanted = self._next_id
        self.ws.send(json.dumps({"id": wanted, "method": method, "params": params}))
        while True:
            message = self._receive(30)
            if message is None:
                raise TimeoutError(f"no answer to {method} in 30 s")
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        self.ws.settimeout(max(timeout, 0.01))
        try:
            message: dict[str, Any] = json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            return None
        if "method" in message:
            self.events.append(message)
        return message

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = 30) -> None:
        """Read events until ``check()`` holds; fail naming ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not check():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
            self._receive(min(left, 0.5))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def requests(self) -> list[str]:
        """Every URL the page requested (documents, scripts, styles, fonts, websockets)."""
        urls = [
            e["params"]["request"]["url"]
            for e in self.events
            if e["method"] == "Network.requestWillBeSent"
        ]
        urls += [
            e["params"]["url"] for e in self.events if e["method"] == "Network.webSocketCreated"
        ]
        return urls

    def mark(self) -> int:
        """Where the events are now: ``screen_text(since=mark)`` reads only what came after."""
        return len(self.events)

    def screen_text(self, since: int = 0) -> str:
        """What the console sent to the page's terminal (after ``since``), escapes removed."""
        data = b"".join(
            base64.b64decode(e["params"]["response"]["payloadData"])
            if e["params"]["response"]["opcode"] == 2
            else e["params"]["response"]["payloadData"].encode()
            for e in self.events[since:]
            if e["method"] == "Network.webSocketFrameReceived"
        )
        return _ESCAPES.sub("", data.decode("utf-8", "replace"))

    def focus_terminal(self) -> None:
        """Click into the terminal, as the operator would before typing."""
        for kind in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent", type=kind, x=200, y=200, button="left", clickCount=1
            )

    def press(self, key: str) -> None:
        """One key as the operator types it: a character, or ``Enter`` / ``Escape``."""
        named = {"Enter": (13, "\r"), "Escape": (27, "")}
        code, text = named.get(key, (ord(key.upper()) if len(key) == 1 else 0, key))
        for kind in ("keyDown", "keyUp"):
            params: dict[str, Any] = {
                "type": kind,
                "key": key,
                "windowsVirtualKeyCode": code,
                "nativeVirtualKeyCode": code,
            }
            if key in named:
                params["code"] = key  # xterm.js tells Escape and Enter by it
            if kind == "keyDown" and text:
                params["text"] = text
            self.call("Input.dispatchKeyEvent", **params)

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot")["data"]))
        return path

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
