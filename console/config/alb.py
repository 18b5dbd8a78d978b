"""``[services.alb]``: blue/green behind an Application Load Balancer (runbook 002).

The service is the listener's default action, or one of its rules
(``rule_arn``), forwarding to one of two or more target groups (blue, green):
a rollback forwards everything back to the previous one.  Every ARN is
checked for its shape here, so a pasted target-group ARN in ``listener_arn``
is one line at load time, not an AWS error at 02:00.  The region defaults to
the listener ARN's; a ``region`` that differs from it is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from console.config.reader import Reader, shown
from console.config.urls import is_url, url_error

#: ``arn:aws:elasticloadbalancing:REGION:ACCOUNT:`` and what follows it, per kind.
_ARN = r"arn:aws[a-z-]*:elasticloadbalancing:([a-z]{2}(?:-[a-z]+)+-\d+):(\d{12}):"
LISTENER_ARN = re.compile(_ARN + r"listener/app/([\w-]+)/([0-9a-f]+)/([0-9a-f]+)")
RULE_ARN = re.compile(_ARN + r"listener-rule/app/([\w-]+)/([0-9a-f]+)/([0-9a-f]+)/([0-9a-f]+)")
TARGET_GROUP_ARN = re.compile(_ARN + r"targetgroup/([\w-]+)/([0-9a-f]+)")
#: A target group's name in the config: what ``--to`` takes and the screens show.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


@dataclass(frozen=True)
class TargetGroup:
    """One side of the blue/green pair: the name the console uses, and its ARN."""

    name: str
    arn: str

    @property
    def metric_name(self) -> str:
        """``targetgroup/NAME/ID``: the TargetGroup dimension of its CloudWatch metrics."""
        return self.arn.split(":", 5)[5]


@dataclass(frozen=True)
class AlbConfig:
    """A listener (or one of its rules) switching between target groups.

    Credentials: the normal AWS chain (``profile`` names one).
    """

    listener_arn: str
    target_groups: tuple[TargetGroup, ...]
    region: str
    profile: str = ""
    endpoint_url: str = ""
    #: The rule forwarding to the service, when it is not the listener's default action.
    rule_arn: str = ""
    #: Weights (percent) of the ``gradual`` action's steps, ending at 100.
    gradual_steps: tuple[int, ...] = (10, 50, 100)
    #: How long health and error rate must hold between gradual steps.
    gate_s: float = 60.0

    @property
    def load_balancer(self) -> str:
        """``app/NAME/ID``: the LoadBalancer dimension of the ALB's CloudWatch metrics."""
        found = LISTENER_ARN.fullmatch(self.listener_arn)
        return f"app/{found.group(3)}/{found.group(4)}" if found else ""

    def group(self, name: str) -> TargetGroup | None:
        return next((g for g in self.target_groups if g.name == name), None)


def read_alb(r: Reader) -> AlbConfig:
    r.expect(
        "listener_arn",
        "rule_arn",
        "target_groups",
        "region",
        "profile",
        "endpoint_url",
        "gradual_steps",
        "gate_s",
    )
    listener = r.require("listener_arn", str)
    found = LISTENER_ARN.fullmatch(listener)
    if found is None:
        raise r.error(
            "listener_arn",
            "must be a listener ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:"
            f"listener/app/NAME/ID/ID), got {shown(listener)}",
        )
    arn_region = found.group(1)
    region = r.get("region", str, arn_region)
    if region != arn_region:
        raise r.error(
            "region", f"is {region!r} but listener_arn is in {arn_region!r}: leave region out"
        )
    rule = r.get("rule_arn", str, "")
    if rule:
        in_rule = RULE_ARN.fullmatch(rule)
        if in_rule is None:
            raise r.error(
                "rule_arn",
                "must be a listener rule ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:"
                f"listener-rule/app/NAME/ID/ID/ID), got {shown(rule)}",
            )
        if in_rule.groups()[:5] != found.groups():
            raise r.error("rule_arn", "is a rule of another listener than listener_arn")
    endpoint = r.get("endpoint_url", str, "")
    if endpoint and not is_url(endpoint):
        raise url_error(r, "endpoint_url", endpoint)
    groups = _target_groups(r, found.group(1), found.group(2))
    steps = r.get("gradual_steps", list, [10, 50, 100])
    if (
        not steps
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 100 for v in steps)
        or list(steps) != sorted(set(steps))
        or steps[-1] != 100
    ):
        raise r.error(
            "gradual_steps",
            f"must be increasing percentages between 1 and 100 ending at 100, got {shown(steps)}",
        )
    cfg = AlbConfig(
        listener_arn=listener,
        target_groups=groups,
        region=region,
        profile=r.get("profile", str, ""),
        endpoint_url=endpoint,
        rule_arn=rule,
        gradual_steps=tuple(steps),
        gate_s=r.duration("gate_s", 60.0),
    )
    r.done()
    return cfg


def _target_groups(r: Reader, region: str, account: str) -> tuple[TargetGroup, ...]:
    """``target_groups = [{ name, arn }, ...]``: two or more, names and ARNs unique."""
    readers = r.subs("target_groups")
    if len(readers) < 2:
        raise r.error(
            "target_groups",
            'needs two or more target groups ({ name = "blue", arn = "..." }), '
            f"got {len(readers)}",
        )
    groups: list[TargetGroup] = []
    for sub in readers:
        sub.expect("name", "arn")
        name = sub.require("name", str)
        if not NAME.fullmatch(name):
            raise sub.error("name", f"must be letters, digits, '-', '_' or '.', got {shown(name)}")
        arn = sub.require("arn", str)
        found = TARGET_GROUP_ARN.fullmatch(arn)
        if found is None:
            raise sub.error(
                "arn",
                "must be a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:"
                f"targetgroup/NAME/ID), got {shown(arn)}",
            )
        if (found.group(1), found.group(2)) != (region, account):
            raise sub.error(
                "arn", "is in another region or account than listener_arn: it cannot serve it"
            )
        if any(g.name == name for g in groups):
            raise sub.error("name", f"{name!r} is used by two target groups")
        if any(g.arn == arn for g in groups):
            raise sub.error("arn", "is listed twice")
        sub.done()
        groups.append(TargetGroup(name, arn))
    return tuple(groups)
