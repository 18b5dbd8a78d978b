"""Reading the load balancer: where the listener (or rule) forwards, and each group's targets.

Three reads, each one ``ProviderError`` line when it fails:

* the forward action (``DescribeListeners`` or, for a rule, ``DescribeRules``);
* per configured target group its registered targets and their health
  (``DescribeTargetHealth``: ``healthy``, ``initial``, ``unhealthy``,
  ``unused``, ``draining``, ``unavailable``, with AWS's reason);
* the groups' tags (``DescribeTags``): a ``version`` tag (or ``Version``,
  ``app.kubernetes.io/version``) is the version the group's targets run,
  shown beside the group's name; without one the name is the version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.config import TargetGroup
from providers.alb.client import AlbApi
from providers.alb.forward import Forward, read_forward
from providers.base import NotFound

#: Tags read as "the version" of a target group's targets, first found wins.
VERSION_TAGS = ("version", "Version", "app.kubernetes.io/version")


@dataclass(frozen=True)
class TargetHealth:
    """One registered target and what the load balancer's health checks say of it."""

    id: str
    port: int
    state: str
    reason: str = ""
    description: str = ""

    @property
    def name(self) -> str:
        return f"{self.id}:{self.port}" if self.port else self.id


@dataclass(frozen=True)
class GroupHealth:
    """A target group's targets as ``DescribeTargetHealth`` answered."""

    group: TargetGroup
    targets: tuple[TargetHealth, ...]

    @property
    def healthy(self) -> int:
        return sum(1 for t in self.targets if t.state == "healthy")

    def summary(self) -> str:
        """``2 of 3 targets healthy (10.0.1.7:8080 unhealthy: Target.Timeout)``."""
        total = len(self.targets)
        if not total:
            return "no targets registered"
        text = f"{self.healthy} of {total} target{'s' if total != 1 else ''} healthy"
        bad = next((t for t in self.targets if t.state != "healthy"), None)
        if bad is not None:
            why = f": {bad.reason}" if bad.reason else ""
            text += f" ({bad.name} {bad.state}{why})"
        return text


class AlbReader:
    """The reads of one ``[services.alb]`` (see the module doc)."""

    def __init__(self, api: AlbApi) -> None:
        self.api = api
        self.cfg = api.cfg

    def actions(self, *, poll: bool = False) -> list[dict[str, Any]]:
        """The listener's default actions, or the rule's actions."""
        cfg = self.cfg
        if cfg.rule_arn:
            found = self.api.read(
                "DescribeRules",
                f"reading where {self.api.where} forwards",
                poll=poll,
                missing={"RuleNotFound": NotFound(f"rule_arn {cfg.rule_arn} not found")},
                RuleArns=[cfg.rule_arn],
            )
            rules = found.get("Rules") or []
            if not rules:
                raise NotFound(f"rule_arn {cfg.rule_arn} not found")
            return list(rules[0].get("Actions") or [])
        found = self.api.read(
            "DescribeListeners",
            f"reading where {self.api.where} forwards",
            poll=poll,
            missing={
                "ListenerNotFound": NotFound(f"listener_arn {cfg.listener_arn} not found"),
                "LoadBalancerNotFound": NotFound(
                    f"the load balancer of listener_arn {cfg.listener_arn} not found"
                ),
            },
            ListenerArns=[cfg.listener_arn],
        )
        listeners = found.get("Listeners") or []
        if not listeners:
            raise NotFound(f"listener_arn {cfg.listener_arn} not found")
        return list(listeners[0].get("DefaultActions") or [])

    def forward(self, *, poll: bool = False) -> Forward:
        """Where the listener (or rule) forwards now."""
        return read_forward(self.actions(poll=poll), f"{self.api.where}")

    def health(self, group: TargetGroup, *, poll: bool = False) -> GroupHealth:
        """``group``'s registered targets and their health."""
        found = self.api.read(
            "DescribeTargetHealth",
            f"reading the health of target group {group.name}",
            poll=poll,
            missing={
                "TargetGroupNotFound": NotFound(
                    f"target group {group.name} ({group.arn}) not found: check target_groups "
                    "in [services.alb]"
                )
            },
            TargetGroupArn=group.arn,
        )
        targets = []
        for entry in found.get("TargetHealthDescriptions") or []:
            target = entry.get("Target") or {}
            health = entry.get("TargetHealth") or {}
            targets.append(
                TargetHealth(
                    id=str(target.get("Id", "")),
                    port=int(target.get("Port") or 0),
                    state=str(health.get("State", "unknown")),
                    reason=str(health.get("Reason") or ""),
                    description=str(health.get("Description") or ""),
                )
            )
        return GroupHealth(group, tuple(targets))

    def versions(self) -> dict[str, str]:
        """Target group ARN -> the version its ``version`` tag names (groups without: absent)."""
        arns = [g.arn for g in self.cfg.target_groups]
        found: dict[str, str] = {}
        for start in range(0, len(arns), 20):  # DescribeTags takes 20 ARNs at a time
            answer = self.api.read(
                "DescribeTags",
                "reading the target groups' version tags",
                ResourceArns=arns[start : start + 20],
            )
            for description in answer.get("TagDescriptions") or []:
                tags = {
                    str(t.get("Key")): str(t.get("Value", ""))
                    for t in description.get("Tags") or []
                }
                version = next((tags[k] for k in VERSION_TAGS if tags.get(k)), "")
                if version:
                    found[str(description.get("ResourceArn"))] = version
        return found
