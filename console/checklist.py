"""The rollback checklist, taken from the runbooks (001's チェックリスト, 002, 003, 004).

Items marked ``auto`` are ticked by the console itself when it observes the
thing (the rollout finished, health held for the window); the others the
operator ticks, or skips with a reason that goes into the history entry.
``[[services.checklist]]`` in the config replaces this list for a service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.model import ChecklistItem, ItemState, Snapshot, Verification

if TYPE_CHECKING:
    from console.config import ServiceConfig
    from console.config.steps import CustomStep

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


def step_item(step_id: str) -> str:
    """The checklist item of the team's own step ``step_id`` (``[[services.steps]]``)."""
    return f"step-{step_id}"


def checklist_for(
    custom: tuple[ChecklistItem, ...] | None,
    *,
    database: bool = False,
    steps: tuple[CustomStep, ...] = (),
) -> tuple[ChecklistItem, ...]:
    """The service's checklist: its own from the config, or the runbook default.

    ``database``: the service has a database section, so its items are added
    (to the default list, or to a custom one that does not already name them).
    ``steps``: the service's own runbook steps, one execute item each, ticked by
    the console as each runs (``console.custom_steps``).
    """
    items = custom if custom is not None else DEFAULT_CHECKLIST
    known = {item.id for item in items}
    extra = tuple(item for item in DATABASE_CHECKLIST if database and item.id not in known)
    extra += tuple(
        ChecklistItem(step_item(s.id), "execute", f"{s.title} ({s.when} the switch)", auto=True)
        for s in steps
        if step_item(s.id) not in known
    )
    if not extra:
        return items
    # The backup belongs with the prepare items, the others after their phase's items.
    ordered: list[ChecklistItem] = []
    for phase in PHASES:
        ordered.extend(item for item in items if item.phase == phase)
        ordered.extend(item for item in extra if item.phase == phase)
    ordered.extend(item for item in items if item.phase not in PHASES)
    return tuple(ordered)


# --------------------------------------------------------------------------- what the console ticks


def verify_marks(result: Verification, service: ServiceConfig) -> list[tuple[str, ItemState, str]]:
    """The verify items (health, error rate, latency), each from its own evidence.

    A passed verification ticks all three, each noting what it saw.  Otherwise
    an item fails only on what contradicts it (health failed, the rate or p95
    over its threshold); one whose evidence was fine, or missing, stays open
    with a note saying why it is not ticked: a service whose error rate was
    fine is never recorded as "error rate failed" because health did.
    """
    th = service.thresholds
    after = result.after
    measured = after is not None and after.requests > 0 and after.error_rate is not None
    open_ = ItemState.PENDING
    not_ticked = "; not ticked: the verification did not pass"

    def judged(ok: bool, seen: str) -> tuple[ItemState, str]:
        if result.passed:
            return ItemState.DONE, seen
        return (open_, seen + not_ticked) if ok else (ItemState.FAILED, seen)

    if not service.health:
        health = (open_, "no health checks configured")
    elif result.health_held is None:
        health = (ItemState.DONE, "") if result.passed else (ItemState.FAILED, result.message)
    elif result.health_held:
        health = judged(True, f"every check passed for {result.window_s:g} s")
    else:
        health = (ItemState.FAILED, result.message)
    if measured and after is not None and after.error_rate is not None:
        rate = after.error_rate
        seen = f"{rate:.1%} of {after.requests} requests (threshold {th.ok_error_rate:.0%})"
        error_rate = judged(rate < th.ok_error_rate, seen)
    else:
        error_rate = (open_, "not measured: no error-rate data")
    if measured and after is not None and after.p95_ms is not None:
        seen = f"p95 {after.p95_ms:.0f} ms (threshold {th.ok_p95_ms:g} ms)"
        latency = judged(after.p95_ms < th.ok_p95_ms, seen)
    else:
        latency = (open_, "not measured: no latency data")
    return [("health", *health), ("error-rate", *error_rate), ("latency", *latency)]


#: Revisions a "Deploy history reviewed" note names before it says how many more there were.
SHOWN_IN_NOTE = 8


def revisions_shown(snapshot: Snapshot) -> str:
    """``revisions shown: v1.3.0 (live), v1.2.9, v1.2.8``: newest first, the live one marked."""
    current = snapshot.current.id if snapshot.current else None
    names = [
        f"{rev.version or rev.id}{' (live)' if rev.id == current else ''}"
        for rev in snapshot.revisions[:SHOWN_IN_NOTE]
    ]
    more = len(snapshot.revisions) - SHOWN_IN_NOTE
    return "revisions shown: " + ", ".join(names) + (f" and {more} more" if more > 0 else "")


# --------------------------------------------------------------------------- prepare, established


def target_note(snapshot: Snapshot) -> str | None:
    """ "v1.2.9 (previous, deployed 2026-12-05 03:01 UTC)": the default target, if there is one."""
    previous = snapshot.previous()
    if previous is None:
        return None
    when = f", deployed {previous.created:%Y-%m-%d %H:%M %Z}".rstrip() if previous.created else ""
    return f"{previous.version or previous.id} (the revision before the live one{when})"


#: The notes of the prepare items the console establishes without a database to look at.
NO_DATABASE_NOTE = "no database configured for this service: the app rollback touches no schema"
WEBHOOK_NOTE = (
    "the console sends the start message to the team webhook before the first change; "
    "the entry says whether it arrived"
)
