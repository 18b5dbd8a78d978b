"""The load balancer's part: runs ``alb.forward`` and ``alb.gate``; says on resume what took effect.

Every forward step reads the listener (or rule) first: it must still forward
what the step expects (the plan's starting weights, or what the step before
set), else someone else changed it and the step stops without touching it
(``Conflict``).  The target group must still have a healthy target.  Then the
change is sent **once** (``ModifyListener`` / ``ModifyRule``): when its answer
is lost (a reset, a timeout, a 5xx), the listener is read back: forwarding as
asked, the change was applied; as before, it was not (the step fails, saying
so); unreadable, nobody knows (``OutcomeUnknown``: the incident stays open and
``resume`` reads the listener first).  Never a second switch for one step.

Gradual: between steps a gate (``providers.gate``, shared with Cloud Run)
watches health and error rate.  When a gate fails, or a later step fails
after being refused by AWS, the weights from before the first step are put
back (only while the listener still forwards what the failed step left) and
the step fails saying what failed and where the traffic is now.

Resuming (``took_effect``): a forward step took effect when the listener
forwards its weights; a gate cannot be read back (None).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

from console.config import ServiceConfig
from console.model import Plan, Step
from providers import gate as shared
from providers.alb.client import AlbApi
from providers.alb.forward import Forward, Share, actions_for, as_json, describe_shares
from providers.alb.ops import FORWARD, GATE, OPS, ForwardChange, GateCheck
from providers.alb.plans import no_healthy_targets
from providers.alb.read import AlbReader
from providers.aws_errors import translate
from providers.base import (
    Conflict,
    InvalidTarget,
    OutcomeUnknown,
    ProviderError,
    TimedOut,
    Unavailable,
)
from providers.gate import Gate, GatedPart, GateSession


class GateFailed(ProviderError):
    """A gate between the steps of a gradual switch failed (the weights were put back)."""


class ForwardPart(GatedPart[GateSession, Share]):
    """Owns ``alb.forward`` and ``alb.gate`` (see the module docstring).

    ``gate`` replaces the default gate of gradual switches.  Built once per
    provider, without I/O.
    """

    ops = OPS
    change_op = FORWARD
    gate_op = GATE
    kind = "load balancer"
    session_type = GateSession
    check_type = GateCheck
    gate_failed = GateFailed

    def __init__(
        self, service: ServiceConfig, api: AlbApi, reader: AlbReader, gate: Gate | None = None
    ) -> None:
        self.service = service
        self.api = api
        self.cfg = api.cfg
        self.reader = reader
        self.gate = gate
        self._session: GateSession | None = None

    # ------------------------------------------------------------------ running

    def _change(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        change = ForwardChange.of(step)
        self._same_listener(step, change)
        try:
            live = self.reader.forward()
        except InvalidTarget as err:  # a fixed response, a redirect: not what was planned
            raise Conflict(
                f"the {self.api.where} was changed by someone else: {err}; stopping without "
                "touching it"
            ) from None
        first = self._first(step, plan)
        if first:
            yield f"forwards now: {live.describe(self.cfg)}"
        if not live.matches(change.expect):
            raise Conflict(
                f"the {self.api.where} was changed by someone else: it forwards "
                f"{live.describe(self.cfg)}, not {describe_shares(change.expect)}; stopping "
                "without touching it" + ("" if first else " (plan again)")
            )
        if first and any(s.op == GATE for s in plan.steps):
            yield from self._prepare_gate(plan)
        try:
            target = self.cfg.group(change.target.name)
            if target is not None:
                problem = no_healthy_targets(target, self.reader.health(target))
                if problem:
                    raise InvalidTarget(f"{problem}: not forwarding traffic to it")
            yield from self._send(live, change.weights)
        except ProviderError as err:
            # Someone else's change is never overwritten, and a change that may have been
            # applied is not undone on a guess; anything else a later gradual step met puts
            # the weights back where they were before the first one.
            undo = not isinstance(err, Conflict | OutcomeUnknown)
            original = change.restore
            if undo and original is not None and not _same(original, change.expect):
                message = yield from self._restore(original, change.expect, f"step failed: {err}")
                raise type(err)(message) from None
            raise
        return f"forwards now: {describe_shares(change.weights)}"

    def _send(self, live: Forward, weights: Sequence[Share]) -> Generator[str, None, None]:
        """ModifyListener / ModifyRule once; a lost answer is read back (module doc)."""
        from botocore import exceptions as bex

        operation, kwargs = self.api.modify_kwargs(actions_for(live, weights))
        client = self.api.elbv2(write=True)
        method = client.modify_rule if self.cfg.rule_arn else client.modify_listener
        doing = f"forwarding {describe_shares(weights)} at the {self.api.where}"
        try:
            method(**kwargs)
            return
        except (bex.ClientError, bex.BotoCoreError) as exc:
            err = translate(exc, f"elasticloadbalancing:{operation}", doing, attempts=1)
        if not isinstance(err, Unavailable | TimedOut):
            raise err  # AWS refused it: nothing changed
        try:
            after = self.reader.forward(poll=True)
        except ProviderError as again:
            raise OutcomeUnknown(
                f"{err}; whether the change was applied is not known: the {self.api.where} "
                f"could not be read again ({again}); look with `{self.api.describe_command()}` "
                "before retrying"
            ) from None
        if after.matches(weights):
            yield (
                f"no answer to elasticloadbalancing:{operation} ({err}), but the "
                f"{self.api.where} forwards {describe_shares(weights)} when read again: the "
                "change was applied"
            )
            return
        raise type(err)(
            f"{err}; the {self.api.where} still forwards {after.describe(self.cfg)} when read "
            "again: the change was not applied"
        ) from None

    def _restore(
        self, original: Sequence[Share], left: Sequence[Share], why: str
    ) -> Generator[str, None, str]:
        """Put ``original`` back if the listener still forwards ``left``; the message to raise."""
        try:
            live = self.reader.forward()
        except ProviderError as err:
            return f"{why}; the weights could not be read to put them back ({err})"
        if not live.matches(left):
            return (
                f"{why}; the {self.api.where} was changed meanwhile (it forwards "
                f"{live.describe(self.cfg)}): not putting the weights back"
            )
        yield f"{why}: putting the weights back to {describe_shares(original)}"
        try:
            yield from self._send(live, original)
        except ProviderError as err:
            by_hand = self.api.modify_command(as_json(actions_for(live, original)))
            return (
                f"{why}; putting the weights back to {describe_shares(original)} failed: {err}; "
                f"put them back by hand: `{by_hand}`"
            )
        return f"{why}; the weights were put back: {describe_shares(original)}"

    def _restore_after(
        self, check: shared.GateCheck[Share], plan: Plan, why: str
    ) -> Generator[str, None, str]:
        return (yield from self._restore(check.restore, check.expect, why))

    # ------------------------------------------------------------------ one run of a plan

    def _same_listener(self, step: Step, change: ForwardChange) -> None:
        """A step for another listener or rule than the configured one is never run."""
        if (change.listener, change.rule) != (self.cfg.listener_arn, self.cfg.rule_arn):
            raise ProviderError(
                f"step {step.title!r} is for {change.rule or change.listener}, but "
                f"[services.alb] of {self.service.name} names "
                f"{self.cfg.rule_arn or self.cfg.listener_arn}: plan again"
            )

    # ------------------------------------------------------------------ resume

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        """Whether the listener forwards ``step``'s weights (a gate: None)."""
        if step.op != FORWARD:
            return None
        return self.reader.forward().matches(ForwardChange.of(step).weights)


def _same(a: Sequence[Share], b: Sequence[Share]) -> bool:
    """The same traffic (ratios), whatever the weights' scale."""
    return Forward({s.arn: s.weight for s in a}, 0, ()).matches(b)
