"""The "What changes" of a rollback plan: the platform's differences, the migrations crossed.

A rollback that runs yesterday's code on today's config, or drops a column
nobody mentioned, is the second worst outcome at 02:00 (issue 14).  So every
rollback plan carries, beside its steps, a short readable list of what differs
between the live revision and the target (``Plan.changes``): what the provider
compares (``SupportsDiff``: images, env, files, commits...) and what the
database side knows of the schema (the migrations a downgrade runs, or the
ones the database keeps although the target does not ship them).  The list is
shown on the Target screen, in ``rollback --dry-run``, before the terminal's
confirmation and in the history entry.

Comparing is information, never a gate: a provider that cannot read one of
the revisions gives one line saying so ("could not compare: ...") and the
rollback goes on.  Every line is redacted with the flow's redactor here, so
the journal, the screens and the entry all hold the same masked text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from console.errors import ProviderError
from console.model import Difference, Plan
from providers.base import Provider, SupportsDiff

if TYPE_CHECKING:
    from console.db_flow import DatabaseSide

#: What a rollback plan's empty lists say where they are shown (the Target screen, the CLI).
NOTHING_DIFFERS = "nothing found between the two revisions"
NOTHING_UNDOES = "nothing detected"
#: Characters of a provider error kept in the "could not compare" line.
_ERROR_CHARS = 200


def with_changes(
    plan: Plan,
    provider: Provider,
    database: DatabaseSide | None,
    redact: Callable[[str], str],
) -> Plan:
    """``plan`` with ``changes`` filled in (blocking: the provider reads both revisions).

    Only a rollback from a known live revision is compared; an action (a
    restart) changes no revision.  ``undone_by``, set by the provider, is kept.
    """
    if plan.action != "rollback":
        return plan
    found = (*platform_changes(plan, provider), *migration_changes(plan, database))
    if not found:
        return plan
    return dataclasses.replace(plan, changes=tuple(_redacted(d, redact) for d in found))


def platform_changes(plan: Plan, provider: Provider) -> tuple[Difference, ...]:
    """What the provider says differs between ``plan``'s live revision and its target.

    What the provider's plan already says comes first (kept as it is); one
    that fails to compare gives one line saying why, never an exception: the
    list informs the operator and must not stand between them and the rollback.
    """
    live = plan.from_revision
    if live is None or not isinstance(provider, SupportsDiff):
        return plan.changes
    try:
        found = tuple(provider.differences(live, plan.to_revision))
    except ProviderError as err:
        found = (Difference(f"could not compare: {_reason(str(err)) or type(err).__name__}"),)
    except Exception as err:  # a bug in a comparison must not block a rollback at 02:00
        why = _reason(f"unexpected {type(err).__name__}: {err}")
        found = (Difference(f"could not compare: {why}"),)
    return (*plan.changes, *(d for d in found if d not in plan.changes))


def _reason(text: str) -> str:
    """``text`` on one line, at most ``_ERROR_CHARS`` long."""
    line = " ".join(text.split())
    return line if len(line) <= _ERROR_CHARS else line[: _ERROR_CHARS - 1] + "…"


def migration_changes(plan: Plan, database: DatabaseSide | None) -> tuple[Difference, ...]:
    """The schema side, one ``migration ...`` line each, as the database part planned it.

    A downgrade names every revision whose ``downgrade()`` runs and what it
    drops; a stamp, the recorded revision it rewrites; with no schema step,
    the migrations the database keeps although the target release does not
    ship them (known when release folders hold their Alembic project).
    """
    if database is None:
        return ()
    lines: list[Difference] = []
    schema = database.schema
    if schema is not None and schema.steps:
        mode = str(schema.steps[0].params.get("mode", ""))
        if mode == "stamp":
            lines.append(
                Difference(
                    "migration version",
                    schema.from_revision,
                    schema.to_revision,
                    "stamp only: no migration runs",
                )
            )
        elif mode == "command":
            steps = int(schema.steps[0].params.get("steps", 0))
            lines.append(
                Difference(
                    f"migrations: {steps} step(s) down with the configured down_command",
                    note="what they undo cannot be read here",
                )
            )
        for rev in schema.crossed:
            drops = [loss.label for loss in schema.losses if loss.revision == rev.id]
            lines.append(
                Difference(
                    _migration(rev.id, rev.message),
                    "applied",
                    "downgraded",
                    f"drops {', '.join(drops)}" if drops else "",
                )
            )
    for rev in database.left_applied:
        lines.append(
            Difference(
                _migration(rev.id, rev.message),
                note=f"stays applied: {plan.to_revision.version} does not ship it; "
                "no schema change planned",
            )
        )
    return tuple(lines)


def _migration(revision: str, message: str) -> str:
    return f"migration {revision} {message}".rstrip()


def _redacted(diff: Difference, redact: Callable[[str], str]) -> Difference:
    return Difference(redact(diff.what), redact(diff.live), redact(diff.target), redact(diff.note))
