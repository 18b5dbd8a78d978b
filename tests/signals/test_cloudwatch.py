"""The CloudWatch error-rate source against moto's server: PutMetricData in, GetMetricData out.

moto gaps, said where they matter: it cannot compute percentile statistics
(GetMetricData with ``p95`` answers HTTP 500) and answers metric-math
expressions with no data.  The source reads latency apart from the error rate
(so the first gap costs only latency) and computes plain ratios itself (so the
second does not matter for ``errors / requests``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console.config import EcsConfig, ErrorRateConfig, ServiceConfig
from console.signals import make_error_rate_source
from console.signals.base import SignalError
from console.signals.cloudwatch import CloudWatchSource, _Unsupported, parse_expression
from tests.aws.faults import AwsFaultProxy
from tests.aws.moto_server import (
    LOAD_BALANCER,
    REGION,
    TARGET_GROUP,
    World,
    isolate_env,
    moto_url,
    reset,
)

DIMENSIONS = {"LoadBalancer": LOAD_BALANCER, "TargetGroup": TARGET_GROUP}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    isolate_env(monkeypatch, tmp_path)
    url = moto_url()
    reset(url)
    yield World(url)  # CloudWatch only: no ECS world needed


def service(world: World, url: str = "", **rate: Any) -> ServiceConfig:
    """A service whose error-rate section is ``rate``; region and endpoint from [services.ecs]."""
    fields: dict[str, Any] = {"source": "cloudwatch", "window_s": 300.0, "interval_s": 1.0}
    fields.update(rate)
    if "expression" not in rate:
        fields.setdefault("load_balancer", LOAD_BALANCER)
        fields.setdefault("target_group", TARGET_GROUP)
    return ServiceConfig(
        name="web",
        environment="production",
        provider="ecs",
        ecs=EcsConfig(cluster="prod", service="web", region=REGION, endpoint_url=url or world.url),
        error_rate=ErrorRateConfig(**fields),
    )


def source(world: World, url: str = "", **rate: Any) -> CloudWatchSource:
    made = make_error_rate_source(service(world, url, **rate))
    assert isinstance(made, CloudWatchSource)
    made.start()
    return made


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def test_alb_error_rate_is_5xx_over_requests_of_the_target_group(aws: World) -> None:
    aws.put_alb_traffic(1000, 70, at=ago(90))
    aws.put_alb_traffic(1000, 10, at=ago(20))
    # Another target group's traffic must not count.
    aws.client("cloudwatch").put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Dimensions": [
                    {"Name": "LoadBalancer", "Value": LOAD_BALANCER},
                    {"Name": "TargetGroup", "Value": "targetgroup/other/1"},
                ],
                "Value": 999,
            }
        ],
    )
    cw = source(aws)
    cw.max_attempts = 1  # moto answers 500 to p95 (below): retrying it only costs time
    sample = cw.sample()
    assert sample.requests == 2000
    assert sample.error_rate == pytest.approx(80 / 2000)
    assert sample.source == "cloudwatch"
    # moto cannot compute p95: latency is missing and says why; the rate is unaffected.
    assert sample.p95_ms is None
    assert cw.last_error.startswith("latency unavailable: CloudWatch answered")

    recent = cw.sample(since=ago(60))
    assert recent.requests == 1000 and recent.error_rate == pytest.approx(0.01)


def test_since_never_counts_data_from_before_it(aws: World) -> None:
    bad = datetime.now(UTC).replace(microsecond=100_000) - timedelta(seconds=5)
    aws.put_alb_traffic(100, 100, at=bad)  # the bad release's last datapoint
    aws.put_alb_traffic(100, 0, at=bad + timedelta(seconds=2))
    cw = source(aws)
    cw.max_attempts = 1
    after = cw.sample(since=bad + timedelta(milliseconds=300))  # in the same second
    assert (after.requests, after.error_rate) == (100, 0.0)


def test_metric_math_over_configured_metrics_with_latency(aws: World) -> None:
    common = {"namespace": "AWS/ApplicationELB", "dimensions": DIMENSIONS}
    cw = source(
        aws,
        expression="(errors + elb_errors) / requests",
        metrics=(
            {"id": "errors", "metric_name": "HTTPCode_Target_5XX_Count", **common},
            {"id": "elb_errors", "metric_name": "HTTPCode_ELB_5XX_Count", **common},
            {"id": "requests", "metric_name": "RequestCount", **common},
            {"id": "latency", "metric_name": "TargetResponseTime", "stat": "Maximum", **common},
        ),
    )
    aws.put_alb_traffic(400, 20, latency_s=0.12, at=ago(30))
    dims = [{"Name": k, "Value": v} for k, v in DIMENSIONS.items()]
    aws.client("cloudwatch").put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {"MetricName": "HTTPCode_ELB_5XX_Count", "Dimensions": dims, "Value": 20},
        ],
    )
    sample = cw.sample()
    assert sample.requests == 400
    assert sample.error_rate == pytest.approx(40 / 400)
    assert sample.p95_ms == pytest.approx(120.0)
    assert cw.last_error == ""


def test_api_shaped_metric_queries_are_accepted(aws: World) -> None:
    stat = {
        "Metric": {
            "Namespace": "MyApp",
            "MetricName": "Failures",
            "Dimensions": [{"Name": "Service", "Value": "web"}],
        },
        "Period": 60,
        "Stat": "Sum",
    }
    total = dict(stat, Metric=dict(stat["Metric"], MetricName="Calls"))
    cw = source(
        aws,
        expression="bad / total",
        metrics=({"id": "bad", "MetricStat": stat}, {"id": "total", "MetricStat": total}),
    )
    aws.client("cloudwatch").put_metric_data(
        Namespace="MyApp",
        MetricData=[
            {
                "MetricName": "Failures",
                "Dimensions": [{"Name": "Service", "Value": "web"}],
                "Value": 3,
            },
            {
                "MetricName": "Calls",
                "Dimensions": [{"Name": "Service", "Value": "web"}],
                "Value": 12,
            },
        ],
    )
    sample = cw.sample()
    assert (sample.requests, sample.error_rate) == (12, pytest.approx(0.25))
    assert sample.p95_ms is None  # no latency metric configured


def test_no_traffic_is_no_rate_not_zero(aws: World) -> None:
    cw = source(aws)
    sample = cw.sample()
    assert sample.requests == 0 and sample.error_rate is None
    assert not cw.wait_for_data(0.2)
    aws.put_alb_traffic(10, 0)
    assert cw.wait_for_data(5.0)


def test_history_gives_one_sample_per_period_oldest_first(aws: World) -> None:
    aws.put_alb_traffic(100, 50, at=ago(170))
    aws.put_alb_traffic(100, 10, at=ago(110))
    aws.put_alb_traffic(100, 0, at=ago(50))
    points = source(aws).history(points=5)
    assert [p.error_rate for p in points] == [pytest.approx(0.5), pytest.approx(0.1), 0.0]
    assert [p.requests for p in points] == [100, 100, 100]
    assert points[0].at < points[1].at < points[2].at


def test_region_and_endpoint_default_to_the_ecs_section(aws: World) -> None:
    cw = source(aws)
    assert (cw.region, cw.endpoint_url) == (REGION, aws.url)
    other = source(aws, region="us-east-1", url="http://127.0.0.1:1")
    assert (other.region, other.endpoint_url) == ("us-east-1", "http://127.0.0.1:1")
    with pytest.raises(SignalError, match="needs load_balancer and target_group"):
        CloudWatchSource.from_config(
            ServiceConfig(
                name="web",
                environment="production",
                provider="ecs",
                error_rate=ErrorRateConfig(source="cloudwatch"),
                ecs=EcsConfig(cluster="c", service="s", region=REGION),
            )
        )


def test_access_denied_and_throttling_are_one_line(aws: World) -> None:
    aws.put_alb_traffic(100, 1)
    with AwsFaultProxy(aws.url) as proxy:
        cw = source(aws, url=proxy.url)
        proxy.fail("GetMetricData", "ThrottlingException", "Rate exceeded", count=1)
        assert cw.sample().requests == 100  # retried once by botocore
        proxy.fail(
            "GetMetricData",
            "AccessDeniedException",
            "User: oncall is not authorized to perform: cloudwatch:GetMetricData",
        )
        with pytest.raises(SignalError) as err:
            cw.sample()
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("access denied: cloudwatch:GetMetricData (reading the error rate)")
    assert "not authorized" in message


@pytest.mark.parametrize(
    ("text", "env", "value"),
    [
        ("errors / requests", {"errors": 5, "requests": 50}, 0.1),
        ("(a + b) / (c * 2)", {"a": 1, "b": 3, "c": 4}, 0.5),
        ("-a + 1", {"a": 0.25}, 0.75),
        ("errors / requests", {"errors": 5, "requests": 0}, None),
        ("errors / missing", {"errors": 5}, None),
    ],
)
def test_plain_arithmetic_is_computed_here(text: str, env: dict[str, float], value: Any) -> None:
    assert parse_expression(text)(env) == value


@pytest.mark.parametrize("text", ["SUM(METRICS())", "IF(a > 1, a, 0)", "a /", "(a", ""])
def test_anything_else_is_left_to_cloudwatch(text: str) -> None:
    with pytest.raises(_Unsupported):
        parse_expression(text)
