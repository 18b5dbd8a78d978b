"""``--log-file PATH`` / ``--debug``: a plain log of API calls and timings, for the review
after an incident.

One line a call: ``2026-12-06T07:10:02.114Z INFO api GET http://127.0.0.1:8080/health
200 3.1 ms``: method, the URL without its query or credentials, the status (or the
error) and how long it took.  Every HTTP call the console makes goes through httpx
(health checks, probes, Prometheus, Cloud Monitoring, webhooks, your own steps) or
urllib3 (the Kubernetes, AWS and Google SDKs); both are timed where a request is
sent (``httpx.HTTPTransport.handle_request``, ``urllib3``'s
``HTTPConnectionPool.urlopen``), as OpenTelemetry's instrumentations do, only once
a log file is asked for.

``--debug`` adds the libraries' own debug logging (urllib3, botocore, httpx,
kubernetes) and our loggers' details.  All of it goes to the file, never to the
terminal or the TUI screen, and every line goes through the config's redactor
(``console.redact``) and a scrub of authorization headers and tokens first.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from console import redact

#: The logger every line of ours goes to (the file handler hangs here, or on root in debug).
LOGGER = "rollback_console"
log = logging.getLogger(LOGGER)
api_log = logging.getLogger(f"{LOGGER}.api")

#: Header and field values that are credentials whatever the config says.
_SECRET_FIELDS = re.compile(
    r"(?i)(['\"]?(?:authorization|proxy-authorization|x-amz-security-token|x-goog-api-key"
    r"|cookie|set-cookie|x-api-key|private-token)['\"]?\s*[:=]\s*['\"]?)([^'\"\r\n,}]+)"
)

#: The same as ``(b'Set-Cookie', b'...')`` in httpcore's debug lines of headers.
_SECRET_HEADER_TUPLES = re.compile(
    r"(?i)(b?['\"](?:authorization|proxy-authorization|x-amz-security-token|cookie|set-cookie"
    r"|x-api-key|x-goog-api-key|private-token)['\"],\s*b?['\"])([^'\"]+)"
)

_installed: logging.Handler | None = None


class _RedactingFormatter(logging.Formatter):
    """Plain text in UTC, each line redacted as everything else the console writes."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        text = _SECRET_FIELDS.sub(lambda m: f"{m[1]}{redact.MASK}", text)
        text = _SECRET_HEADER_TUPLES.sub(lambda m: f"{m[1]}{redact.MASK}", text)
        return redact.active()(text).replace("\r", "\\r")


def setup(path: Path, *, debug: bool = False) -> Path:
    """Send the console's log to ``path`` (appended; created 0600); instrument HTTP calls.

    Called once per process, after the config (and so its redactor) is loaded.
    Raises ``OSError`` when the file cannot be opened.
    """
    global _installed
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8", delay=False)
    path.chmod(0o600)
    handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    level = logging.DEBUG if debug else logging.INFO
    handler.setLevel(level)
    if _installed is not None:
        for logger in (logging.getLogger(), log):
            logger.removeHandler(_installed)
        _installed.close()
    _installed = handler
    if debug:
        # The libraries' own debug lines too: root carries the file, and nothing else
        # (Python's last-resort stderr output is then never used either).
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        log.propagate = True
    else:
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(level)
    _instrument_httpx()
    _instrument_urllib3()
    log.info("log started (%s)", "debug" if debug else "api calls")
    return path


def stop() -> None:
    """Close the file and log nothing more (tests open several logs in one process)."""
    global _installed
    if _installed is not None:
        for logger in (logging.getLogger(), log):
            logger.removeHandler(_installed)
        _installed.close()
        _installed = None
    log.setLevel(logging.NOTSET)
    log.propagate = True
    logging.getLogger().setLevel(logging.WARNING)


def shown_url(url: str) -> str:
    """``url`` without credentials or query: scheme, host, port, path."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        return f"{parts.scheme}://{host}{parts.path or '/'}"
    except ValueError:
        return redact.display_url(url)


def api_call(method: str, url: str, outcome: str, started: float) -> None:
    """One line for one request: method, URL, status (or error), milliseconds."""
    ms = (time.perf_counter() - started) * 1000
    api_log.info("%s %s %s %.1f ms", method.upper(), shown_url(url), outcome, ms)


def _timed(send: Callable[..., Any], describe: Callable[..., tuple[str, str]]) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        if not api_log.isEnabledFor(logging.INFO):
            return send(*args, **kwargs)
        try:
            method, url = describe(*args, **kwargs)
        except Exception:  # a call shaped otherwise than expected: sent, not logged
            return send(*args, **kwargs)
        started = time.perf_counter()
        try:
            response = send(*args, **kwargs)
        except Exception as exc:
            api_call(method, url, f"failed ({type(exc).__name__}: {exc})", started)
            raise
        api_call(
            method, url, str(getattr(response, "status_code", None) or response.status), started
        )
        return response

    timed.__wrapped__ = send  # type: ignore[attr-defined]
    return timed


def _instrument_httpx() -> None:
    import httpx

    transport = httpx.HTTPTransport
    if hasattr(transport.handle_request, "__wrapped__"):
        return

    def describe(_self: Any, request: httpx.Request) -> tuple[str, str]:
        return request.method, str(request.url)

    transport.handle_request = _timed(transport.handle_request, describe)  # type: ignore[method-assign]


def _instrument_urllib3() -> None:
    try:
        from urllib3.connectionpool import HTTPConnectionPool
    except ImportError:  # no SDK installed that uses it
        return
    if hasattr(HTTPConnectionPool.urlopen, "__wrapped__"):
        return

    def describe(pool: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
        method = str(kwargs.get("method") or args[0])
        url = str(kwargs.get("url") or args[1])
        if "://" not in url:
            port = f":{pool.port}" if pool.port else ""
            url = f"{pool.scheme}://{pool.host}{port}{url}"
        return method, url

    HTTPConnectionPool.urlopen = _timed(HTTPConnectionPool.urlopen, describe)  # type: ignore[method-assign]
