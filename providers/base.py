"""The provider protocol: the one seam between the console and a platform.

Every platform (a VM host, Kubernetes, ECS, Cloud Run) is an adapter that
speaks only in ``console.model`` types.  The methods are *blocking* — they do
network or process I/O — and the app runs them in worker threads, never on the
UI thread.  They raise only the ``ProviderError`` subclasses below, each with a
one-line message that names the thing that went wrong, so the CLI and the
screens can show it as is (and the CLI can map it to an exit code).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from console.errors import (
    CommandFailed,
    Conflict,
    Forbidden,
    InvalidTarget,
    LockHeld,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    TimedOut,
    Unavailable,
)
from console.model import (
    Action,
    Difference,
    Plan,
    ProgressEvent,
    ReadyResult,
    Revision,
    Snapshot,
    Step,
)

__all__ = [
    "CommandFailed",
    "Conflict",
    "Forbidden",
    "InvalidTarget",
    "LockHeld",
    "NotFound",
    "OutcomeUnknown",
    "Part",
    "Provider",
    "ProviderError",
    "SupportsActions",
    "SupportsDetails",
    "SupportsDiff",
    "SupportsLogSource",
    "SupportsLogs",
    "SupportsParts",
    "SupportsReleaseFiles",
    "SupportsRemoteLock",
    "SupportsResumeCheck",
    "SupportsUndo",
    "TimedOut",
    "Unavailable",
]


@runtime_checkable
class Provider(Protocol):
    """What the console needs from a platform.

    Implementations are constructed from their ``ServiceConfig`` and must not
    touch the network in ``__init__`` (the dashboard paints before any I/O).
    """

    #: Short platform name shown on screens ("host", "kubernetes", ...).
    name: str

    def snapshot(self) -> Snapshot:
        """Read the live state: current revision, history newest first, units, traffic.

        Raises ``NotFound`` if the service itself does not exist, ``Unavailable``
        or ``TimedOut`` if the platform cannot be reached.
        """
        ...

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        """Validate ``target`` (a revision id or version; None = previous) and plan the steps.

        Raises ``NotFound`` for an unknown revision and ``InvalidTarget`` when the
        target is already current or the service cannot be rolled back now.
        Every ``Step`` carries the equivalent shell command.
        """
        ...

    def execute(self, plan: Plan) -> Iterator[ProgressEvent]:
        """Perform the plan's steps in order, yielding progress as it happens.

        A step that fails yields a FAILED event and raises the matching
        ``ProviderError``; no later step runs.  Success is only reported for
        what was observed.
        """
        ...

    def wait_ready(
        self,
        plan: Plan,
        timeout_s: float,
        on_progress: Callable[[str], None] | None = None,
    ) -> ReadyResult:
        """Poll until the platform says the rollout to ``plan.to_revision`` finished.

        Returns ``ReadyResult(ready=False, ...)`` with the reason when the time
        limit passes; never raises for "not ready yet".  ``on_progress`` gets
        each new "waiting" line ("2 of 3 updated replicas are available..."),
        for the screen; the result is what the journal keeps.
        """
        ...


@runtime_checkable
class SupportsActions(Protocol):
    """A provider with actions besides rolling back to a revision.

    Examples: Kubernetes ``restart`` and ``restore-manifest``, ECS
    ``force-new-deployment`` and ``rollback-image``, Cloud Run ``gradual``.
    The plan an action returns runs through the same ``execute`` and
    ``wait_ready`` (and the same confirm, journal and history) as a rollback.
    """

    def actions(self) -> tuple[Action, ...]:
        """What this service offers now (may read the platform; blocking)."""
        ...

    def plan_action(
        self,
        action: str,
        argument: str | None,
        *,
        dry_run: bool = False,
        resume_from: Plan | None = None,
    ) -> Plan:
        """Validate and plan ``action``; ``NotFound``/``InvalidTarget`` for bad input.

        ``resume_from``: the interrupted plan this one replaces (resume); its
        steps' params say what it started from.  Ignored by an action with no use
        for it.
        """
        ...


@runtime_checkable
class SupportsRemoteLock(Protocol):
    """A provider that can take a lock on the platform itself, seen by every bastion.

    Kubernetes writes an annotation on the Deployment (guarded by its
    resourceVersion), ECS a tag on the service.  The flow takes it after the
    local lock and before the first step, and releases it after the last.
    """

    def acquire_lock(self, operator: str, host: str, ttl_s: float) -> str:
        """Take the lock; return a warning ("" if none) such as "took over an expired lock".

        Raises ``LockHeld`` (exit 3) naming the holder while an unexpired lock exists.
        """
        ...

    def release_lock(self, operator: str, host: str) -> None:
        """Release the lock if this operator on this host still holds it."""
        ...


@runtime_checkable
class SupportsDiff(Protocol):
    """A provider that can say what differs between two of its revisions ("What changes").

    Blocking (platform reads).  Raises ``ProviderError`` when a revision cannot be
    read; the flow then says "could not compare: ..." instead of a list.  Secret
    values never appear: secrets are named with their source only.
    """

    def differences(self, live: Revision, target: Revision) -> tuple[Difference, ...]: ...


@runtime_checkable
class SupportsLogs(Protocol):
    """A provider that can show a unit's recent log lines (``kubectl logs --tail``)."""

    def logs(self, unit: str, lines: int = 50) -> tuple[str, ...]:
        """The last ``lines`` lines of ``unit`` (a pod, a task); ``NotFound`` if it is gone."""
        ...


@runtime_checkable
class SupportsLogSource(Protocol):
    """A provider whose logs come from somewhere worth naming (a file, ``journalctl -u``)."""

    def log_source(self, unit: str) -> str:
        """Where ``logs(unit)`` reads from, in words ("" when nothing is configured)."""
        ...


@runtime_checkable
class SupportsDetails(Protocol):
    """A provider with facts too costly to read on every poll (the host's processes, disk).

    The details screen (``e``) asks for them in a worker when it opens and shows
    them below the snapshot's own ``facts``.
    """

    def details(self) -> tuple[tuple[str, str], ...]:
        """``(label, value)`` facts read now (blocking); a fact that cannot be read says why."""
        ...


@runtime_checkable
class SupportsResumeCheck(Protocol):
    """A provider that can tell, from the live platform, whether a plan's switch took effect.

    Resume needs this when "the current revision is the target" is not the
    question the platform can answer: a Kubernetes rollback renumbers the
    target ReplicaSet (revision 2 comes back as 5), an ECS image rollback
    registers a revision that did not exist when the plan was journaled, a
    Cloud Run gradual rollback may have stopped half-way.
    """

    def switch_took_effect(self, plan: Plan) -> bool | None:
        """True when the live state is what ``plan``'s switch leads to, False when it is not.

        None when this provider cannot tell for this kind of plan; the flow then
        falls back to the journal (was the switch step seen finished?) and to
        comparing the current revision's id with the target's.
        """
        ...


@runtime_checkable
class Part(Protocol):
    """One concern of a plan: a platform's switch, the database, traffic, the CDN, ...

    A part owns a set of ops (``Step.op``, a namespaced verb such as
    ``host.symlink`` or ``k8s.undo``): it puts steps with those ops into plans,
    with the command rendered from their params; it runs them; and on resume it
    says, from the live platform, whether one took effect.  The flow's step
    runner (``console.runner``) finds each step's owner by its op, so a new
    capability is a new part, not a new branch in the flow.  Blocking: the
    runner is called from a worker thread.
    """

    #: The ops this part runs.
    ops: frozenset[str]

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        """Perform ``step``: yield output lines as they come, return the line saying it finished.

        Raises the ``ProviderError`` that fits; ``OutcomeUnknown`` when a change
        was sent and whether it took effect could not be read back.  Everything
        it needs is in ``step.params`` (and, read-only, ``plan.context``).
        """
        ...

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        """Whether ``step``'s change is live now, read from the platform; never changes anything.

        True: it took effect (resume does not run it again); False: it did not
        (resume runs it, or plans anew); None: this op cannot be read back (a
        command with no visible effect), and resume falls back on the journal.
        """
        ...


@runtime_checkable
class SupportsUndo(Protocol):
    """A part whose steps can be undone when a later step of the plan fails.

    The team's own steps (``[[services.steps]]``: maintenance mode on, a flag
    turned off) each have an ``undo``; a platform's switch has none (a failed
    rollback is reported as it is, never "undone" by guesswork).
    """

    def undo_completed(self, plan: Plan) -> Generator[str, None, None]:
        """Undo the steps of this part in effect now, latest first: one line each as it goes.

        Called by the step runner after a step of ``plan`` failed, before the failure
        is reported.  Records each result itself; never raises a ``ProviderError``.
        """
        ...


@runtime_checkable
class SupportsParts(Protocol):
    """A provider whose plans are made of typed steps run by the flow's step runner."""

    def parts(self) -> tuple[Part, ...]:
        """The parts that own the ops of this provider's steps (built once; no I/O)."""
        ...


@runtime_checkable
class SupportsReleaseFiles(Protocol):
    """A provider whose releases are folders on this machine (the host's symlink strategy).

    The database part reads a release's own migration scripts from there (the
    schema each release expects), without knowing which provider it is.
    """

    def release_folder(self, revision_id: str) -> Path | None:
        """The folder holding release ``revision_id``; None when releases are not folders."""
        ...
