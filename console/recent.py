"""Two consoles, one service: never roll back twice because both saw the same broken release.

A rollback without an explicit target goes to "the release before the live
one".  If another operator rolled the service back a moment ago, the live
release *is* their target, and "the one before" is one release further back
than anyone wanted (v1.3.0 -> v1.2.9 -> v1.2.8).  So before planning, and
again under the lock before the first change, the flow asks this module
whether someone else's rollback of the same service is running or finished
recently, from what this bastion can see:

* the service lock (``console.lock.holder``): a console on this host is in
  the middle of a rollback (switch, rollout or verification);
* the incident journals in ``state_dir``: rollbacks run from this host;
* the history file: rollbacks recorded by any bastion that shares it.

"Recently" is the service's ``verify_window_s + ready_timeout_s``: the time a
rollback may take to settle and be proven.  An explicit target (``--to``, a
revision chosen on the Target screen) is the operator's own decision and is
allowed, except over a rollback still running (the lock refuses that anyway)
or over a plan made before someone else's rollback changed what is live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from console.config import ServiceConfig
from console.history import read_entries
from console.lock import holder
from console.model import Revision
from console.resume import incidents
from providers.base import LockHeld


class RolledBackMeanwhile(LockHeld):
    """Someone else's rollback of this service is running or just finished (exit 3)."""


@dataclass(frozen=True)
class OtherRollback:
    """Another console's rollback of the same service, as this bastion can see it."""

    incident: str
    who: str
    #: When it started changing the service (or, from the history, when it ended).
    at: datetime | None
    from_version: str
    to_version: str
    to_id: str
    #: "in progress", "finished" (journal) or the history entry's outcome.
    state: str

    def describe(self) -> str:
        """``alice on bastion-1 at 02:01:07 UTC (incident web-..., v1.3.0 → v1.2.9, finished)``."""
        when = f" at {self.at.astimezone():%H:%M:%S %Z}" if self.at else ""
        span = f"{self.from_version} → {self.to_version}"
        incident = f"incident {self.incident}, " if self.incident else ""
        return f"{self.who}{when} ({incident}{span}, {self.state})"

    def leads_to(self, revision: Revision | None) -> bool:
        """Whether ``revision`` (what is live now) is what this rollback went to."""
        if revision is None:
            return False
        return revision.id == self.to_id or (
            bool(self.to_version) and revision.version == self.to_version
        )


def window_s(service: ServiceConfig) -> float:
    """How long after a rollback another one without an explicit target is refused."""
    return service.verify_window_s + service.ready_timeout_s


def others(
    state_dir: Path,
    history_file: Path,
    service: ServiceConfig,
    *,
    exclude: str,
    since: datetime,
) -> list[OtherRollback]:
    """Rollbacks of ``service`` other than incident ``exclude`` running now or started after
    ``since`` (journals), or recorded after it (history); newest information first."""
    found: list[OtherRollback] = []
    owner = holder(state_dir, service.name, service.environment)
    if owner is not None and owner.incident != exclude:
        found.append(
            OtherRollback(
                incident=owner.incident,
                who=f"{owner.operator} on {owner.host} (pid {owner.pid})",
                at=_parse(owner.since),
                from_version="?",
                to_version="?",
                to_id="",
                state="in progress",
            )
        )
    for state in incidents(state_dir, service.name):
        plan = state.plan
        if (
            state.incident_id == exclude
            or state.environment != service.environment
            or not state.executing
            or plan is None
            or plan.action != "rollback"
            or state.executed_at is None
            or state.executed_at < since
        ):
            continue
        if owner is not None and owner.incident == state.incident_id:
            continue  # already listed from the lock, as running
        where = f" on {state.host}" if state.host else ""
        found.append(
            OtherRollback(
                incident=state.incident_id,
                who=f"{state.operator or '?'}{where}",
                at=state.executed_at,
                from_version=plan.from_revision.version if plan.from_revision else "?",
                to_version=plan.to_revision.version,
                to_id=plan.to_revision.id,
                state="finished" if state.recorded else "not finished",
            )
        )
    found.extend(_from_history(history_file, service, exclude, since))
    return found


def _from_history(
    path: Path, service: ServiceConfig, exclude: str, since: datetime
) -> list[OtherRollback]:
    try:
        entries = read_entries(path)
    except OSError:
        return []  # no history yet (or not readable): the journals still count
    found = []
    for entry in entries:
        if (
            entry.id == exclude
            or entry.service != service.name
            or entry.environment != service.environment
            or entry.action
            or entry.at is None
            or entry.at.tzinfo is None
            or entry.at < since
        ):
            continue
        found.append(
            OtherRollback(
                incident=entry.id,
                who=entry.operator or "?",
                at=entry.at,
                from_version=entry.from_revision,
                to_version=entry.to_revision,
                to_id=entry.to_id,
                state=entry.outcome or "recorded",
            )
        )
    return found


def refuse_before_plan(
    state_dir: Path,
    history_file: Path,
    service: ServiceConfig,
    *,
    live: Revision | None,
    explicit: bool,
    exclude: str,
    now: datetime,
) -> None:
    """Raise ``RolledBackMeanwhile`` when planning now could roll back a second time.

    Refused: while another console's rollback runs; and, without an explicit
    target, when the live revision is what a rollback of the last
    ``window_s`` went to ("the one before" would go one further back).
    """
    since = now - timedelta(seconds=window_s(service))
    for other in others(state_dir, history_file, service, exclude=exclude, since=since):
        if other.state == "in progress":
            raise RolledBackMeanwhile(
                f"{service.label} is being rolled back by {other.describe()}: wait for it "
                "to finish (its history entry), then look again"
            )
        if not explicit and other.leads_to(live):
            raise RolledBackMeanwhile(
                f"{service.label} was rolled back by {other.describe()}; the live release "
                f"{live.version if live else '?'} is that rollback's target, so rolling back "
                "to 'the previous' would go one release further back: name the target "
                "explicitly (--to REV, or choose it on the Target screen) if that is meant"
            )


def refuse_stale_plan(
    state_dir: Path,
    history_file: Path,
    service: ServiceConfig,
    *,
    planned_at: datetime,
    explicit: bool,
    live: Revision | None,
    exclude: str,
    now: datetime,
) -> None:
    """Under the lock, before the first change: was the plan overtaken by another rollback?

    A rollback of this service that started after this plan was made changed
    what is live: the plan's "from" is no longer true and its target was
    chosen against a state that is gone, so it is refused whatever the target.
    Then the checks of ``refuse_before_plan`` against the plan's starting revision.
    """
    for other in others(state_dir, history_file, service, exclude=exclude, since=planned_at):
        if other.state == "in progress":
            continue  # the lock itself refuses a running one, naming it
        raise RolledBackMeanwhile(
            f"{service.label} was rolled back by {other.describe()} after this plan was "
            "made: nothing was changed; look at the service again and plan anew"
        )
    refuse_before_plan(
        state_dir,
        history_file,
        service,
        live=live,
        explicit=explicit,
        exclude=exclude,
        now=now,
    )


def _parse(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
