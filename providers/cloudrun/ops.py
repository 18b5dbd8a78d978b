"""The Cloud Run steps as data: their ops, their params, and the command each one shows.

``cloudrun.set_traffic`` sets the service's traffic.  Its params:

* ``traffic``: the entries to send, in order: the split (``{"revision": name,
  "percent": p}`` or ``{"latest": true, "percent": p}``) and every tag kept
  where it is at 0% (``{"revision": name, "percent": 0, "tag": "prev"}``);
* ``expect``: the traffic the step must find before it changes anything (the
  live traffic when the plan was made, or what the step before it set), so a
  change made by someone else in between is a ``Conflict``, never overwritten;
* ``restore`` (gradual rollbacks only): the traffic from before the first step,
  which a failed later step puts back.  A plan made again on resume keeps the
  interrupted plan's, so it is always where the traffic was before the incident's
  first plan.

``cloudrun.pitr_env`` (``providers.cloudrun.pitr``) makes a new revision whose
environment points at a restored database; its params carry ``traffic`` and
``expect`` as above (what the service serves once the revision is rolled out).

``cloudrun.gate`` watches health and error rate between the steps of a gradual
rollback: ``revision`` and ``percent`` (what now serves how much),
``duration_s``, ``number`` of ``total``, and ``expect`` / ``restore`` as above
(a failing gate puts ``restore`` back when the traffic is still ``expect``).

The command an operator could type instead is rendered here from the params,
when the plan is made; nothing reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from console.model import Plan, Step
from providers import gate
from providers.base import ProviderError
from providers.cloudrun.client import CloudRunClient
from providers.cloudrun.traffic import (
    LATEST,
    Route,
    Split,
    params_of,
    routes_of,
    split_of,
    split_sent,
)

SET_TRAFFIC = "cloudrun.set_traffic"
GATE = "cloudrun.gate"
OPS = frozenset({SET_TRAFFIC, GATE})
#: The new revision of a point-in-time recovery (``providers.cloudrun.pitr``): its params
#: hold a traffic change too (``traffic``, ``expect``), which the wait reads.
PITR_ENV = "cloudrun.pitr_env"

#: The actions besides a plain rollback (``SupportsActions``).
GRADUAL = "gradual"
TO_LATEST = "to-latest"


def _routes(step: Step, key: str) -> tuple[Route, ...]:
    value = step.params.get(key)
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ProviderError(f"step {step.title!r}: its params have no {key!r} traffic list")
    return routes_of(value)


@dataclass(frozen=True)
class TrafficChange:
    """A ``cloudrun.set_traffic`` step's params, typed."""

    traffic: tuple[Route, ...]
    expect: tuple[Route, ...]
    restore: tuple[Route, ...] | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "traffic": params_of(self.traffic),
            "expect": params_of(self.expect),
        }
        if self.restore is not None:
            params["restore"] = params_of(self.restore)
        return params

    @classmethod
    def of(cls, step: Step) -> TrafficChange:
        restore = _routes(step, "restore") if "restore" in step.params else None
        return cls(_routes(step, "traffic"), _routes(step, "expect"), restore)

    @property
    def split(self) -> Split:
        """What ``--to-revisions`` sends, in the plan's order."""
        return split_sent(self.traffic)


@dataclass(frozen=True)
class GateCheck(gate.GateCheck[Route]):
    """A ``cloudrun.gate`` step's params, typed (``providers.gate.GateCheck``): its
    ``target`` is the revision, held under ``revision`` in the params."""

    target_key: ClassVar[str] = "revision"

    @classmethod
    def read_traffic(cls, step: Step, key: str) -> tuple[Route, ...]:
        return _routes(step, key)

    @classmethod
    def traffic_params(cls, traffic: Sequence[Route]) -> list[dict[str, Any]]:
        return params_of(traffic)


def set_traffic_command(client: CloudRunClient, change: TrafficChange) -> str:
    """``gcloud run services update-traffic ... --to-revisions a=10,b=90`` (all LATEST:
    ``--to-latest``); gcloud keeps the tags where they are, as the step does."""
    split = change.split
    return client.gcloud(None if split == [(LATEST, 100)] else split)


def restore_command(client: CloudRunClient, restore: Sequence[Route]) -> str:
    """The command that puts ``restore`` back (tags aside: they never moved)."""
    return client.gcloud(split_of(restore))


def gate_command(client: CloudRunClient, gate: GateCheck) -> str:
    return (
        f"# watch health and error rate for {gate.duration_s:g} s; "
        f"if the gate fails: {restore_command(client, gate.restore)}"
    )


def last_change(plan: Plan) -> TrafficChange | None:
    """The plan's last traffic change: what the service serves once the plan is done."""
    for step in reversed(plan.steps):
        if step.op in (SET_TRAFFIC, PITR_ENV):
            return TrafficChange.of(step)
    return None


def final_split(plan: Plan) -> Split | None:
    """The split ``plan`` leaves the service with: its last traffic step's.

    A plan journaled before steps were typed (no ``op``) is read by what every Cloud
    Run plan ends with: its target at 100% (LATEST for ``to-latest``).
    """
    change = last_change(plan)
    if change is not None:
        return change.split
    if any(step.op for step in plan.steps):
        return None
    if plan.action == TO_LATEST:
        return [(LATEST, 100)]
    if plan.action in ("rollback", GRADUAL):
        return [(plan.to_revision.id, 100)]
    return None


def started_from(plan: Plan) -> tuple[Route, ...] | None:
    """The traffic from before ``plan`` (or the plan it resumed) began: what a failure restores.

    A typed plan holds it in its first traffic step's params; a plan journaled before
    steps were typed (no ``op``) held it in ``data["resume"]["traffic"]``, and is read
    there so that such an interrupted rollback still resumes as it would have.
    """
    for step in plan.steps:
        if step.op == SET_TRAFFIC:
            change = TrafficChange.of(step)
            return change.restore if change.restore is not None else change.expect
    legacy = plan.data.get("resume")
    traffic = legacy.get("traffic") if isinstance(legacy, Mapping) else None
    if isinstance(traffic, list) and traffic and all(isinstance(t, Mapping) for t in traffic):
        return routes_of(traffic)
    return None
