"""The ``cloudmonitoring`` error-rate source: Cloud Run's own metrics from Cloud Monitoring.

Two ``projects.timeSeries.list`` queries (Cloud Monitoring API v3, over REST
with httpx; the client library is not needed) over the interval asked about:

* ``run.googleapis.com/request_count`` of the service's revisions
  (``resource.type = "cloud_run_revision"``), ``ALIGN_DELTA`` + ``REDUCE_SUM``
  grouped by ``metric.label.response_code_class``: the error rate is the
  ``5xx`` share of all requests (4xx are the clients' errors, as in runbook
  004's alert policy);
* ``run.googleapis.com/request_latencies``, ``ALIGN_DELTA`` +
  ``REDUCE_PERCENTILE_95``: p95 in milliseconds (the worst alignment period of
  the interval when it spans several).

Things an operator should know, said in the panel rather than hidden:

* Cloud Run writes these metrics about once a minute and they can take a few
  minutes to be readable, so a fresh window may have no data: that is a
  ``Sample`` with ``requests=0`` and no rate, never a made-up zero.
* The API aligns on periods of at least 60 s ending at the query's end time,
  so a window shorter than a minute reads the last minute.

Credentials: Application Default Credentials (``google.auth.default``) with
the ``monitoring.read`` scope, refreshed when they expire.  An endpoint
override that is plain ``http://`` (a local test server) gets no token at all,
so a token is never sent in clear text.  Every failure is a ``SignalError``
with one line naming what failed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from console.config import ServiceConfig
from console.model import Sample
from console.signals.base import SignalError
from console.signals.health import USER_AGENT, describe_error

DEFAULT_ENDPOINT = "https://monitoring.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/monitoring.read"
REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
#: The shortest alignment period the API accepts.
MIN_PERIOD_S = 60
#: At most this many pages of series are read per query.
MAX_PAGES = 20


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


class CloudMonitoringSource:
    """Error rate and p95 of one Cloud Run service, read from Cloud Monitoring on demand.

    Query-based: ``sample`` and ``history`` do blocking HTTP requests (call
    them from a worker); ``start`` and ``stop`` only open and close the client.
    """

    name: str = "cloudmonitoring"

    def __init__(
        self,
        project: str,
        service: str,
        region: str = "",
        *,
        window_s: float = 300.0,
        timeout_s: float = 10.0,
        endpoint: str = "",
        credentials: Any = None,
        poll_s: float = 5.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not project or not service:
            raise SignalError("cloudmonitoring needs a project and a Cloud Run service name")
        if window_s <= 0 or timeout_s <= 0:
            raise ValueError("window_s and timeout_s must be positive")
        self.project = project
        self.service = service
        self.region = region
        self.window_s = float(window_s)
        self.timeout_s = float(timeout_s)
        self.endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self.poll_s = poll_s
        self._credentials = credentials
        self._clock = clock or (lambda: datetime.now(UTC))
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        #: The last failure, as a short sentence ("" when the last read worked).
        self.last_error = ""

    @classmethod
    def from_config(cls, service: ServiceConfig) -> CloudMonitoringSource:
        """Project, service and region from ``[services.error_rate]``, else the cloudrun section."""
        cfg = service.error_rate
        run = service.cloudrun
        project = cfg.project or (run.project if run else "")
        name = cfg.service or (run.service if run else "")
        region = cfg.region or (run.region if run else "")
        if not project or not name:
            raise SignalError(
                f"{service.name}: source = 'cloudmonitoring' needs error_rate.project and "
                "error_rate.service, or a [services.cloudrun] section"
            )
        return cls(
            project,
            name,
            region,
            window_s=cfg.window_s,
            timeout_s=cfg.timeout_s,
            endpoint=cfg.url,
        )

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    headers={"User-Agent": USER_AGENT}, timeout=self.timeout_s
                )

    def stop(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> CloudMonitoringSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- reading

    def sample(self, since: datetime | None = None) -> Sample:
        """Error rate and p95 over the window, or since ``since`` (see the module doc)."""
        end = self._clock()
        start = end - timedelta(seconds=self.window_s) if since is None else since
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        start = min(start, end)
        period = max(MIN_PERIOD_S, math.ceil((end - start).total_seconds()))
        counts = self._counts(start, end, period)
        total = sum(sum(by_class.values()) for by_class in counts.values())
        errors = sum(by_class.get("5xx", 0) for by_class in counts.values())
        latencies = self._latencies(start, end, period)
        return Sample(
            at=end,
            error_rate=errors / total if total else None,
            p95_ms=max(latencies.values()) if latencies and total else None,
            requests=total,
            source=self.name,
        )

    def history(self, points: int = 60) -> list[Sample]:
        """One sample a minute for the last ``points`` minutes that have data, oldest first."""
        if points <= 0:
            return []
        end = self._clock()
        start = end - timedelta(seconds=MIN_PERIOD_S * points)
        counts = self._counts(start, end, MIN_PERIOD_S)
        latencies = self._latencies(start, end, MIN_PERIOD_S)
        samples = []
        for at in sorted(counts):
            by_class = counts[at]
            total = sum(by_class.values())
            samples.append(
                Sample(
                    at=at,
                    error_rate=by_class.get("5xx", 0) / total if total else None,
                    p95_ms=latencies.get(at),
                    requests=total,
                    source=self.name,
                )
            )
        return samples[-points:]

    def wait_for_data(self, timeout_s: float) -> bool:
        """Read until the window has requests or ``timeout_s`` passes; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.sample().requests > 0:
                    return True
            except SignalError:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self.poll_s, left))

    # ----------------------------------------------------------------- queries

    def _filter(self, metric: str) -> str:
        clauses = [
            f'metric.type = "{metric}"',
            'resource.type = "cloud_run_revision"',
            f'resource.labels.service_name = "{self.service}"',
        ]
        if self.region:
            clauses.append(f'resource.labels.location = "{self.region}"')
        return " AND ".join(clauses)

    def _counts(
        self, start: datetime, end: datetime, period: int
    ) -> dict[datetime, dict[str, int]]:
        """End of each alignment period -> response code class -> requests."""
        params = {
            "filter": self._filter(REQUEST_COUNT),
            "interval.startTime": _rfc3339(start),
            "interval.endTime": _rfc3339(end),
            "aggregation.alignmentPeriod": f"{period}s",
            "aggregation.perSeriesAligner": "ALIGN_DELTA",
            "aggregation.crossSeriesReducer": "REDUCE_SUM",
            "aggregation.groupByFields": "metric.label.response_code_class",
        }
        out: dict[datetime, dict[str, int]] = {}
        for series in self._series(params):
            labels = (series.get("metric") or {}).get("labels") or {}
            code_class = str(labels.get("response_code_class", "unknown"))
            for point in series.get("points") or ():
                at = self._point_end(point, end)
                value = (point.get("value") or {}).get("int64Value", 0)
                try:
                    count = int(value)
                except (TypeError, ValueError):
                    continue
                by_class = out.setdefault(at, {})
                by_class[code_class] = by_class.get(code_class, 0) + count
        return out

    def _latencies(self, start: datetime, end: datetime, period: int) -> dict[datetime, float]:
        """End of each alignment period -> p95 latency in ms."""
        params = {
            "filter": self._filter(REQUEST_LATENCIES),
            "interval.startTime": _rfc3339(start),
            "interval.endTime": _rfc3339(end),
            "aggregation.alignmentPeriod": f"{period}s",
            "aggregation.perSeriesAligner": "ALIGN_DELTA",
            "aggregation.crossSeriesReducer": "REDUCE_PERCENTILE_95",
        }
        out: dict[datetime, float] = {}
        for series in self._series(params):
            for point in series.get("points") or ():
                value = (point.get("value") or {}).get("doubleValue")
                if value is None:
                    continue
                at = self._point_end(point, end)
                out[at] = max(out.get(at, 0.0), float(value))
        return out

    @staticmethod
    def _point_end(point: dict[str, Any], default: datetime) -> datetime:
        interval = point.get("interval") or {}
        return _parse_time(str(interval.get("endTime", ""))) or default

    def _series(self, params: dict[str, str]) -> list[dict[str, Any]]:
        url = f"{self.endpoint}/v3/projects/{self.project}/timeSeries"
        series: list[dict[str, Any]] = []
        token = ""
        for _ in range(MAX_PAGES):
            query = dict(params, pageToken=token) if token else params
            body = self._get(url, query)
            series.extend(body.get("timeSeries") or ())
            token = str(body.get("nextPageToken") or "")
            if not token:
                break
        return series

    def _get(self, url: str, params: dict[str, str]) -> dict[str, Any]:
        client = self._client
        own = client is None
        if client is None:
            client = httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=self.timeout_s)
        try:
            headers = self._auth_headers()
            try:
                response = client.get(url, params=params, headers=headers)
            except httpx.HTTPError as exc:
                raise self._fail(
                    f"Cloud Monitoring: {describe_error(exc, url, self.timeout_s)}"
                ) from None
        finally:
            if own:
                client.close()
        if response.status_code >= 400:
            raise self._fail(f"Cloud Monitoring answered {self._api_error(response)}")
        try:
            body = response.json()
        except ValueError:
            raise self._fail(
                f"Cloud Monitoring answered HTTP {response.status_code} with a body that is "
                "not JSON"
            ) from None
        if not isinstance(body, dict):
            raise self._fail("Cloud Monitoring answered with JSON that is not an object")
        self.last_error = ""
        return body

    def _fail(self, message: str) -> SignalError:
        self.last_error = message
        return SignalError(message)

    @staticmethod
    def _api_error(response: httpx.Response) -> str:
        try:
            error = response.json().get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        status = error.get("status", "")
        message = " ".join(str(error.get("message", "")).split())[:240]
        head = f"HTTP {response.status_code}" + (f" {status}" if status else "")
        return f"{head}: {message}" if message else head

    # ----------------------------------------------------------------- credentials

    def _auth_headers(self) -> dict[str, str]:
        credentials = self._credentials
        if credentials is None:
            if self.endpoint.startswith("http://"):
                return {}
            credentials = self._default_credentials()
        try:
            if not getattr(credentials, "valid", False):
                import google.auth.transport.requests

                credentials.refresh(google.auth.transport.requests.Request())
        except Exception as exc:  # google.auth raises several kinds; all mean "no token"
            raise self._fail(
                f"Cloud Monitoring: the credentials could not be refreshed: "
                f"{' '.join(str(exc).split())[:200]}"
            ) from None
        token = getattr(credentials, "token", None)
        if not token:
            raise self._fail("Cloud Monitoring: the credentials gave no access token")
        return {"Authorization": f"Bearer {token}"}

    def _default_credentials(self) -> Any:
        import google.auth
        import google.auth.exceptions

        with self._lock:
            if self._credentials is not None:
                return self._credentials
            try:
                credentials, _ = google.auth.default(scopes=[SCOPE])
            except google.auth.exceptions.DefaultCredentialsError as exc:
                raise self._fail(
                    "Cloud Monitoring: no Application Default Credentials (run `gcloud auth "
                    "application-default login` or set GOOGLE_APPLICATION_CREDENTIALS): "
                    f"{' '.join(str(exc).split())[:160]}"
                ) from None
            self._credentials = credentials
            return credentials
