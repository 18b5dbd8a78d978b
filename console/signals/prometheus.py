"""The ``prometheus`` error-rate source: PromQL over Prometheus's HTTP API.

``[services.error_rate]`` with ``source = "prometheus"``, ``url`` (the
server's base URL), ``query`` (PromQL giving the error ratio, 0..1, as one
instant value) and optionally ``latency_query`` (PromQL giving p95 latency in
seconds).  For example::

    query = 'sum(rate(http_requests_total{job="web",code=~"5.."}[$window]))
             / sum(rate(http_requests_total{job="web"}[$window]))'
    latency_query = 'histogram_quantile(0.95,
             sum(rate(http_request_duration_seconds_bucket{job="web"}[$window])) by (le))'

``$window`` (or ``${window}``) in a query is replaced by the time span being
asked about: the sliding ``window_s`` for ``sample()``, and the time since
``since`` for ``sample(since=t)``, so a verification after a rollback only
counts requests served after it.  A query without ``$window`` is evaluated as
written (its own range applies, ``since`` cannot narrow it).

Requests: ``Sample.requests`` is the number of requests in the window.  It
comes from ``requests_query`` when one is given (PromQL giving a count, e.g.
``sum(increase(http_requests_total{job="web"}[$window]))``); otherwise it is
estimated from the error-ratio query itself when that is ``A / B`` with a
per-second ``rate`` in ``B``: ``B`` times the window.  ``0`` means no
traffic (an error ratio of 0/0 is NaN, reported as no data).  When ``B``
shows traffic but ``A`` has no series at all (a 5xx counter that never
existed, so ``A / B`` is empty), the error ratio is 0, not "no data".

The source does blocking I/O in ``sample`` and ``history`` (httpx, one
client kept between ``start`` and ``stop``); the app calls them from workers.
Every failure is a ``SignalError`` with one line: Prometheus unreachable,
the query rejected (Prometheus's own ``errorType`` and ``error``), a server
error, an answer that is not Prometheus's JSON, or a query that returns
several series or a range vector instead of one value.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from console.config import ServiceConfig
from console.model import Sample
from console.redact import display_url
from console.signals.base import SignalError
from console.signals.health import USER_AGENT, describe_error

_WINDOW = re.compile(r"\$\{window\}|\$window\b")


def window_text(seconds: float) -> str:
    """A PromQL duration for ``seconds``: whole seconds, at least one."""
    return f"{max(1, math.ceil(seconds))}s"


def _number(raw: Any) -> float | None:
    """A Prometheus sample value ("0.25", "NaN", "+Inf") as a finite float, or None."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def split_ratio(query: str) -> tuple[str, str] | None:
    """(numerator, denominator) when ``query`` is ``A / B`` at its top level, else None."""
    depth = 0
    quote = ""
    cut = -1
    for i, ch in enumerate(query):
        if quote:
            if ch == quote and query[i - 1] != "\\":
                quote = ""
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "/" and depth == 0:
            if cut != -1:
                return None  # a / b / c: not a plain ratio
            cut = i
    if cut == -1:
        return None
    numerator, denominator = query[:cut].strip(), query[cut + 1 :].strip()
    # "/ on(...)" or "/ ignoring(...)" vector matching belongs to the operator.
    denominator = re.sub(r"^(on|ignoring)\s*\([^)]*\)\s*", "", denominator)
    denominator = re.sub(r"^group_(left|right)\s*(\([^)]*\))?\s*", "", denominator)
    if not numerator or not denominator:
        return None
    return numerator, denominator


class PrometheusSource:
    """Error ratio, p95 and request count from PromQL queries (see the module docstring)."""

    name: str = "prometheus"

    def __init__(
        self,
        url: str,
        query: str,
        latency_query: str = "",
        *,
        requests_query: str = "",
        window_s: float = 300.0,
        interval_s: float = 15.0,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not url:
            raise SignalError("the prometheus source needs the server's url")
        if not query.strip():
            raise SignalError("the prometheus source needs a query giving the error ratio")
        if window_s <= 0 or interval_s <= 0 or timeout_s <= 0:
            raise ValueError("window_s, interval_s and timeout_s must be positive")
        self.url = url.rstrip("/")
        #: The url as messages name it: without its credentials.
        self.shown_url = display_url(self.url)
        self.query = query.strip()
        self.latency_query = latency_query.strip()
        self.requests_query = requests_query.strip()
        self.window_s = float(window_s)
        self.interval_s = float(interval_s)
        self.timeout_s = float(timeout_s)
        #: Wall clock in Unix seconds (tests pin it to query backfilled data).
        self.clock = clock
        #: The last error seen, as one line ("" when the last query worked).
        self.last_error = ""
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._estimate: tuple[str, bool] | None = None
        if not self.requests_query:
            ratio = split_ratio(self.query)
            if ratio is not None:
                denominator = ratio[1]
                per_second = bool(re.search(r"\b(i?rate)\s*\(", denominator))
                self._estimate = (denominator, per_second)

    @classmethod
    def from_config(cls, service: ServiceConfig) -> PrometheusSource:
        cfg = service.error_rate
        return cls(
            cfg.url,
            cfg.query,
            cfg.latency_query,
            requests_query=str(getattr(cfg, "requests_query", "") or ""),
            window_s=cfg.window_s,
            interval_s=cfg.interval_s,
            timeout_s=cfg.timeout_s,
        )

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Open the HTTP client; nothing runs in the background (queries are on demand)."""
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=self.timeout_s,
                    headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                    follow_redirects=False,
                )

    def stop(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> PrometheusSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- HTTP

    def _get(self, path: str, params: dict[str, str]) -> Any:
        """GET an API path; the ``data`` member of a successful answer, else SignalError."""
        with self._lock:
            client = self._client
        own = client is None
        if client is None:
            client = httpx.Client(timeout=self.timeout_s, headers={"User-Agent": USER_AGENT})
        endpoint = f"{self.url}{path}"
        try:
            response = client.get(endpoint, params=params)
        except httpx.HTTPError as exc:
            raise self._fail(
                f"Prometheus at {self.shown_url}: {describe_error(exc, endpoint, self.timeout_s)}"
            ) from None
        finally:
            if own:
                client.close()
        try:
            body = response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise self._fail(
                f"{self.shown_url} answered HTTP {response.status_code} with {kind}, "
                "not Prometheus's JSON API (is the url the Prometheus server's base URL?)"
            ) from None
        if not isinstance(body, dict) or "status" not in body:
            raise self._fail(
                f"{self.shown_url} answered JSON that is not Prometheus's API response"
            )
        if body.get("status") != "success":
            kind = body.get("errorType", "error")
            detail = " ".join(str(body.get("error", "")).split())
            if response.status_code in (400, 422):
                raise self._fail(
                    f"Prometheus rejected the query {params.get('query', '')!r}: {kind}: {detail}"
                )
            raise self._fail(
                f"Prometheus at {self.shown_url} answered HTTP {response.status_code}: "
                f"{kind}: {detail}"
            )
        return body.get("data")

    def _fail(self, message: str) -> SignalError:
        self.last_error = message
        return SignalError(message)

    def _instant(self, query: str, at: float) -> float | None:
        """One value of an instant query at ``at``; None when it has no (finite) value."""
        data = self._get("/api/v1/query", {"query": query, "time": f"{at:.3f}"})
        kind = (data or {}).get("resultType")
        result = (data or {}).get("result")
        if kind == "scalar":
            return _number(result[1]) if isinstance(result, list) and len(result) == 2 else None
        if kind == "vector":
            if not result:
                return None
            if len(result) > 1:
                raise self._fail(
                    f"the query {query!r} returns {len(result)} series; aggregate it to one "
                    "value (for example with sum(...))"
                )
            return _number(result[0].get("value", [None, None])[1])
        if kind == "matrix":
            raise self._fail(
                f"the query {query!r} returns a range vector; give an instant value "
                "(for example rate(...[$window]))"
            )
        raise self._fail(f"the query {query!r} returns {kind or 'nothing'}, not a number")

    # ----------------------------------------------------------------- data

    def _bind(self, query: str, window: float) -> str:
        return _WINDOW.sub(window_text(window), query)

    def _requests(self, window: float, at: float, rate: float | None) -> int:
        if self.requests_query:
            count = self._instant(self._bind(self.requests_query, window), at)
            return max(0, round(count)) if count is not None else 0
        if self._estimate is None:
            return 1 if rate is not None else 0
        denominator, per_second = self._estimate
        value = self._instant(self._bind(denominator, window), at)
        if value is None or value <= 0:
            return 0
        count = value * window if per_second else value
        return max(1, round(count))

    def sample(self, since: datetime | None = None) -> Sample:
        """Error ratio, p95 and requests now, over ``window_s`` or since ``since``."""
        now = self.clock()
        window = self.window_s if since is None else max(1.0, now - self._unix(since))
        self.last_error = ""
        rate = self._instant(self._bind(self.query, window), now)
        if rate is not None:
            rate = min(1.0, max(0.0, rate))
        p95 = None
        if self.latency_query:
            seconds = self._instant(self._bind(self.latency_query, window), now)
            p95 = seconds * 1000.0 if seconds is not None else None
        requests = self._requests(window, now, rate)
        if requests == 0:
            rate = None
        elif rate is None and self._estimate is not None:
            # A / B with traffic in B but no series in A: no error was ever recorded
            # (a 5xx counter that does not exist yet), which is an error ratio of 0.
            rate = 0.0
        return Sample(
            at=datetime.fromtimestamp(now, UTC),
            error_rate=rate,
            p95_ms=p95,
            requests=requests,
            source=self.name,
        )

    def history(self, points: int = 60) -> list[Sample]:
        """Up to ``points`` values, oldest first, one every ``interval_s`` (a range query)."""
        if points <= 0:
            return []
        end = self.clock()
        step = self.interval_s
        start = end - step * (points - 1)
        params = {
            "query": self._bind(self.query, self.window_s),
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
        }
        data = self._get("/api/v1/query_range", params)
        result = (data or {}).get("result") or []
        if len(result) > 1:
            raise self._fail(
                f"the query {self.query!r} returns {len(result)} series; aggregate it to one value"
            )
        values = result[0].get("values", []) if result else []
        samples = []
        for stamp, raw in values[-points:]:
            rate = _number(raw)
            samples.append(
                Sample(
                    at=datetime.fromtimestamp(float(stamp), UTC),
                    error_rate=None if rate is None else min(1.0, max(0.0, rate)),
                    p95_ms=None,
                    requests=0,
                    source=self.name,
                )
            )
        return samples

    def wait_for_data(self, timeout_s: float) -> bool:
        """Query until the error ratio has a value or ``timeout_s`` passes (errors: no data)."""
        deadline = time.monotonic() + timeout_s
        pause = min(1.0, self.interval_s)
        while True:
            try:
                if self.sample().error_rate is not None:
                    return True
            except SignalError:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(pause, left))

    @staticmethod
    def _unix(when: datetime) -> float:
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()


__all__ = ["PrometheusSource", "split_ratio", "window_text"]
