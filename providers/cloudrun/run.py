"""The Cloud Run part: runs the ``cloudrun.set_traffic`` and ``cloudrun.gate`` steps.

Every traffic step reads the service, checks its traffic is still what the
step expects (the plan's starting traffic, or what the step before it set) and
sends the new traffic with the etag just read (``providers.cloudrun.apply``).
The first traffic step of a plan also says what the traffic is, and on a
gradual plan prepares the gate (the default gate takes its error-rate baseline
there, before any traffic moves).  After a rollback the traffic is pinned to a
revision: later deploys receive no traffic until it is sent to LATEST again,
and the finished step says so.

Gradual rollback: between steps a gate (``providers.cloudrun.gate``) watches
health and error rate for its ``duration_s``.  When a gate fails, or a later
step's operation fails, the traffic is put back exactly as it was before the
first step (entries, LATEST, tags and all: the step's ``restore``) and the
step fails with a message saying what failed and what the traffic is now.  A
step not seen finishing is not undone: its operation may still complete, and
the message says how to look.

Resuming after a crash (``took_effect``): the platform is asked, not the
journal.  A traffic step took effect when the service asks for its split and
serves it; an update whose operation is still running is waited for
(``operation_timeout_s``): succeeded, or still running, it took effect and is
not sent again; failed (asked for, not served), it did not.  A gradual move
stopped half-way has not reached its last step's split: the flow plans it again
from the live split (``resume_from``), and a failing gate then still puts the
traffic back where it was before the interrupted plan began.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass

from console.config import ServiceConfig
from console.model import Plan, Step
from providers import gate as shared
from providers.base import Conflict, OutcomeUnknown, ProviderError, TimedOut, Unavailable
from providers.cloudrun.apply import Updater
from providers.cloudrun.client import CloudRunClient
from providers.cloudrun.gate import Gate
from providers.cloudrun.ops import (
    GATE,
    OPS,
    SET_TRAFFIC,
    GateCheck,
    TrafficChange,
    final_split,
    restore_command,
)
from providers.cloudrun.traffic import (
    LATEST,
    Route,
    Split,
    describe_routes,
    describe_split,
    same_routes,
    served_split,
    split_of,
)
from providers.cloudrun.views import ServiceView
from providers.gate import GatedPart, GateSession


class GateFailed(ProviderError):
    """A gate between the steps of a gradual rollback failed (the traffic was put back)."""


@dataclass
class _Session(GateSession):
    """One run of a plan's Cloud Run steps: the shared session, and what LATEST means."""

    #: The latest Ready revision last seen: what LATEST means in the messages.
    latest_ready: str = ""


class TrafficPart(GatedPart[_Session, Route]):
    """Owns ``cloudrun.set_traffic`` and ``cloudrun.gate`` (see the module docstring).

    ``gate`` replaces the default gate of gradual rollbacks.  Built once per
    provider, without I/O; the steps of one plan run one after the other.
    """

    ops = OPS
    change_op = SET_TRAFFIC
    gate_op = GATE
    kind = "Cloud Run"
    session_type = _Session
    check_type = GateCheck
    gate_failed = GateFailed

    def __init__(
        self,
        service: ServiceConfig,
        client: CloudRunClient,
        updater: Updater,
        gate: Gate | None = None,
    ) -> None:
        self.service = service
        self.client = client
        self.cfg = client.cfg
        self.updater = updater
        self.gate = gate
        self._session: _Session | None = None

    # ------------------------------------------------------------------ running

    def _change(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        change = TrafficChange.of(step)
        if self._first(step, plan):
            yield from self._begin(plan, change)
        raw, svc = self.client.read_service()
        if not same_routes(svc.traffic, change.expect):
            raise Conflict(
                f"the traffic of {self.cfg.service} was changed by someone else during the "
                f"rollback: it is {describe_routes(svc.traffic, svc.latest_ready)}, not "
                f"{describe_routes(change.expect, svc.latest_ready)}; stopping without "
                "touching it"
            )
        routes, split = change.traffic, change.split
        try:
            served = yield from self.updater.apply(raw, routes, f"send {describe_split(split)}")
        except ProviderError as err:
            # A step that timed out may still complete, and a conflict is someone else's
            # change: neither is undone.  Any other failure of a later gradual step is.
            undo = not isinstance(err, TimedOut | Conflict | OutcomeUnknown)
            original = change.restore
            if undo and original is not None and not same_routes(change.expect, original):
                message = yield from self.updater.restore(
                    original, (change.expect, routes), f"step failed: {err}", svc.latest_ready
                )
                raise type(err)(message) from None
            try:
                after = self.updater.aftermath(svc.traffic, routes)
            except OutcomeUnknown as unknown:
                if isinstance(err, Unavailable | TimedOut):
                    # Sent, unanswered, and unreadable since: neither done nor failed
                    # (resume reads the service first, and sends it again only if needed).
                    raise OutcomeUnknown(f"{err}; {unknown}") from None
                raise type(err)(f"{err}; {unknown}") from None
            raise type(err)(f"{err}; {after}") from None
        self._seen(plan, served)
        text = f"traffic served: {describe_routes(served.statuses, served.latest_ready)}"
        pinned_to = _sole_revision(split)
        if served.pinned and pinned_to:
            text += (
                f"; pinned to {pinned_to}: later deploys get no traffic until it is sent to "
                f"LATEST (`{self.client.gcloud(None)}`)"
            )
        return text

    def _begin(self, plan: Plan, change: TrafficChange) -> Generator[str, None, None]:
        """The plan's first traffic step: the traffic still as planned, the gate ready."""
        _, svc = self.client.read_service()
        if not same_routes(change.expect, svc.traffic):
            raise Conflict(
                f"the traffic of {self.cfg.service} changed since the plan was made: it is "
                f"{describe_routes(svc.traffic, svc.latest_ready)}, not "
                f"{describe_routes(change.expect, svc.latest_ready)}; plan again"
            )
        self._close()
        self._session = _Session(plan, latest_ready=svc.latest_ready)
        yield f"traffic now: {describe_routes(svc.traffic, svc.latest_ready)}"
        original = change.restore
        if original is not None and not same_routes(original, svc.traffic):
            # The plan was made from the live split and words its fallback from there;
            # what a failure really goes back to is the traffic before the incident's plan.
            yield (
                "resumed: if a gate or a later step fails, the traffic goes back to where it "
                "was before the interrupted rollback began, "
                f"{describe_routes(original, svc.latest_ready)} "
                f"(`{restore_command(self.client, original)}`), not to the split it "
                "was left at"
            )
        if any(s.op == GATE for s in plan.steps):
            yield from self._prepare_gate(plan)

    def _restore_after(
        self, check: shared.GateCheck[Route], plan: Plan, why: str
    ) -> Generator[str, None, str]:
        latest = self._session_for(plan).latest_ready
        return (yield from self.updater.restore(check.restore, (check.expect,), why, latest))

    # ------------------------------------------------------------------ one run of a plan

    def _seen(self, plan: Plan, svc: ServiceView) -> None:
        self._session_for(plan).latest_ready = svc.latest_ready

    # ------------------------------------------------------------------ resume

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        """Whether the service asks for ``step``'s split and serves it (a gate: None)."""
        if step.op != SET_TRAFFIC:
            return None
        return self.in_effect(TrafficChange.of(step).split)

    def switch_took_effect(self, plan: Plan) -> bool | None:
        """``took_effect`` for a whole plan, journaled typed or not: its final split."""
        wanted = final_split(plan)
        return None if wanted is None else self.in_effect(wanted)

    def in_effect(self, wanted: Split) -> bool:
        """Whether the service asks for ``wanted`` and, once any change settled, serves it.

        A change still running is waited for (``operation_timeout_s``), as the
        killed console would have, so that the answer is what it came to, not
        what it may come to; still running then, it is taken as in effect: never
        sent twice, and ``wait_ready`` follows it.
        """
        _, svc = self.client.read_service()
        if dict(split_of(svc.traffic)) != dict(wanted):
            return False
        deadline = time.monotonic() + self.cfg.operation_timeout_s
        interval = self.updater.poll_interval_s
        while _in_progress(svc) and time.monotonic() < deadline:
            time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
            _, svc = self.client.read_service()
        if _in_progress(svc):
            return True
        # Settled without being served is an operation that failed: it did not take effect.
        return svc.served == served_split(svc.traffic, svc.latest_ready)


def _in_progress(svc: ServiceView) -> bool:
    """A change to the service is still being acted on."""
    return svc.reconciling or svc.observed_generation < svc.generation


def _sole_revision(split: Split) -> str:
    """The revision ``split`` sends everything to ("" when it is shared, or LATEST)."""
    if len(split) == 1 and split[0][1] == 100 and split[0][0] != LATEST:
        return split[0][0]
    return ""
