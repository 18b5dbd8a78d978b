"""Health checks: real HTTP GETs against the service's health URLs.

``check_health`` runs every check at once, each in its own daemon thread with
its own timeout, and returns one ``HealthResult`` per check in the order the
checks were given.  It never raises: a refused connection, a timeout, a DNS
failure or a TLS error becomes ``HealthResult(ok=False, status_code=None,
error="connection refused (10.0.0.5:8080)")``, the short sentence a panel
shows.

The timeout is enforced twice.  httpx applies ``timeout_s`` to each phase
(connect, read, ...), but not to the DNS lookup nor to a server that trickles
one byte at a time; so the caller also stops waiting ``timeout_s`` (plus a
little slack) after the check started and reports "no response within N s".
A thread left behind that way is a daemon and only ever writes its own,
already abandoned, slot.  The UI therefore never waits on a check for longer
than the slowest check's timeout.

Every client gets the same TLS context (``tls_context``), built once: httpx
builds one per client by reading the whole CA bundle (~30 ms of CPU), which a
dashboard paid every two seconds, in a thread that held the GIL meanwhile.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Sequence

import httpx

from console.config import HealthCheck
from console.model import HealthResult, utcnow
from console.redact import Redactor, display_url, url_secrets

#: Sent with every health and probe request, so the service's logs can tell them apart.
USER_AGENT = "rollback-console"

#: Extra seconds the caller waits beyond a check's own timeout before giving up on it.
_SLACK_S = 0.5

_DNS_HINTS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated",
    "getaddrinfo failed",
    "name resolution",
    "no such host",
)


def check_health(
    checks: Sequence[HealthCheck], client: httpx.Client | None = None
) -> tuple[HealthResult, ...]:
    """GET every check's URL concurrently; ``ok`` means the status equals ``expect_status``.

    ``client`` is reused when given (the caller keeps ownership and closes it);
    otherwise a client is made for this call.  Redirects are not followed: a
    301 is what the URL answered, as ``curl -f`` would see it.
    """
    if not checks:
        return ()
    own = client is None
    http = client if client is not None else new_client()
    results: list[HealthResult | None] = [None] * len(checks)

    def run(index: int, check: HealthCheck) -> None:
        results[index] = _check_one(http, check)

    started = time.monotonic()
    threads = [
        threading.Thread(target=run, args=(i, c), name=f"health-{i}", daemon=True)
        for i, c in enumerate(checks)
    ]
    for thread in threads:
        thread.start()
    for thread, check in zip(threads, checks, strict=True):
        thread.join(max(0.0, started + check.timeout_s + _SLACK_S - time.monotonic()))
    final = tuple(
        result if result is not None else _gave_up(check)
        for result, check in zip(list(results), checks, strict=True)
    )
    if own and all(not t.is_alive() for t in threads):
        # Left-behind threads still hold the client; it is garbage once they finish.
        http.close()
    return final


_tls: ssl.SSLContext | None = None
_tls_lock = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """httpx's own default verification (the certifi bundle, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR``), built on first use and then shared (see the module docstring)."""
    global _tls
    with _tls_lock:
        if _tls is None:
            _tls = httpx.create_ssl_context()
        return _tls


def new_client(max_connections: int = 20) -> httpx.Client:
    """The httpx client health checks and the probe share the settings of."""
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.Client(
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        limits=limits,
        verify=tls_context(),
    )


def _check_one(client: httpx.Client, check: HealthCheck) -> HealthResult:
    """One GET; the result names the URL without its credentials (``display_url``)."""
    at = utcnow()
    t0 = time.perf_counter()
    try:
        response = client.get(check.url, timeout=check.timeout_s)
    except Exception as exc:  # every failure is a result, never an exception
        return HealthResult(
            url=check.display_url,
            ok=False,
            status_code=None,
            latency_ms=None,
            error=describe_error(exc, check.url, check.timeout_s),
            at=at,
        )
    latency_ms = (time.perf_counter() - t0) * 1000.0
    ok = response.status_code == check.expect_status
    error = "" if ok else f"HTTP {response.status_code}, expected {check.expect_status}"
    return HealthResult(
        url=check.display_url,
        ok=ok,
        status_code=response.status_code,
        latency_ms=latency_ms,
        error=error,
        at=at,
    )


def _gave_up(check: HealthCheck) -> HealthResult:
    return HealthResult(
        url=check.display_url,
        ok=False,
        status_code=None,
        latency_ms=None,
        error=f"no response within {check.timeout_s:g} s ({_netloc(check.url)})",
    )


def describe_error(exc: BaseException, url: str, timeout_s: float) -> str:
    """A short sentence naming what went wrong with ``url``: "connection refused (host:port)".

    Never the URL's credentials: the sentence names the host, or the URL as
    ``display_url`` shows it, and the exception's own text is masked of them.
    """
    where = _netloc(url)
    text = Redactor(url_secrets(url))(_first_line(str(exc)))
    lower = text.lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timeout after {timeout_s:g} s ({where})"
    if isinstance(exc, httpx.TimeoutException):
        return f"no response within {timeout_s:g} s ({where})"
    if isinstance(exc, httpx.ConnectError):
        if "refused" in lower:
            return f"connection refused ({where})"
        if any(hint in lower for hint in _DNS_HINTS):
            return f"DNS lookup failed for {_host(url)}"
        if "unreachable" in lower:
            return f"network unreachable ({where})"
        if "certificate" in lower or "ssl" in lower or "tls" in lower:
            return f"TLS error ({where}): {text}"
        return f"cannot connect ({where}): {text}" if text else f"cannot connect ({where})"
    if isinstance(exc, httpx.RemoteProtocolError):
        if "without sending" in lower or "disconnected" in lower:
            return f"connection closed without a response ({where})"
        return f"protocol error ({where}): {text}"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return f"invalid URL {display_url(url)!r}: {text}"
    if isinstance(exc, httpx.HTTPError):
        return f"{text} ({where})" if text else f"{type(exc).__name__} ({where})"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _netloc(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except Exception:
        return display_url(url)
    host = parsed.host or display_url(url)
    return f"{host}:{parsed.port}" if parsed.port else host


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host or display_url(url)
    except Exception:
        return display_url(url)


def _first_line(text: str, limit: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
