"""Plain data shared by providers, signals, the flow and the screens.

Everything here is a frozen dataclass or an enum with no I/O, so providers can
translate SDK objects or raw JSON into it at the edge and every other module can
be tested without a terminal or a platform.  Times are timezone-aware UTC
``datetime`` values; durations are seconds as ``float``.

The dataclasses live in one module per concern (``platform``, ``plan``, ``signals``,
``record``, ``database``); import them from here.
"""

from __future__ import annotations

# The one clock the core reads (its own module: the first frame needs nothing else of ours).
from console.clock import utcnow as utcnow
from console.model.database import (
    BackupInfo as BackupInfo,
)
from console.model.database import (
    CheckResult as CheckResult,
)
from console.model.database import (
    DatabaseStatus as DatabaseStatus,
)
from console.model.database import (
    DataLoss as DataLoss,
)
from console.model.database import (
    MigrationRevision as MigrationRevision,
)
from console.model.database import (
    SchemaTarget as SchemaTarget,
)
from console.model.database import (
    format_bytes as format_bytes,
)
from console.model.plan import (
    Action as Action,
)
from console.model.plan import (
    Difference as Difference,
)
from console.model.plan import (
    Plan as Plan,
)
from console.model.plan import (
    ProgressEvent as ProgressEvent,
)
from console.model.plan import (
    ProgressStatus as ProgressStatus,
)
from console.model.plan import (
    ReadyResult as ReadyResult,
)
from console.model.plan import (
    Step as Step,
)
from console.model.plan import (
    StepKind as StepKind,
)
from console.model.platform import (
    PlatformEvent as PlatformEvent,
)
from console.model.platform import (
    RestorePoint as RestorePoint,
)
from console.model.platform import (
    Revision as Revision,
)
from console.model.platform import (
    Snapshot as Snapshot,
)
from console.model.platform import (
    TrafficTarget as TrafficTarget,
)
from console.model.platform import (
    Unit as Unit,
)
from console.model.platform import (
    live_units as live_units,
)
from console.model.record import (
    ChecklistItem as ChecklistItem,
)
from console.model.record import (
    ChecklistMark as ChecklistMark,
)
from console.model.record import (
    CheckPair as CheckPair,
)
from console.model.record import (
    HistoryRecord as HistoryRecord,
)
from console.model.record import (
    ItemState as ItemState,
)
from console.model.record import (
    Outcome as Outcome,
)
from console.model.record import (
    TimelineEvent as TimelineEvent,
)
from console.model.record import (
    Verification as Verification,
)
from console.model.signals import (
    Assessment as Assessment,
)
from console.model.signals import (
    HealthResult as HealthResult,
)
from console.model.signals import (
    Sample as Sample,
)
from console.model.signals import (
    Severity as Severity,
)

__all__ = [
    "Action",
    "Assessment",
    "BackupInfo",
    "CheckPair",
    "CheckResult",
    "ChecklistItem",
    "ChecklistMark",
    "DataLoss",
    "DatabaseStatus",
    "Difference",
    "HealthResult",
    "HistoryRecord",
    "ItemState",
    "MigrationRevision",
    "Outcome",
    "Plan",
    "PlatformEvent",
    "ProgressEvent",
    "ProgressStatus",
    "ReadyResult",
    "RestorePoint",
    "Revision",
    "Sample",
    "SchemaTarget",
    "Severity",
    "Snapshot",
    "Step",
    "StepKind",
    "TimelineEvent",
    "TrafficTarget",
    "Unit",
    "Verification",
    "format_bytes",
    "utcnow",
]
