"""A small Cloud Monitoring v3 ``projects.timeSeries.list`` for Cloud Run's metrics.

It stores request counts (by response code class) and request latencies of
Cloud Run services, either as points given by a test or as a steady stream
("N requests per second, M% of them 5xx, p95 L ms") that has data for any
interval asked about, and answers ``GET /v3/projects/P/timeSeries`` the way the
real API does for the two aggregations the console sends:

* ``run.googleapis.com/request_count`` with ``ALIGN_DELTA`` (or ``ALIGN_SUM``)
  and ``REDUCE_SUM``, optionally grouped by ``metric.label.response_code_class``:
  INT64 points (``{"int64Value": "12"}``, a string as int64 is in JSON);
* ``run.googleapis.com/request_latencies`` with ``ALIGN_DELTA`` and
  ``REDUCE_PERCENTILE_50/95/99``: DOUBLE points in milliseconds.

Alignment follows the API: the interval is cut into ``alignmentPeriod`` slices
ending at ``endTime``, newest first, and a slice without data has no point; a
series without points is left out, and no data at all is ``{}``.  Anything else
is refused with 400 INVALID_ARGUMENT, so a query the fake does not understand
fails loudly instead of returning plausible numbers.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from tests.cloudrun_server.store import ApiError, rfc3339

JSON = dict[str, Any]

REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
_PERCENTILES = {
    "REDUCE_PERCENTILE_50": 0.50,
    "REDUCE_PERCENTILE_95": 0.95,
    "REDUCE_PERCENTILE_99": 0.99,
}


@dataclass(frozen=True)
class _Count:
    at: float
    service: str
    region: str
    code_class: str
    count: int


@dataclass(frozen=True)
class _Latency:
    at: float
    service: str
    region: str
    ms: float
    weight: int = 1


@dataclass(frozen=True)
class _Stream:
    service: str
    region: str
    start: float
    per_s: tuple[tuple[str, float], ...]
    latency_ms: float
    stop: float = math.inf


def _parse_time(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ApiError(400, "INVALID_ARGUMENT", f"Invalid time {text!r}") from None


def _weighted_percentile(values: list[tuple[float, float]], q: float) -> float | None:
    """Nearest-rank percentile of (value, weight) pairs."""
    total = sum(w for _, w in values)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for value, weight in sorted(values):
        seen += weight
        if seen >= rank - 1e-9:
            return value
    return sorted(values)[-1][0]


class MonitoringData:
    """Cloud Run request metrics the fake serves; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: list[_Count] = []
        self.latencies: list[_Latency] = []
        self.streams: list[_Stream] = []
        #: Series per page (0: all in one page), to exercise ``nextPageToken``.
        self.page_size = 0
        #: Every query's parameters, for tests to look at.
        self.queries: list[dict[str, list[str]]] = []

    def add_requests(
        self,
        service: str,
        code_class: str,
        count: int,
        *,
        at: float | None = None,
        region: str = "",
    ) -> None:
        with self.lock:
            self.counts.append(
                _Count(time.time() if at is None else at, service, region, code_class, count)
            )

    def add_latency(
        self, service: str, ms: float, *, at: float | None = None, region: str = "", weight: int = 1
    ) -> None:
        with self.lock:
            self.latencies.append(
                _Latency(time.time() if at is None else at, service, region, ms, weight)
            )

    def steady(
        self,
        service: str,
        *,
        per_s: float = 10.0,
        error_ratio: float = 0.0,
        latency_ms: float = 100.0,
        region: str = "",
        since: float | None = None,
    ) -> None:
        """From ``since`` (default: an hour ago) on, ``per_s`` requests a second, some 5xx.

        A new stream for the same service ends the previous one now, so a test
        can make a service sick (or well) from this moment on.
        """
        ok = per_s * (1 - error_ratio)
        with self.lock:
            cut = time.time()
            had = any(s.service == service for s in self.streams)
            self.streams = [
                replace(s, stop=min(s.stop, cut)) if s.service == service else s
                for s in self.streams
            ]
            begin = since if since is not None else (cut if had else cut - 3600)
            self.streams.append(
                _Stream(
                    service, region, begin, (("2xx", ok), ("5xx", per_s * error_ratio)), latency_ms
                )
            )

    # ----------------------------------------------------------------- the query

    def query(self, project: str, params: dict[str, list[str]]) -> JSON:
        with self.lock:
            self.queries.append(params)

        def one(key: str, default: str | None = None) -> str:
            values = params.get(key)
            if not values:
                if default is None:
                    raise ApiError(400, "INVALID_ARGUMENT", f"Field {key} is required.")
                return default
            return values[0]

        filters = _parse_filter(one("filter"))
        metric = filters.get("metric.type", "")
        if filters.get("resource.type", "cloud_run_revision") != "cloud_run_revision":
            return {}
        service = filters.get("resource.labels.service_name", "")
        region = filters.get("resource.labels.location", "")
        start = _parse_time(one("interval.startTime", one("interval.endTime")))
        end = _parse_time(one("interval.endTime"))
        if end < start:
            raise ApiError(
                400, "INVALID_ARGUMENT", "The end time must not be before the start time."
            )
        period_text = one("aggregation.alignmentPeriod", "60s")
        if not re.fullmatch(r"\d+(\.\d+)?s", period_text):
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid alignmentPeriod {period_text!r}")
        period = float(period_text[:-1])
        if period < 60:
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "The alignment period must be at least 60 seconds.",
            )
        aligner = one("aggregation.perSeriesAligner", "")
        reducer = one("aggregation.crossSeriesReducer", "")
        group_by = params.get("aggregation.groupByFields", [])
        slices = [
            (end - (k + 1) * period, end - k * period)
            for k in range(max(1, math.ceil((end - start) / period)))
        ]
        if metric == REQUEST_COUNT:
            if aligner not in ("ALIGN_DELTA", "ALIGN_SUM") or reducer != "REDUCE_SUM":
                raise ApiError(
                    400,
                    "INVALID_ARGUMENT",
                    "the fake serves request_count as ALIGN_DELTA+REDUCE_SUM",
                )
            series = self._count_series(project, service, region, slices, group_by)
        elif metric == REQUEST_LATENCIES:
            if aligner != "ALIGN_DELTA" or reducer not in _PERCENTILES:
                raise ApiError(
                    400,
                    "INVALID_ARGUMENT",
                    "the fake serves request_latencies as ALIGN_DELTA+REDUCE_PERCENTILE_nn",
                )
            series = self._latency_series(project, service, region, slices, _PERCENTILES[reducer])
        else:
            raise ApiError(
                400, "INVALID_ARGUMENT", f"Field filter had an invalid value of {one('filter')!r}"
            )
        return self._page(series, params)

    def _page(self, series: list[JSON], params: dict[str, list[str]]) -> JSON:
        if not series:
            return {}
        size = int((params.get("pageSize") or ["0"])[0] or 0) or self.page_size
        offset = int((params.get("pageToken") or ["0"])[0] or 0)
        if not size:
            return {"timeSeries": series, "unit": series[0].get("unit", "1")}
        body: JSON = {"timeSeries": series[offset : offset + size]}
        if offset + size < len(series):
            body["nextPageToken"] = str(offset + size)
        return body

    def _count_in(self, service: str, region: str, lo: float, hi: float) -> dict[str, float]:
        counts: dict[str, float] = {}
        for c in self.counts:
            same = c.service == service and (not region or not c.region or c.region == region)
            if same and lo < c.at <= hi:
                counts[c.code_class] = counts.get(c.code_class, 0) + c.count
        for s in self.streams:
            if s.service != service or (region and s.region and s.region != region):
                continue
            overlap = max(0.0, min(hi, s.stop) - max(lo, s.start))
            for code_class, rate in s.per_s:
                if rate > 0 and overlap > 0:
                    counts[code_class] = counts.get(code_class, 0) + rate * overlap
        return counts

    def _count_series(
        self,
        project: str,
        service: str,
        region: str,
        slices: list[tuple[float, float]],
        group_by: list[str],
    ) -> list[JSON]:
        grouped = "metric.label.response_code_class" in group_by
        points: dict[str, list[JSON]] = {}
        with self.lock:
            for lo, hi in slices:
                counts = self._count_in(service, region, lo, hi)
                if not grouped:
                    counts = {"": sum(counts.values())} if counts else {}
                for code_class, value in counts.items():
                    n = round(value)
                    if n <= 0:
                        continue
                    points.setdefault(code_class, []).append(
                        {
                            "interval": {
                                "startTime": rfc3339(datetime.fromtimestamp(lo, UTC)),
                                "endTime": rfc3339(datetime.fromtimestamp(hi, UTC)),
                            },
                            "value": {"int64Value": str(n)},
                        }
                    )
        series = []
        for code_class in sorted(points):
            labels = {"response_code_class": code_class} if grouped else {}
            series.append(
                {
                    "metric": {"type": REQUEST_COUNT, "labels": labels},
                    "resource": {"type": "cloud_run_revision", "labels": {"project_id": project}},
                    "metricKind": "DELTA",
                    "valueType": "INT64",
                    "points": points[code_class],
                    "unit": "1",
                }
            )
        return series

    def _latency_series(
        self,
        project: str,
        service: str,
        region: str,
        slices: list[tuple[float, float]],
        q: float,
    ) -> list[JSON]:
        points: list[JSON] = []
        with self.lock:
            for lo, hi in slices:
                values: list[tuple[float, float]] = [
                    (lat.ms, lat.weight)
                    for lat in self.latencies
                    if lat.service == service
                    and (not region or not lat.region or lat.region == region)
                    and lo < lat.at <= hi
                ]
                for s in self.streams:
                    if s.service != service or (region and s.region and s.region != region):
                        continue
                    overlap = max(0.0, min(hi, s.stop) - max(lo, s.start))
                    count = sum(rate for _, rate in s.per_s) * overlap
                    if count > 0:
                        values.append((s.latency_ms, count))
                value = _weighted_percentile(values, q)
                if value is None:
                    continue
                points.append(
                    {
                        "interval": {
                            "startTime": rfc3339(datetime.fromtimestamp(lo, UTC)),
                            "endTime": rfc3339(datetime.fromtimestamp(hi, UTC)),
                        },
                        "value": {"doubleValue": value},
                    }
                )
        if not points:
            return []
        return [
            {
                "metric": {"type": REQUEST_LATENCIES},
                "resource": {"type": "cloud_run_revision", "labels": {"project_id": project}},
                "metricKind": "DELTA",
                "valueType": "DOUBLE",
                "points": points,
                "unit": "ms",
            }
        ]


_CLAUSE = re.compile(r'^\s*([a-z_.]+)\s*=\s*"([^"]*)"\s*$')


def _parse_filter(text: str) -> dict[str, str]:
    """``a = "x" AND b = "y"`` -> {a: x, b: y}; anything else is a 400, as in the API."""
    out: dict[str, str] = {}
    for clause in re.split(r"\s+AND\s+", text.strip()):
        match = _CLAUSE.match(clause)
        if not match:
            raise ApiError(
                400, "INVALID_ARGUMENT", f"Field filter had an invalid value of {text!r}"
            )
        out[match.group(1)] = match.group(2)
    if "metric.type" not in out:
        raise ApiError(400, "INVALID_ARGUMENT", "A filter must name a metric.type.")
    return out
