"""Where a listener (or rule) forwards, and the actions that forward elsewhere: no SDK here.

A listener's default actions (or a rule's actions) end in one ``forward``
action: to one target group (``TargetGroupArn``) or, weighted, to several
(``ForwardConfig.TargetGroups``, each with a ``Weight`` from 0 to 999; a
share is its weight over the sum).  Other actions before it (authenticate,
say) and the forward's stickiness settings are kept as they are: a switch
changes the weights and nothing else.

In the console a forward is a list of ``Share``s in percent adding up to 100
(the weights it sends), one for every configured target group, 0 for the
standby ones: a standby group stays attached to the listener, so the load
balancer keeps checking its targets' health, and the next switch finds them
checked.  In a step's params a share is ``{"name": "blue", "arn": ..., "weight":
100}``: plain JSON, journaled as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from console.config import AlbConfig
from providers.base import InvalidTarget
from providers.weights import Split


@dataclass(frozen=True)
class Share:
    """``weight`` percent of the traffic to the target group ``arn`` (``name`` in the config)."""

    name: str
    arn: str
    weight: int

    def to_param(self) -> dict[str, Any]:
        return {"name": self.name, "arn": self.arn, "weight": self.weight}

    @classmethod
    def from_param(cls, data: Mapping[str, Any]) -> Share:
        return cls(str(data["name"]), str(data["arn"]), int(data["weight"]))


def params_of(shares: Iterable[Share]) -> list[dict[str, Any]]:
    return [s.to_param() for s in shares]


def shares_of(params: Iterable[Mapping[str, Any]]) -> tuple[Share, ...]:
    return tuple(Share.from_param(p) for p in params)


def short(arn: str) -> str:
    """``targetgroup/web-blue/73e2d6bc24d8a067`` -> ``web-blue``: an unlisted group's name."""
    parts = arn.rsplit(":", 1)[-1].split("/")
    return parts[1] if len(parts) >= 3 else arn


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Forward:
    """What the forward action of a listener or rule sends where, as read."""

    #: Target group ARN -> its weight as read (1 for a plain ``TargetGroupArn``), in order.
    weights: Mapping[str, int]
    #: The index of the forward action among the actions.
    index: int
    #: All the actions as read (what a change keeps).
    actions: tuple[Mapping[str, Any], ...]

    @property
    def total(self) -> int:
        return sum(self.weights.values())

    def share(self, arn: str) -> Fraction:
        """The exact share of ``arn`` (0 to 1)."""
        total = self.total
        return Fraction(self.weights.get(arn, 0), total) if total else Fraction(0)

    def percent(self, arn: str) -> int:
        """The share of ``arn`` in whole percents (rounded)."""
        return round(self.share(arn) * 100)

    def top(self) -> str:
        """The ARN receiving the largest share ("" when nothing is forwarded)."""
        serving = [(w, -i, arn) for i, (arn, w) in enumerate(self.weights.items()) if w > 0]
        return max(serving)[2] if serving else ""

    def matches(self, wanted: Sequence[Share]) -> bool:
        """Whether it sends exactly ``wanted``'s shares (ratios, whatever the weights' scale)."""
        total = sum(s.weight for s in wanted)
        if total <= 0 or self.total <= 0:
            return False
        want: dict[str, Fraction] = {}
        for s in wanted:
            if s.weight:
                want[s.arn] = want.get(s.arn, Fraction(0)) + Fraction(s.weight, total)
        have = {arn: self.share(arn) for arn, w in self.weights.items() if w}
        return want == have

    def shares(self, cfg: AlbConfig) -> tuple[Share, ...]:
        """The weights as read, as shares named by the config (another group by its own name)."""
        names = {g.arn: g.name for g in cfg.target_groups}
        return tuple(Share(names.get(a, short(a)), a, w) for a, w in self.weights.items())

    def describe(self, cfg: AlbConfig) -> str:
        """``green 100%, blue 0%`` (configured names; another group by its own name)."""
        parts = []
        for arn in self.weights:
            group = next((g for g in cfg.target_groups if g.arn == arn), None)
            name = group.name if group is not None else f"{short(arn)} (not in [services.alb])"
            parts.append(f"{name} {self.percent(arn)}%")
        return ", ".join(parts) or "nothing"


def read_forward(actions: Sequence[Mapping[str, Any]], where: str) -> Forward:
    """The forward action among ``actions``; ``InvalidTarget`` when there is none.

    A listener answering with a fixed response (maintenance mode) or a redirect
    forwards nowhere: there is nothing to switch back.
    """
    ordered = sorted(enumerate(actions), key=lambda pair: (pair[1].get("Order", 0), pair[0]))
    for index, action in ordered:
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        weights: dict[str, int] = {}
        if groups:
            for group in groups:
                arn = str(group.get("TargetGroupArn", ""))
                weights[arn] = weights.get(arn, 0) + int(group.get("Weight", 1) or 0)
        elif action.get("TargetGroupArn"):
            weights[str(action["TargetGroupArn"])] = 1
        return Forward(weights, index, tuple(actions))
    kinds = ", ".join(str(a.get("Type", "?")) for a in actions) or "no action"
    raise InvalidTarget(f"{where} forwards to no target group ({kinds}): nothing to switch")


# --------------------------------------------------------------------------- changing


def actions_for(forward: Forward, wanted: Sequence[Share]) -> list[dict[str, Any]]:
    """The actions as read, with the forward one sending ``wanted`` (stickiness kept).

    Only what ModifyListener / ModifyRule accept is sent back: the read-only
    fields an answer may carry are left out.
    """
    actions = [_writable(a) for a in forward.actions]
    old = actions[forward.index]
    config: dict[str, Any] = {
        "TargetGroups": [{"TargetGroupArn": s.arn, "Weight": s.weight} for s in wanted]
    }
    sticky = (old.get("ForwardConfig") or {}).get("TargetGroupStickinessConfig")
    if sticky:
        config["TargetGroupStickinessConfig"] = dict(sticky)
    new: dict[str, Any] = {"Type": "forward", "ForwardConfig": config}
    if "Order" in old:
        new["Order"] = old["Order"]
    actions[forward.index] = new
    return actions


_ACTION_KEYS = (
    "Type",
    "TargetGroupArn",
    "AuthenticateOidcConfig",
    "AuthenticateCognitoConfig",
    "Order",
    "RedirectConfig",
    "FixedResponseConfig",
    "ForwardConfig",
)


def _writable(action: Mapping[str, Any]) -> dict[str, Any]:
    return {k: action[k] for k in _ACTION_KEYS if k in action}


def as_json(actions: Sequence[Mapping[str, Any]]) -> str:
    """The actions as the ``aws elbv2`` CLI takes them (compact JSON, keys in order)."""
    return json.dumps(list(actions), separators=(",", ":"))


def weights_for(
    cfg: AlbConfig, split: Split, others: Mapping[str, str] | None = None
) -> tuple[Share, ...]:
    """One share per configured target group (``split``'s percent, 0 for the others), and
    one per group of ``others`` (name -> ARN: groups the listener forwards to that the
    config does not list) that ``split`` still gives a share."""
    percent = dict(split)
    shares = [Share(g.name, g.arn, percent.get(g.name, 0)) for g in cfg.target_groups]
    for name, arn in (others or {}).items():
        if percent.get(name, 0) > 0 and cfg.group(name) is None:
            shares.append(Share(name, arn, percent[name]))
    return tuple(shares)


def percents(shares: Sequence[Share]) -> dict[str, int]:
    """Name -> whole percent of ``shares`` (weights on any scale)."""
    total = sum(s.weight for s in shares)
    return {s.name: round(s.weight * 100 / total) if total else 0 for s in shares}


def describe_shares(shares: Sequence[Share]) -> str:
    """``blue 100%, green 0%``: the serving groups first, weights shown as percents."""
    shown = percents(shares)
    ordered = sorted(shares, key=lambda s: -s.weight)
    return ", ".join(f"{s.name} {shown[s.name]}%" for s in ordered) or "nothing"
