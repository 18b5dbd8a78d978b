"""The rollback checklist, taken from the runbooks (001's チェックリスト, 002, 003, 004).

Items marked ``auto`` are ticked by the console itself when it observes the
thing (the rollout finished, health held for the window); the others the
operator ticks, or skips with a reason that goes into the history entry.
``[[services.checklist]]`` in the config replaces this list for a service.
"""

from __future__ import annotations

from console.model import ChecklistItem

PHASES = ("prepare", "execute", "verify", "after")

#: Runbook 001 "ロールバックチェックリスト", with 002's data-migration check and
#: 003/004's backup step folded in.
DEFAULT_CHECKLIST: tuple[ChecklistItem, ...] = (
    # 事前確認
    ChecklistItem(
        "decide",
        "prepare",
        "Rollback is needed (severity assessed, forward fix ruled out)",
        required=True,
    ),
    ChecklistItem("target", "prepare", "Target revision identified (last known good)", auto=True),
    ChecklistItem("notify-start", "prepare", "Team told a rollback is starting (incident channel)"),
    ChecklistItem(
        "migrations",
        "prepare",
        "Database migrations in the range checked (app rollback alone is safe)",
        required=True,
    ),
    ChecklistItem("backup", "prepare", "Backups confirmed before touching anything"),
    # ロールバック実行
    ChecklistItem("history", "execute", "Deploy history reviewed", auto=True),
    ChecklistItem("run", "execute", "Rollback executed", auto=True),
    ChecklistItem("rollout", "execute", "Rollout finished (platform reports ready)", auto=True),
    ChecklistItem("units", "execute", "All processes / pods / tasks running", auto=True),
    # 動作確認
    ChecklistItem("health", "verify", "Health checks pass for the whole verify window", auto=True),
    ChecklistItem("error-rate", "verify", "Error rate below 1%", auto=True),
    ChecklistItem("latency", "verify", "p95 latency normal (< 500 ms)", auto=True),
    ChecklistItem("api", "verify", "Main API functions checked by hand"),
    # 事後対応
    ChecklistItem("notify-done", "after", "Team told the rollback is complete"),
    ChecklistItem("postmortem", "after", "Root-cause investigation and postmortem scheduled"),
)


#: Added when the service has a [services.database] table (runbooks 000, 001, 004):
#: a verified backup before anything changes, the schema where the plan said, and
#: the integrity checks giving the same answers afterwards.
DATABASE_CHECKLIST: tuple[ChecklistItem, ...] = (
    ChecklistItem(
        "db-backup",
        "prepare",
        "Verified database backup (pg_dump -Fc, checked with pg_restore --list) before any change",
        auto=True,
        skippable=True,
    ),
    ChecklistItem("db-schema", "execute", "Database schema at the planned revision", auto=True),
    ChecklistItem("db-checks", "verify", "Database checks run before and after", auto=True),
)


def checklist_for(
    custom: tuple[ChecklistItem, ...] | None, *, database: bool = False
) -> tuple[ChecklistItem, ...]:
    """The service's checklist: its own from the config, or the runbook default.

    ``database``: the service has a database section, so its items are added
    (to the default list, or to a custom one that does not already name them).
    """
    items = custom if custom is not None else DEFAULT_CHECKLIST
    if not database:
        return items
    known = {item.id for item in items}
    extra = tuple(item for item in DATABASE_CHECKLIST if item.id not in known)
    if not extra:
        return items
    # The backup belongs with the prepare items, the others after their phase's items.
    ordered: list[ChecklistItem] = []
    for phase in PHASES:
        ordered.extend(item for item in items if item.phase == phase)
        ordered.extend(item for item in extra if item.phase == phase)
    ordered.extend(item for item in items if item.phase not in PHASES)
    return tuple(ordered)
