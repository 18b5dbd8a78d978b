"""The load balancer's steps as data: their ops, their params, and the command each shows.

``alb.forward`` makes the listener (or rule) forward with new weights.  Its params:

* ``listener`` / ``rule``: the ARNs it changes (``rule`` "" for the default action);
* ``weights``: one share per configured target group, in percent
  (``{"name": "blue", "arn": ..., "weight": 100}``, ``providers.alb.forward``);
* ``expect``: the shares the listener must forward when the step begins (the
  live ones when the plan was made, or what the step before it set), so a
  change made by someone else in between is a ``Conflict``, never overwritten;
* ``restore`` (gradual only): the shares from before the first step, which a
  failed gate or a failed later step puts back.  A plan made again on resume
  keeps the interrupted plan's.

``alb.gate`` watches health and error rate between gradual steps (the gate
shared with Cloud Run, ``providers.gate``): ``target`` and ``percent`` (which
group now receives how much), ``duration_s``, ``number`` of ``total``, and
``expect`` / ``restore`` as above.

The command is rendered here from the params and the listener's actions when
the plan is made (``aws elbv2 modify-listener --default-actions …``); nothing
reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from console.model import Plan, Step
from providers import gate
from providers.alb.forward import Share, describe_shares, params_of, shares_of
from providers.base import ProviderError

FORWARD = "alb.forward"
GATE = "alb.gate"
OPS = frozenset({FORWARD, GATE})

#: The action besides a plain rollback (``SupportsActions``).
GRADUAL = "gradual"


def _shares(step: Step, key: str) -> tuple[Share, ...]:
    value = step.params.get(key)
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ProviderError(f"step {step.title!r}: its params have no {key!r} weights")
    try:
        return shares_of(value)
    except (KeyError, TypeError, ValueError) as err:
        raise ProviderError(
            f"step {step.title!r}: its {key!r} weights cannot be read ({err})"
        ) from None


@dataclass(frozen=True)
class ForwardChange:
    """An ``alb.forward`` step's params, typed."""

    listener: str
    rule: str
    weights: tuple[Share, ...]
    expect: tuple[Share, ...]
    restore: tuple[Share, ...] | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "listener": self.listener,
            "rule": self.rule,
            "weights": params_of(self.weights),
            "expect": params_of(self.expect),
        }
        if self.restore is not None:
            params["restore"] = params_of(self.restore)
        return params

    @classmethod
    def of(cls, step: Step) -> ForwardChange:
        restore = _shares(step, "restore") if "restore" in step.params else None
        return cls(
            listener=str(step.params.get("listener", "")),
            rule=str(step.params.get("rule", "")),
            weights=_shares(step, "weights"),
            expect=_shares(step, "expect"),
            restore=restore,
        )

    @property
    def target(self) -> Share:
        """The group receiving the largest share after the step."""
        return max(self.weights, key=lambda s: s.weight)


@dataclass(frozen=True)
class GateCheck(gate.GateCheck[Share]):
    """An ``alb.gate`` step's params, typed (``providers.gate.GateCheck``)."""

    @classmethod
    def read_traffic(cls, step: Step, key: str) -> tuple[Share, ...]:
        return _shares(step, key)

    @classmethod
    def traffic_params(cls, traffic: Sequence[Share]) -> list[dict[str, Any]]:
        return params_of(traffic)


def gate_command(gate: GateCheck, restore_command: str) -> str:
    return (
        f"# watch health and error rate for {gate.duration_s:g} s; if the gate fails, "
        f"forward {describe_shares(gate.restore)} again: {restore_command}"
    )


def last_change(plan: Plan) -> ForwardChange | None:
    """The plan's last forward change: where the listener forwards once the plan is done."""
    for step in reversed(plan.steps):
        if step.op == FORWARD:
            return ForwardChange.of(step)
    return None


def started_from(plan: Plan) -> tuple[Share, ...] | None:
    """The shares from before ``plan`` (or the plan it resumed) began: what a failure restores."""
    for step in plan.steps:
        if step.op == FORWARD:
            change = ForwardChange.of(step)
            return change.restore if change.restore is not None else change.expect
    return None
