"""``ConsoleServer``: textual-serve's server with a token, an origin check, the operator
of each session and a page of our own (see the package's docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
import textual_serve
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server

from console.config.console import ENV_SESSION_OPERATOR, operator_problem

#: The cookie holding proof of the token once it was given in the address.
COOKIE = "rollback_console_token"
#: Where our page lives (``index.html``); textual-serve's static files are served as is.
HERE = Path(__file__).resolve().parent
STATIC = Path(textual_serve.__file__).resolve().parent / "static"
#: The page loads scripts, styles and fonts from this server only; the websocket too.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
#: How long a session's console has to quit when told (then SIGTERM, then SIGKILL).
SESSION_QUIT_S = 3.0
#: How long stopping the server waits for the sessions' consoles to end.
STOP_WAIT_S = 4 * SESSION_QUIT_S
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class WebOptions:
    """What ``serve`` decided from its flags and the config."""

    #: The shell command each session runs (the console on the same config).
    command: str
    host: str
    port: int
    #: The page's title: the service(s), never the command line.
    title: str
    #: ``--operator`` ("" = none): the operator when the proxy's header is absent.
    operator: str
    #: ``console.operator_header`` ("" = none).
    operator_header: str
    #: The token every request must carry ("" = none: loopback only).
    token: str
    #: The variable the token came from: kept out of each session's environment.
    token_env: str


class _Session(AppService):
    """One browser session's console process, with the operator set and the token out."""

    def __init__(self, command: str, *, set_env: dict[str, str], drop_env: str, **kw: Any):
        super().__init__(command, **kw)
        self._set_env = set_env
        self._drop_env = drop_env

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width=width, height=height)
        if self._drop_env:
            environment.pop(self._drop_env, None)
        environment.update(self._set_env)
        return environment

    async def stop(self) -> None:
        """Tell the console to quit, and see that it did (else SIGTERM, then SIGKILL).

        textual-serve stops waiting for the process when the browser has gone (its
        output has nowhere to go); the console could then live on, unseen.
        """
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(super().stop(), SESSION_QUIT_S)
        process = self._process
        if process is None or process.returncode is not None:
            return
        for end in (process.terminate, process.kill):
            try:
                await asyncio.wait_for(process.wait(), SESSION_QUIT_S)
                return
            except TimeoutError:
                if process.returncode is None:
                    end()
        await process.wait()


class ConsoleServer(Server):
    def __init__(self, options: WebOptions, log: TextIO) -> None:
        super().__init__(
            options.command,
            host=options.host,
            port=options.port,
            title=options.title,
            statics_path=STATIC,
            templates_path=HERE,
        )
        self.options = options
        self.log = log
        #: The open sessions' websockets: closed when the server stops, which ends
        #: their console processes (an open one would hold the shutdown for a minute).
        self._open: set[web.WebSocketResponse] = set()
        # The cookie holds a digest of the token, not the token.
        self._cookie = (
            hmac.new(options.token.encode(), b"cookie", hashlib.sha256).hexdigest()
            if options.token
            else ""
        )

    # -- the aiohttp application ------------------------------------------------------

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(HERE)), autoescape=True)
        app.add_routes(
            [
                web.get("/", self.handle_index, name="index"),
                web.get("/ws", self.handle_websocket, name="websocket"),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.static("/static", STATIC, name="static"),
            ]
        )
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Token, origin and operator, checked before any handler runs."""
        if self.options.token:
            given = request.query.get("token")
            if given is not None:
                if not _same(given, self.options.token):
                    return _refused(401, "wrong token")
                if request.path == "/":  # keep it out of the address bar and the history
                    return self._enter(request)
            elif not self._authorised(request):
                return _refused(401, "this console needs its token (see README, In a browser)")
        if request.path == "/ws" and not _same_origin(request):
            return _refused(403, "websocket from another origin")
        if request.path in ("/", "/ws"):
            operator = self.operator(request)
            if not operator:
                return _refused(403, f"no operator: the {self.options.operator_header} header")
            request["operator"] = operator
        response = await handler(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    def _authorised(self, request: web.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and _same(value.strip(), self.options.token):
            return True
        return _same(request.cookies.get(COOKIE, ""), self._cookie)

    def _enter(self, request: web.Request) -> web.StreamResponse:
        """``/?token=…`` right: the cookie set, the same page without the token."""
        rest = {k: v for k, v in request.query.items() if k != "token"}
        response = web.HTTPSeeOther(location="./" + (f"?{urlencode(rest)}" if rest else ""))
        response.set_cookie(
            COOKIE,
            self._cookie,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=request.secure or request.headers.get("X-Forwarded-Proto") == "https",
        )
        return response

    def operator(self, request: web.Request) -> str:
        """The session's operator: the trusted proxy's header, else ``--operator``."""
        header = self.options.operator_header
        if header:
            name = request.headers.get(header, "").strip()
            if name and not operator_problem(name):
                return name
        return self.options.operator

    # -- the page and the sessions ----------------------------------------------------

    async def handle_index(self, request: web.Request) -> web.Response:
        context = {
            "title": self.title,
            "font_size": _int(request.query.get("fontsize", "16"), 16, 6, 48),
        }
        return aiohttp_jinja2.render_template("index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """textual-serve's handler, with our session (operator in, token out) and a log line."""
        websocket = web.WebSocketResponse(heartbeat=15)
        width = _int(request.query.get("width", "80"), 80, 10, 1000)
        height = _int(request.query.get("height", "24"), 24, 5, 1000)
        operator = str(request["operator"])
        session: _Session | None = None
        self._say(f"session opened: operator {operator} from {request.remote}")
        try:
            await websocket.prepare(request)
            self._open.add(websocket)
            session = _Session(
                self.command,
                set_env={ENV_SESSION_OPERATOR: operator},
                drop_env=self.options.token_env,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,
                download_manager=self.download_manager,
                debug=self.debug,
            )
            await session.start(width, height)
            await self._process_messages(websocket, session)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception as error:  # one session's failure must not stop the server
            self._say(f"session failed: {type(error).__name__}: {error}")
        finally:
            if session is not None:
                await session.stop()
            self._open.discard(websocket)
            self._say(f"session closed: operator {operator}")
        return websocket

    def _say(self, line: str) -> None:
        print(line, file=self.log, flush=True)

    def run(self) -> None:
        """Serve until SIGINT or SIGTERM (textual-serve's ``serve`` without its access log).

        "serving" is said once the socket listens, not before: a port already taken
        is ``OSError`` and nothing claimed to serve.
        """
        asyncio.run(self._run())

    async def _run(self) -> None:
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopped.set)
        runner = web.AppRunner(await self._make_app(), handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
            token = f"token from ${self.options.token_env}" if self.options.token else "no token"
            host = f"[{self.host}]" if ":" in self.host else self.host
            self._say(f"serving {self.title} on http://{host}:{self.port}/ ({token}); Ctrl+C stops")
            await stopped.wait()
            self._say(f"stopping: closing {len(self._open)} session(s)")
            for websocket in list(self._open):
                await websocket.close(code=1001, message=b"server stopping")
            # Each session's handler stops its console (it is told to quit and waited for).
            deadline = loop.time() + STOP_WAIT_S
            while self._open and loop.time() < deadline:
                await asyncio.sleep(0.05)
        finally:
            await runner.cleanup()


def serve(options: WebOptions, log: TextIO) -> None:
    """Run the server in this process until SIGINT or SIGTERM; its lines go to ``log``.

    ``OSError`` when the address cannot be had (a port taken, an address not here).
    """
    ConsoleServer(options, log).run()


def _same(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _same_origin(request: web.Request) -> bool:
    """A websocket without an Origin (not a browser) or from this page's own origin."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    host = request.headers.get("X-Forwarded-Host") or request.host
    return origin.split("://", 1)[-1].rstrip("/") == host


def _refused(status: int, why: str) -> web.Response:
    response = web.Response(status=status, text=f"refused: {why}\n")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="rollback-console"'
    return response


def _int(text: str, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(text), low), high)
    except ValueError:
        return default
