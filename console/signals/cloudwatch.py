"""The ``cloudwatch`` error-rate source: GetMetricData over an ALB target group or any metrics.

Two ways to configure it (``[services.error_rate]`` with ``source = "cloudwatch"``):

ALB target group (``load_balancer`` + ``target_group``, as CloudWatch names them:
``app/NAME/ID`` and ``targetgroup/NAME/ID``)
    errors = ``HTTPCode_Target_5XX_Count`` (Sum), requests = ``RequestCount``
    (Sum), both of namespace ``AWS/ApplicationELB`` with the LoadBalancer and
    TargetGroup dimensions; error rate = errors / requests over the window.
    Latency is ``TargetResponseTime`` p95 (seconds, shown in ms).

Metric math (``expression`` + ``metrics``)
    ``metrics`` are GetMetricData queries, either in the API's own shape
    (``Id``/``MetricStat``...) with a lower-case ``id``, or flat::

        [[services.error_rate.metrics]]
        id = "errors"
        namespace = "MyApp"
        metric_name = "Errors"
        dimensions = { Service = "web" }
        stat = "Sum"          # default Sum; period default 60

    ``expression`` (for example ``errors / requests``) gives the error ratio.
    Plain arithmetic over metric ids (``+ - * /``, numbers, parentheses) is
    computed here from each metric's *sum over the window*, so the ratio is
    weighted by traffic (a ratio of sums, not an average of per-minute ratios);
    anything else (``METRICS()``, ``IF``, ``FILL``...) is sent to CloudWatch as
    metric math and its datapoints in the window are averaged.  A metric with id
    ``requests`` (or ``total``) is reported as the request count, else the
    number of periods with data; one with id ``latency`` gives latency (unit
    ``Milliseconds`` as is, anything else taken as seconds).

A service on ``provider = "alb"`` needs neither: without ``load_balancer`` or
``expression`` the source reads every target group of ``[services.alb]``,
errors and requests summed over them (the one serving now and the one a
rollback moves to alike), latency the load balancer's p95.

Region, profile and endpoint default to the ECS (or ALB) section's (``region``,
``profile``, ``url`` override them); the client comes from the console's one
AWS client factory (``console.aws``), as the ECS provider's do.  CloudWatch metrics have one-minute
resolution and arrive a minute or two late: a verify window shorter than a few
minutes sees little data, and says so rather than passing.

A query source: ``sample()`` and ``history()`` do blocking I/O and are called
from worker threads; every failure is a one-line ``SignalError``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from console.aws import AwsClients
from console.config import ServiceConfig
from console.model import Sample, utcnow
from console.signals.base import SignalError

ALB_NAMESPACE = "AWS/ApplicationELB"
DEFAULT_PERIOD_S = 60
#: Ids with a meaning of their own in the metric-math configuration.
REQUEST_IDS = ("requests", "total")
LATENCY_ID = "latency"
MAX_ATTEMPTS = 3
#: How long one GetMetricData call may take to answer.
READ_TIMEOUT_S = 20.0

_FORBIDDEN = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
    }
)
_THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}
)


@dataclass(frozen=True)
class MetricQuery:
    """One GetMetricData ``MetricDataQuery`` and how its values are read."""

    id: str
    query: dict[str, Any]
    #: Multiplier to milliseconds (latency metrics only).
    to_ms: float = 1.0


def metric_query(raw: Mapping[str, Any]) -> MetricQuery:
    """A query from one ``metrics`` table (API shape or flat shape, see the module doc)."""
    ident = str(raw.get("id") or raw.get("Id") or "")
    if not re.fullmatch(r"[a-z][A-Za-z0-9_]*", ident):
        raise SignalError(
            f"cloudwatch metric id {ident!r} must start with a lower-case letter "
            "(letters, digits, '_')"
        )
    if any(k[:1].isupper() for k in raw if k != "Id"):
        query = {k: v for k, v in raw.items() if k not in ("id", "Id")}
        query["Id"] = ident
        query.setdefault("ReturnData", True)
        stat = query.get("MetricStat", {})
        unit = str(stat.get("Unit", ""))
        return MetricQuery(ident, query, 1.0 if unit == "Milliseconds" else 1000.0)
    name = raw.get("metric_name") or raw.get("metric") or raw.get("name")
    namespace = raw.get("namespace")
    if not name or not namespace:
        raise SignalError(f"cloudwatch metric {ident!r} needs namespace and metric_name")
    dims = raw.get("dimensions") or {}
    if not isinstance(dims, Mapping):
        raise SignalError(f"cloudwatch metric {ident!r}: dimensions must be a table")
    stat_block: dict[str, Any] = {
        "Metric": {
            "Namespace": str(namespace),
            "MetricName": str(name),
            "Dimensions": [{"Name": str(k), "Value": str(v)} for k, v in dims.items()],
        },
        "Period": int(raw.get("period", DEFAULT_PERIOD_S)),
        "Stat": str(raw.get("stat", "Sum")),
    }
    unit = str(raw.get("unit", ""))
    if unit:
        stat_block["Unit"] = unit
    query = {"Id": ident, "MetricStat": stat_block, "ReturnData": True}
    return MetricQuery(ident, query, 1.0 if unit == "Milliseconds" else 1000.0)


def alb_group_queries(
    load_balancer: str, target_groups: list[str]
) -> tuple[list[MetricQuery], str, tuple[str, ...]]:
    """Errors and requests of every target group, and the load balancer's latency: the
    queries, the expression (a ratio of the sums) and the ids counting requests."""
    common = {"namespace": ALB_NAMESPACE}
    metrics: list[MetricQuery] = []
    for i, group in enumerate(target_groups):
        dims = {"dimensions": {"LoadBalancer": load_balancer, "TargetGroup": group}}
        metrics.append(
            metric_query(
                {"id": f"errors{i}", "metric_name": "HTTPCode_Target_5XX_Count", **common, **dims}
            )
        )
        metrics.append(
            metric_query({"id": f"requests{i}", "metric_name": "RequestCount", **common, **dims})
        )
    metrics.append(
        metric_query(
            {
                "id": LATENCY_ID,
                "metric_name": "TargetResponseTime",
                "stat": "p95",
                "dimensions": {"LoadBalancer": load_balancer},
                **common,
            }
        )
    )
    count = range(len(target_groups))
    errors = " + ".join(f"errors{i}" for i in count)
    requests = tuple(f"requests{i}" for i in count)
    return metrics, f"({errors}) / ({' + '.join(requests)})", requests


def alb_queries(load_balancer: str, target_group: str) -> list[MetricQuery]:
    """errors, requests and latency of one ALB target group."""
    dims = {"LoadBalancer": load_balancer, "TargetGroup": target_group}
    common = {"namespace": ALB_NAMESPACE, "dimensions": dims}
    return [
        metric_query({"id": "errors", "metric_name": "HTTPCode_Target_5XX_Count", **common}),
        metric_query({"id": "requests", "metric_name": "RequestCount", **common}),
        metric_query(
            {"id": LATENCY_ID, "metric_name": "TargetResponseTime", "stat": "p95", **common}
        ),
    ]


# --------------------------------------------------------------------------- arithmetic


class _Unsupported(Exception):
    """The expression needs CloudWatch's own metric math."""


_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?|\.\d+)|([A-Za-z_][A-Za-z0-9_]*)|(.))")


def parse_expression(text: str) -> Callable[[Mapping[str, float]], float | None]:
    """Compile ``+ - * /`` arithmetic over metric ids; ``_Unsupported`` for anything else.

    The result maps metric values to the expression's value, None on a
    division by zero (no traffic: no rate) or a missing metric.
    """
    tokens: list[tuple[str, str]] = []
    for number, name, other in _TOKEN.findall(text):
        if number:
            tokens.append(("num", number))
        elif name:
            tokens.append(("id", name))
        elif other.strip():
            if other not in "+-*/()":
                raise _Unsupported(other)
            tokens.append(("op", other))
    pos = 0

    Node = Callable[[Mapping[str, float]], float | None]

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise _Unsupported("unexpected end")
        pos += 1
        return tokens[pos - 1]

    def atom() -> Node:
        kind, value = take()
        if kind == "num":
            number = float(value)
            return lambda env: number
        if kind == "id":
            nxt = peek()
            if nxt == ("op", "("):
                raise _Unsupported(value)  # a function call: metric math
            return lambda env: env.get(value)
        if value == "(":
            inner = additive()
            if take() != ("op", ")"):
                raise _Unsupported("unbalanced parentheses")
            return inner
        if value == "-":
            operand = atom()

            def negate(env: Mapping[str, float]) -> float | None:
                v = operand(env)
                return None if v is None else -v

            return negate
        raise _Unsupported(value)

    def binary(left: Node, op: str, right: Node) -> Node:
        def apply(env: Mapping[str, float]) -> float | None:
            a, b = left(env), right(env)
            if a is None or b is None:
                return None
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            return None if b == 0 else a / b

        return apply

    def term() -> Node:
        node = atom()
        while peek() in (("op", "*"), ("op", "/")):
            node = binary(node, take()[1], atom())
        return node

    def additive() -> Node:
        node = term()
        while peek() in (("op", "+"), ("op", "-")):
            node = binary(node, take()[1], term())
        return node

    if not tokens:
        raise _Unsupported("empty")
    result = additive()
    if pos != len(tokens):
        raise _Unsupported("trailing tokens")
    return result


# --------------------------------------------------------------------------- the source


def _describe(exc: BaseException, doing: str, attempts: int = MAX_ATTEMPTS) -> str:
    """One line for a botocore failure."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        message = str(response.get("Error", {}).get("Message", "")).strip().splitlines()
        text = message[0][:200] if message else ""
        if code in _FORBIDDEN:
            return f"access denied: cloudwatch:GetMetricData ({doing}): {code}: {text}"
        if code in _THROTTLED:
            return (
                f"CloudWatch is throttling GetMetricData ({doing}; {code}) after "
                f"{attempts} attempts"
            )
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        return f"CloudWatch answered {code or status} to GetMetricData ({doing}): {text}"
    return f"CloudWatch GetMetricData failed ({doing}): {' '.join(str(exc).split())}"


class CloudWatchSource:
    """Error rate (and latency) of one service from CloudWatch metrics (see module doc)."""

    name: str = "cloudwatch"

    def __init__(
        self,
        metrics: list[MetricQuery],
        expression: str,
        *,
        region: str,
        profile: str = "",
        endpoint_url: str = "",
        window_s: float = 300.0,
        interval_s: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
        request_ids: tuple[str, ...] = (),
    ) -> None:
        if not region:
            raise SignalError(
                "the cloudwatch source needs a region (error_rate.region, [services.ecs] or "
                "[services.alb])"
            )
        if window_s <= 0 or interval_s <= 0:
            raise ValueError("window_s and interval_s must be positive")
        ids = [m.id for m in metrics]
        if len(set(ids)) != len(ids):
            raise SignalError(f"cloudwatch metric ids must be unique, got {', '.join(ids)}")
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.window_s = float(window_s)
        self.interval_s = float(interval_s)
        self.expression = expression
        self.latency = next((m for m in metrics if m.id == LATENCY_ID), None)
        self.metrics = [m for m in metrics if m.id != LATENCY_ID]
        #: The metrics whose sum is the request count (``requests`` or ``total`` unless given).
        self.request_ids = (
            request_ids or tuple(m.id for m in self.metrics if m.id in REQUEST_IDS)[:1]
        )
        self.period_s = max(
            [int(m.query.get("MetricStat", {}).get("Period", DEFAULT_PERIOD_S)) for m in metrics]
            or [DEFAULT_PERIOD_S]
        )
        try:
            self._evaluate: Callable[[Mapping[str, float]], float | None] | None = parse_expression(
                expression
            )
        except _Unsupported:
            self._evaluate = None
        #: The last failure seen (latency included), "" when the last read was clean.
        self.last_error = ""
        #: Attempts per GetMetricData call (first try included; throttling and 5xx retried).
        self.max_attempts = MAX_ATTEMPTS
        self._clock = clock
        self._aws = AwsClients(region, profile, endpoint_url)
        self._running = False

    @classmethod
    def from_config(cls, service: ServiceConfig) -> CloudWatchSource:
        cfg = service.error_rate
        aws = service.ecs or service.alb
        region = cfg.region or (aws.region if aws else "")
        profile = cfg.profile or (aws.profile if aws else "")
        endpoint = cfg.url or (aws.endpoint_url if aws else "")
        request_ids: tuple[str, ...] = ()
        alb = service.alb
        if alb is not None and not (cfg.expression or cfg.load_balancer):
            groups = [g.metric_name for g in alb.target_groups]
            metrics, expression, request_ids = alb_group_queries(alb.load_balancer, groups)
        elif cfg.expression:
            metrics = [metric_query(m) for m in cfg.metrics]
            expression = cfg.expression
        elif cfg.load_balancer and cfg.target_group:
            metrics = alb_queries(cfg.load_balancer, cfg.target_group)
            expression = "errors / requests"
        else:
            raise SignalError(
                f"{service.name}: the cloudwatch source needs load_balancer and target_group, "
                "or expression and metrics"
            )
        return cls(
            metrics,
            expression,
            region=region,
            profile=profile,
            endpoint_url=endpoint,
            window_s=cfg.window_s,
            interval_s=cfg.interval_s,
            request_ids=request_ids,
        )

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Nothing runs in the background: every read is a query."""
        self._running = True

    def stop(self) -> None:
        self._running = False

    # ----------------------------------------------------------------- queries

    def _cloudwatch(self) -> Any:
        """The CloudWatch client, from the console's one AWS client factory (``console.aws``)."""
        from botocore.exceptions import BotoCoreError

        try:
            return self._aws.client(
                "cloudwatch", read_timeout_s=READ_TIMEOUT_S, max_attempts=self.max_attempts
            )
        except BotoCoreError as exc:
            raise SignalError(_describe(exc, "creating the client")) from None

    def _fetch(
        self, queries: list[dict[str, Any]], start: datetime, end: datetime, doing: str
    ) -> dict[str, list[tuple[datetime, float]]]:
        """id -> [(period start, value)] oldest first, from GetMetricData (all pages)."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._cloudwatch()
        out: dict[str, list[tuple[datetime, float]]] = {}
        token = ""
        try:
            while True:
                kwargs: dict[str, Any] = {
                    "MetricDataQueries": queries,
                    "StartTime": start,
                    "EndTime": end,
                    "ScanBy": "TimestampAscending",
                }
                if token:
                    kwargs["NextToken"] = token
                page = client.get_metric_data(**kwargs)
                for result in page.get("MetricDataResults", []):
                    points = out.setdefault(str(result["Id"]), [])
                    for ts, value in zip(
                        result.get("Timestamps", []), result.get("Values", []), strict=False
                    ):
                        when = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
                        points.append((when.astimezone(UTC), float(value)))
                token = str(page.get("NextToken") or "")
                if not token:
                    break
        except (ClientError, BotoCoreError) as exc:
            raise SignalError(_describe(exc, doing, self.max_attempts)) from None
        for points in out.values():
            points.sort(key=lambda p: p[0])
        return out

    def _range(self, since: datetime | None, span_s: float) -> tuple[datetime, datetime]:
        end = self._clock().replace(microsecond=0) + timedelta(seconds=1)
        if since is not None:
            start = since if since.tzinfo else since.replace(tzinfo=UTC)
            if start.microsecond:
                # CloudWatch takes whole seconds: round up, so nothing from before
                # ``since`` (the bad release's last second) is counted after it.
                start = start.replace(microsecond=0) + timedelta(seconds=1)
        else:
            start = (end - timedelta(seconds=span_s)).replace(microsecond=0)
        if start >= end:
            start = end - timedelta(seconds=1)
        return start, end

    def _rate_queries(self) -> list[dict[str, Any]]:
        queries = [m.query for m in self.metrics]
        if self._evaluate is None:
            queries = [dict(q, ReturnData=True) for q in queries]
            queries.append({"Id": "ratio", "Expression": self.expression, "ReturnData": True})
        return queries

    def _latency(self, start: datetime, end: datetime) -> dict[datetime, float]:
        """Latency per period in ms; {} (and ``last_error`` set) when it cannot be read.

        Read apart from the error rate, so a latency statistic the backend
        cannot compute never hides the error rate.
        """
        if self.latency is None:
            return {}
        try:
            found = self._fetch([self.latency.query], start, end, "reading latency")
        except SignalError as err:
            self.last_error = f"latency unavailable: {err}"
            return {}
        return {ts: v * self.latency.to_ms for ts, v in found.get(self.latency.id, [])}

    def sample(self, since: datetime | None = None) -> Sample:
        """Error rate, latency and requests over the window (or since ``since``)."""
        start, end = self._range(since, self.window_s)
        self.last_error = ""
        found = self._fetch(self._rate_queries(), start, end, "reading the error rate")
        sums = {ident: sum(v for _, v in points) for ident, points in found.items()}
        for metric in self.metrics:
            sums.setdefault(metric.id, 0.0)
        if self._evaluate is not None:
            rate = self._evaluate(sums)
        else:
            values = [v for _, v in found.get("ratio", [])]
            rate = sum(values) / len(values) if values else None
        if self.request_ids:
            requests = round(sum(sums.get(i, 0.0) for i in self.request_ids))
        else:
            requests = max((len(p) for p in found.values()), default=0)
        if requests == 0:
            rate = None
        weights: dict[datetime, float] = {}
        for ident in self.request_ids:
            for ts, value in found.get(ident, []):
                weights[ts] = weights.get(ts, 0.0) + value
        latency = self._latency(start, end)
        return Sample(
            at=end,
            error_rate=None if rate is None else max(0.0, rate),
            p95_ms=_weighted(latency, weights),
            requests=requests,
            source=self.name,
        )

    def history(self, points: int = 60) -> list[Sample]:
        """Per-period samples (``period_s`` each) over the last ``points`` periods, oldest first."""
        if points <= 0:
            return []
        start, end = self._range(None, points * self.period_s)
        found = self._fetch(self._rate_queries(), start, end, "reading the error-rate history")
        stamps = sorted({ts for values in found.values() for ts, _ in values})
        by_id = {ident: dict(values) for ident, values in found.items()}
        latency = self._latency(start, end)
        samples = []
        for ts in stamps[-points:]:
            env = {m.id: by_id.get(m.id, {}).get(ts, 0.0) for m in self.metrics}
            if self._evaluate is not None:
                rate = self._evaluate(env)
            else:
                rate = by_id.get("ratio", {}).get(ts)
            requests = (
                round(sum(env.get(i, 0.0) for i in self.request_ids))
                if self.request_ids
                else int(any(ts in by_id.get(m.id, {}) for m in self.metrics))
            )
            samples.append(
                Sample(
                    at=ts + timedelta(seconds=self.period_s),
                    error_rate=None if rate is None or requests == 0 else max(0.0, rate),
                    p95_ms=latency.get(ts),
                    requests=requests,
                    source=self.name,
                )
            )
        return samples

    def wait_for_data(self, timeout_s: float) -> bool:
        """Query until the window holds requests, or ``timeout_s`` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.sample().requests > 0:
                    return True
            except SignalError as err:
                self.last_error = str(err)
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self.interval_s, left, 1.0))


def _weighted(latency: Mapping[datetime, float], weights: Mapping[datetime, float]) -> float | None:
    """Latency over several periods: the mean weighted by each period's requests (if known)."""
    if not latency:
        return None
    total = sum(weights.get(ts, 0.0) for ts in latency)
    if total > 0:
        return sum(v * weights.get(ts, 0.0) for ts, v in latency.items()) / total
    return sum(latency.values()) / len(latency)
