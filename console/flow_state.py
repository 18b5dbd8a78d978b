"""What one rollback flow holds: the fields every part of ``RollbackFlow`` reads and writes.

``RollbackFlow`` (``console.flow``) is assembled from small parts, one
concern a module: its locks (``console.flow_locks``), resume
(``console.flow_resume``) and the record (``console.flow_record``).  They all
build on this dataclass, so each knows the flow's state by its declared type;
the few methods one part calls on another are declared here too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from console.config import Config, ServiceConfig
from console.incident import Incident
from console.lock import ServiceLock
from console.model import (
    HealthResult,
    Plan,
    ProgressEvent,
    ReadyResult,
    Revision,
    SchemaTarget,
    Snapshot,
)
from console.notify import WebhookNotifier
from console.resume import JournalState
from console.signals.base import ErrorRateSource
from providers.base import Part, Provider

if TYPE_CHECKING:
    from console.cdn_flow import CdnSide
    from console.custom_steps import CustomSteps
    from console.db_flow import DatabaseSide
    from console.runner import Confirm

#: Lines of a step's output the record keeps: the first and the last (see ``_log_output``).
OUTPUT_HEAD = 20
OUTPUT_TAIL = 20
#: Characters of one output line the record keeps.
OUTPUT_LINE_CHARS = 500


@dataclass
class StepOutput:
    """A step's output as the record keeps it: how many lines, and the last ones."""

    lines: int = 0
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=OUTPUT_TAIL))


def shorten_line(line: str) -> str:
    """One output line as the record keeps it: long ones cut, saying how long they were."""
    if len(line) <= OUTPUT_LINE_CHARS:
        return line
    return f"{line[:OUTPUT_LINE_CHARS]}… ({len(line)} characters)"


@dataclass
class FlowState:
    """One operator's rollback of one service: its config, platform, incident and progress."""

    config: Config
    service: ServiceConfig
    provider: Provider
    source: ErrorRateSource
    reason: str = ""
    operator: str = ""
    #: When the trouble was first seen (the dashboard's first unhealthy poll, or
    #: ``rollback --detected-at``), so the decision deadline and the time to recover
    #: count from there.  None: from this flow's first unhealthy assessment (see
    #: ``assess``), so the TUI's and the headless figures mean the same thing.
    detected_at: datetime | None = None
    #: An interrupted incident to continue (``console.resume``) instead of opening a new one.
    resume_state: JournalState | None = None
    #: Sends the team's start / completion messages (``console.notify``); None: per the config.
    notifier: WebhookNotifier | None = None
    #: The schema change the operator chose (``--db-*`` options, the target screen); used
    #: only when the service has a database section.  Default: none.
    schema_target: SchemaTarget = field(default_factory=SchemaTarget)
    #: Masks secrets in every text this flow shows or writes: ``config.redactor`` (every
    #: URL credential and ``*_env`` value of the config, the DSN and the webhook included).
    redact: Callable[[str], str] = field(init=False)
    incident: Incident = field(init=False)
    #: The database half of the rollback (``console.db_flow``); None without a database.
    database: DatabaseSide | None = field(init=False, default=None)
    #: The team's own runbook steps (``console.custom_steps``); None without any.
    custom: CustomSteps | None = field(init=False, default=None)
    #: The CDN invalidated after the switch (``console.cdn_flow``); None without ``[services.cdn]``.
    cdn: CdnSide | None = field(init=False, default=None)
    snapshot: Snapshot | None = field(init=False, default=None)
    health: tuple[HealthResult, ...] = field(init=False, default=())
    executed: bool = field(init=False, default=False)
    #: Message kinds this flow sent (or is sending), so each goes out once.
    notified: set[str] = field(init=False, default_factory=set)
    execute_error: str = field(init=False, default="")
    #: Set when a change was sent and nobody can tell whether it took effect
    #: (``OutcomeUnknown``): the incident must stay open, not be recorded.
    outcome_unknown: str = field(init=False, default="")
    #: Set when resume found the interrupted switch undone on the platform (what is live).
    undone: str = field(init=False, default="")
    #: Set when the operator held the plan before a ``confirm_before`` step (a database
    #: switch after its checks): what was not done (``console.flow_hold``).
    held: str = field(init=False, default="")
    ready: ReadyResult | None = field(init=False, default=None)
    #: The live revision when this flow first read the platform: what the operator saw
    #: and decided on.  A plan to "the previous" is refused if the live one changed since.
    anchor: Revision | None = field(init=False, default=None)
    #: When the plan to execute was made, and whether its target was named explicitly
    #: (``--to``, a row the operator chose) rather than taken as "the previous".
    planned_at: datetime | None = field(init=False, default=None)
    explicit_target: bool = field(init=False, default=False)
    #: Output of the running step(s) held back from the record (see ``_log_output``).
    _output: dict[int, StepOutput] = field(init=False, default_factory=dict)
    #: The service lock, held from the first change until the entry is written (``close``).
    _lock: ServiceLock | None = field(init=False, default=None)
    #: The platform lock's holder (operator, host) while this flow holds it.
    _remote_held: tuple[str, str] | None = field(init=False, default=None)
    #: Whether ``incident.detected_at`` is settled (given, resumed, or the first
    #: unhealthy assessment), or may still move to the first unhealthy observation.
    _detected_fixed: bool = field(init=False, default=False)
    _assessed: bool = field(init=False, default=False)

    if TYPE_CHECKING:  # provided by RollbackFlow, used by its parts

        def refresh(self) -> Snapshot: ...

        def _parts(self) -> tuple[Part, ...]: ...

        def _with_database(self, plan: Plan) -> Plan: ...

        def _with_cdn(self, plan: Plan) -> Plan: ...

        def _run(
            self,
            plan: Plan,
            full: Plan,
            to_full: Callable[[ProgressEvent], ProgressEvent],
            on_event: Callable[[ProgressEvent], None] | None,
            confirm: Confirm | None = None,
        ) -> ReadyResult: ...
