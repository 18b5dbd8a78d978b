"""A blue/green load balancer and a CloudFront distribution on moto's server (ALB and CDN tests).

``ElbWorld.build`` makes, on the shared moto server (``tests.aws.moto_server``,
reset per test): a VPC with two subnets, the Application Load Balancer
``web-alb``, target groups (``ip`` targets, two each, tagged with the version
their targets run), an HTTP listener forwarding everything to the live group,
and a rule for ``/api/*`` forwarding (weighted) to the live group too.  What
the listener forwards is read back from moto directly (``forwarded``), never
through the provider under test.

moto does not run health checks: every registered target is ``healthy``.
``set_health`` plays them by hand on moto's in-process backend (the state,
reason and description ``DescribeTargetHealth`` answers for one target, or a
whole group), as the ECS tests play ECS's scheduler.  moto also completes a
CloudFront invalidation the moment it is created; ``CloudFrontProgress``
makes new invalidations start ``InProgress`` until a test completes them, as
CloudFront does over a few minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from console.config import AlbConfig, CdnConfig, ServiceConfig, TargetGroup
from tests.aws.moto_server import (
    ACCOUNT,
    REGION,
    Background,
    World,
    isolate_env,
    moto_url,
    reset,
)

LB_NAME = "web-alb"
DISTRIBUTION_COMMENT = "web"


def elbv2_backend() -> Any:
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[ACCOUNT][REGION]


def cloudfront_backend() -> Any:
    from moto.cloudfront.models import cloudfront_backends

    return cloudfront_backends[ACCOUNT]["global"]


@dataclass
class ElbWorld:
    """The load balancer, its groups (name -> ARN, oldest first), listener, rule, distribution."""

    url: str
    world: World = field(init=False)
    groups: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    listener_arn: str = ""
    rule_arn: str = ""
    load_balancer_arn: str = ""
    distribution_id: str = ""

    def __post_init__(self) -> None:
        self.world = World(self.url)

    @property
    def elb(self) -> Any:
        return self.world.client("elbv2")

    @property
    def cloudfront(self) -> Any:
        return self.world.client("cloudfront")

    def build(
        self,
        groups: tuple[tuple[str, str], ...] = (("blue", "v1.2.9"), ("green", "v1.3.0")),
        live: str = "green",
        *,
        tags: bool = True,
    ) -> ElbWorld:
        """``groups``: (name, version) oldest first; ``live`` gets all the traffic."""
        ec2 = self.world.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}"
            )["Subnet"]["SubnetId"]
            for i, z in ((1, "a"), (2, "b"))
        ]
        lb = self.elb.create_load_balancer(Name=LB_NAME, Subnets=subnets)["LoadBalancers"][0]
        self.load_balancer_arn = lb["LoadBalancerArn"]
        for i, (name, version) in enumerate(groups):
            made = self.elb.create_target_group(
                Name=f"web-{name}",
                Protocol="HTTP",
                Port=8080,
                VpcId=vpc,
                TargetType="ip",
                **({"Tags": [{"Key": "version", "Value": version}]} if tags else {}),
            )["TargetGroups"][0]
            arn = made["TargetGroupArn"]
            self.groups[name] = arn
            self.versions[name] = version
            self.elb.register_targets(
                TargetGroupArn=arn,
                Targets=[
                    {"Id": f"10.0.1.{10 + i}", "Port": 8080},
                    {"Id": f"10.0.2.{10 + i}", "Port": 8080},
                ],
            )
        self.listener_arn = self.elb.create_listener(
            LoadBalancerArn=self.load_balancer_arn,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": self.groups[live]}],
        )["Listeners"][0]["ListenerArn"]
        weights = [
            {"TargetGroupArn": arn, "Weight": 100 if name == live else 0}
            for name, arn in self.groups.items()
        ]
        self.rule_arn = self.elb.create_rule(
            ListenerArn=self.listener_arn,
            Priority=10,
            Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
            Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": weights}}],
        )["Rules"][0]["RuleArn"]
        return self

    def distribution(self) -> str:
        """A CloudFront distribution in front of the load balancer; its id."""
        origin = {
            "Id": "alb",
            "DomainName": "web-alb.eu-west-1.elb.amazonaws.com",
            "CustomOriginConfig": {
                "HTTPPort": 80,
                "HTTPSPort": 443,
                "OriginProtocolPolicy": "http-only",
            },
        }
        made = self.cloudfront.create_distribution(
            DistributionConfig={
                "CallerReference": "web-distribution",
                "Comment": DISTRIBUTION_COMMENT,
                "Enabled": True,
                "Origins": {"Quantity": 1, "Items": [origin]},
                "DefaultCacheBehavior": {
                    "TargetOriginId": "alb",
                    "ViewerProtocolPolicy": "allow-all",
                    "MinTTL": 0,
                    "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                },
            }
        )
        self.distribution_id = made["Distribution"]["Id"]
        return self.distribution_id

    # ------------------------------------------------------------------ read from moto itself

    def actions(self, *, rule: bool = False) -> list[dict[str, Any]]:
        if rule:
            return list(self.elb.describe_rules(RuleArns=[self.rule_arn])["Rules"][0]["Actions"])
        found = self.elb.describe_listeners(ListenerArns=[self.listener_arn])["Listeners"][0]
        return list(found["DefaultActions"])

    def forwarded(self, *, rule: bool = False) -> dict[str, int]:
        """Group name -> weight the listener (or the rule) forwards with, read from moto."""
        names = {arn: name for name, arn in self.groups.items()}
        action = next(a for a in self.actions(rule=rule) if a["Type"] == "forward")
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
        if groups:
            return {
                names.get(g["TargetGroupArn"], g["TargetGroupArn"]): int(g["Weight"])
                for g in groups
            }
        return {names.get(action["TargetGroupArn"], action["TargetGroupArn"]): 1}

    def serving(self, *, rule: bool = False) -> str:
        """The group receiving the most traffic (its version: what "runs")."""
        weights = self.forwarded(rule=rule)
        return max(weights, key=lambda name: weights[name])

    def invalidations(self) -> list[dict[str, Any]]:
        """Every invalidation of the distribution, with its batch, read from moto."""
        listed = self.cloudfront.list_invalidations(DistributionId=self.distribution_id)
        found = []
        for item in listed["InvalidationList"].get("Items") or []:
            found.append(
                self.cloudfront.get_invalidation(
                    DistributionId=self.distribution_id, Id=item["Id"]
                )["Invalidation"]
            )
        return found

    # ------------------------------------------------------------------ played by hand

    def set_health(
        self, group: str, state: str, reason: str = "", description: str = "", target: str = ""
    ) -> None:
        """What DescribeTargetHealth answers for ``target`` of ``group`` (every target: "")."""
        tg = elbv2_backend().target_groups[self.groups[group]]
        overrides: dict[str, tuple[str, str, str]] = tg.__dict__.setdefault("_health", {})
        for target_id in [target] if target else list(tg.targets):
            overrides[target_id] = (state, reason, description)
        if "health_for" not in tg.__dict__:
            original = type(tg).health_for

            def health_for(wanted: dict[str, Any], ec2_backend: Any) -> Any:
                status = original(tg, wanted, ec2_backend)
                override = overrides.get(status.instance_id)
                if override is not None:
                    status.status, status.reason, status.description = (
                        override[0],
                        override[1] or None,
                        override[2] or None,
                    )
                return status

            tg.health_for = health_for

    # ------------------------------------------------------------------ the console's config

    def alb_config(self, url: str = "", *, rule: bool = False, **fields: Any) -> AlbConfig:
        values: dict[str, Any] = {
            "listener_arn": self.listener_arn,
            "target_groups": tuple(TargetGroup(n, a) for n, a in self.groups.items()),
            "region": REGION,
            "endpoint_url": url or self.url,
            "rule_arn": self.rule_arn if rule else "",
        }
        values.update(fields)
        return AlbConfig(**values)

    def service(
        self,
        url: str = "",
        *,
        rule: bool = False,
        cdn: CdnConfig | None = None,
        ready_timeout_s: float = 5.0,
        **fields: Any,
    ) -> ServiceConfig:
        return ServiceConfig(
            name="web",
            environment="production",
            provider="alb",
            ready_timeout_s=ready_timeout_s,
            alb=self.alb_config(url, rule=rule, **fields),
            cdn=cdn,
        )

    def cdn_config(self, url: str = "", **fields: Any) -> CdnConfig:
        values: dict[str, Any] = {
            "distribution_id": self.distribution_id,
            "endpoint_url": url or self.url,
            "timeout_s": 30.0,
        }
        values.update(fields)
        return CdnConfig(**values)


class AlbTraffic(Background):
    """The target groups' CloudWatch metrics every 0.2 s, following the listener's weights.

    moto counts no requests: this thread plays the load balancer's metrics,
    100 requests a tick split by the weights the listener forwards with (read
    from moto each tick), with ``bad``'s share answering 40% 5xx, per target
    group and, as an ALB does, for the whole load balancer (with its response
    time).  Rolling back therefore really brings the error rate down.
    """

    def __init__(self, elb: ElbWorld, bad: str = "green") -> None:
        self.elb = elb
        self.bad = bad
        self.cloudwatch = elb.world.client("cloudwatch")  # made here: not thread-safe
        self.load_balancer = elb.load_balancer_arn.split(":loadbalancer/", 1)[1]
        super().__init__("alb-traffic")

    def tick(self) -> None:
        from datetime import UTC, datetime

        at = datetime.now(UTC)
        try:
            weights = self.elb.forwarded()
        except Exception:  # the world is being reset, or a test broke the listener
            return
        total = sum(weights.values()) or 1
        data: list[dict[str, Any]] = []

        def put(dims: list[dict[str, str]], requests: float, errors: float) -> None:
            for metric, value in (
                ("RequestCount", requests),
                ("HTTPCode_Target_5XX_Count", errors),
            ):
                data.append(
                    {"MetricName": metric, "Dimensions": dims, "Timestamp": at, "Value": value}
                )

        lb = [{"Name": "LoadBalancer", "Value": self.load_balancer}]
        all_errors = 0.0
        for name, arn in self.elb.groups.items():
            requests = 100.0 * weights.get(name, 0) / total
            errors = 0.4 * requests if name == self.bad else 0.0
            all_errors += errors
            put([*lb, {"Name": "TargetGroup", "Value": arn.split(":", 5)[5]}], requests, errors)
        # The load balancer reports its own totals too, and its response time.
        put(lb, 100.0, all_errors)
        data.append(
            {
                "MetricName": "TargetResponseTime",
                "Dimensions": lb,
                "Timestamp": at,
                "Value": 0.08,
                "Unit": "Seconds",
            }
        )
        self.cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(0.2)


class CloudFrontProgress:
    """New invalidations start ``InProgress`` (moto completes them at once) until ``complete``.

    Installed on moto's in-process model for the duration of a test
    (``monkeypatch``): CloudFront takes minutes to complete an invalidation,
    and a console that does not wait for it must be caught.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from moto.cloudfront import models

        original = models.Invalidation.__init__

        def starting(inner: Any, *args: Any, **kwargs: Any) -> None:
            original(inner, *args, **kwargs)
            inner.status = "InProgress"

        monkeypatch.setattr(models.Invalidation, "__init__", starting)

    @staticmethod
    def pending() -> list[Any]:
        return [
            inv
            for found in cloudfront_backend().invalidations.values()
            for inv in found
            if inv.status != "Completed"
        ]

    def complete(self) -> int:
        """Complete every invalidation in progress; how many there were."""
        waiting = self.pending()
        for inv in waiting:
            inv.status = "Completed"
        return len(waiting)


def elb_world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **build: Any) -> Iterator[ElbWorld]:
    """Fixture body: isolated env, a reset moto, the load balancer and a distribution."""
    isolate_env(monkeypatch, tmp_path)
    url = moto_url()
    reset(url)
    made = ElbWorld(url).build(**build)
    made.distribution()
    yield made
