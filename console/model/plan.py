"""Plans and their progress: typed steps, what changes, actions, events, readiness."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from console.clock import utcnow
from console.model.platform import Revision

# --------------------------------------------------------------------------- plans and progress


class StepKind(enum.StrEnum):
    """What a step touches, so the flow can order and describe it."""

    BACKUP = "backup"
    SWITCH = "switch"
    COMMAND = "command"
    RESTART = "restart"
    RELOAD = "reload"
    WAIT = "wait"
    MIGRATION = "migration"


@dataclass(frozen=True)
class Step:
    """One step of a plan: the sentence an operator reads, and what runs, as data.

    ``op`` is a namespaced verb owned by one part of the plan (``host.symlink``,
    ``k8s.undo``, ``ecs.update_service``, ``db.backup``...) and ``params`` its
    arguments: JSON values only, never a secret, journaled as they are, so
    that resume can ask the op's owner whether the step took effect.
    ``command`` is the shell command an operator could type instead, rendered
    from op and params by the owning part when the plan is made: what is shown
    is what runs, and nothing ever parses it back.
    """

    title: str
    command: str
    kind: StepKind = StepKind.COMMAND
    #: Only for a step read from a journal of the previous version (no ``op``): its argv.
    argv: tuple[str, ...] = ()
    timeout_s: float = 60.0
    op: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    #: The operator confirms again right before this step, with what the steps before it
    #: found in view (a database switch after the restored database's checks).  Honoured
    #: by the runner (``console.runner``: a ``confirm`` gate) for any engine's step.
    confirm_before: bool = False


@dataclass(frozen=True)
class Difference:
    """One line of "What changes" between the live revision and the rollback target.

    Short and readable, never a raw manifest: ``what`` names the thing
    ("image web", "env LOG_LEVEL", "secret DB_PASSWORD", "ConfigMap app-config",
    "files", "commits", "migration"), ``live`` and ``target`` are its value now
    and after the rollback ("" when absent there), ``note`` says what the
    operator must know about it ("not rolled back with the Deployment;
    modified 2026-12-05 22:41, after v1.2.9 was created").  Secret values are
    never put here: a secret is named, with where it comes from.
    """

    what: str
    live: str = ""
    target: str = ""
    note: str = ""

    def line(self) -> str:
        """``image web: app:1.3.0 → app:1.2.9 (note)`` as every screen and the entry print it."""
        if self.live or self.target:
            change = f"{self.live or '(none)'} → {self.target or '(none)'}"
            text = f"{self.what}: {change}"
        else:
            text = self.what
        return f"{text} ({self.note})" if self.note else text


@dataclass(frozen=True)
class Plan:
    """An ordered, validated rollback of one service from one revision to another.

    A plan is made of parts (the platform switch, the database, and later
    traffic, the CDN, GitOps, custom steps), each contributing steps whose ops
    it owns; one runner executes any plan (``console.runner``).
    """

    service: str
    environment: str
    provider: str
    from_revision: Revision | None
    to_revision: Revision
    steps: tuple[Step, ...]
    warnings: tuple[str, ...] = ()
    dry_run: bool = False
    #: "rollback", or the id of a provider ``Action`` (restart, restore-manifest, ...).
    action: str = "rollback"
    #: What the action acts on when it is not a revision (a manifest file, an image tag).
    argument: str = ""
    #: Only for a plan read from a journal of the previous version (steps without
    #: ``op``): what it journaled for resume (``{"resume": ...}``), read by the providers'
    #: legacy modules.  Plans made now carry everything in their steps' params.
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    #: What a part worked out at plan time and needs again when a step runs, but that
    #: is too large or too private for the journal (a copied task definition with its
    #: environment): read-only, never journaled.  After a crash the plan is made anew.
    context: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False
    )
    #: "What changes": the live revision against the target, one readable line each
    #: (``SupportsDiff``; the database's migrations crossed too).  Shown on Target, in a
    #: dry run and in the entry; journaled with the plan.
    changes: tuple[Difference, ...] = ()
    #: "Who will undo it": what would re-apply the broken version (a GitOps controller,
    #: the next ``helm upgrade``, pinned traffic) and what the plan does about it.
    undone_by: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """The sentence every confirmation shows."""
        frm = self.from_revision.version if self.from_revision else "(unknown)"
        if self.action != "rollback":
            what = f" {self.argument}" if self.argument else ""
            return f"{self.action}{what} on {self.service} ({self.environment}), now at {frm}"
        return (
            f"Roll back {self.service} ({self.environment}) "
            f"from {frm} to {self.to_revision.version}"
        )


class ProgressStatus(enum.StrEnum):
    STARTED = "started"
    OUTPUT = "output"
    FINISHED = "finished"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Action:
    """Something a provider can do besides "roll back to a revision".

    ``argument`` says what the operator must choose: "" (nothing), "revision",
    "file" (a saved manifest, a backup), "image" (an image tag), "snapshot".
    ``choices`` lists what may be chosen, when the provider knows.
    """

    id: str
    title: str
    description: str
    argument: str = ""
    choices: tuple[str, ...] = ()
    dangerous: bool = False
    #: For ``argument = "time"`` (point-in-time recovery): the earliest and latest moment
    #: the platform can restore to, when it could tell (the time screen shows them).
    earliest: datetime | None = None
    latest: datetime | None = None


@dataclass(frozen=True)
class ProgressEvent:
    """One thing that happened while a plan ran; the timeline is made of these."""

    step: int
    status: ProgressStatus
    message: str
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class ReadyResult:
    """What ``wait_ready`` observed: ready or not, and why."""

    ready: bool
    message: str
    waited_s: float = 0.0
