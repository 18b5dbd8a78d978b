"""A plan as the operator reads and copies it: what changes, who would undo it, and every
step with the command it runs.

Shown in a ``PlanView`` (Target, Confirm, the actions' plan): each step's
title and command keep a hanging indent, so a command longer than the screen
continues under itself instead of at column 0, where its second half read
as another command.  The preview, the copied commands and the script ``w``
writes (``console.plan_script``) take the steps from one place,
``plan_lines``, redacted with the flow's redactor: what is shown is what is
copied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual.content import Content

from console.changes import NOTHING_DIFFERS, NOTHING_UNDOES
from console.model import Plan
from console.plan_script import plan_lines
from console.textsafe import printable
from console.widgets.hanging import HangingText, Row

#: Warnings that name lost data or a schema mismatch: shown red, not yellow.
LOUD_WARNINGS = ("DATA LOSS", "SCHEMA MISMATCH")


def plan_rows(plan: Plan, redact: Callable[[str], str] = str, *, summary: bool = True) -> list[Row]:
    """Summary (``summary``), warnings, for a rollback "What changes" and "Who will undo
    it", then every step with its command, as (prefix, body) rows."""
    rows: list[Row] = []
    if summary:
        rows.append(
            (Content(), Content.from_markup("[b]$s[/b]", s=printable(redact(plan.summary))))
        )
    for warning in plan.warnings:
        style = "$text-error" if warning.startswith(LOUD_WARNINGS) else "$text-warning"
        rows.append(
            (
                Content.from_markup(f"[b {style}]warning:[/] "),
                Content(printable(redact(warning))),
            )
        )
    if plan.action == "rollback":  # an action (a restart) changes no revision
        changes = [redact(change.line()) for change in plan.changes]
        rows += _section("What changes", changes, NOTHING_DIFFERS)
        rows += _section("Who will undo it", [redact(u) for u in plan.undone_by], NOTHING_UNDOES)
        rows.append((Content(), Content.from_markup("[b $text-accent]Steps[/]")))
    for number, (title, command) in enumerate(plan_lines(plan, redact), 1):
        rows.append((Content(f"{number}. "), Content(printable(title))))
        rows.append(
            (
                Content.from_markup("   [$text-accent]$ [/]"),
                Content.from_markup("[$text-accent]$cmd[/]", cmd=printable(command)),
            )
        )
    return rows


def _section(title: str, items: Sequence[str], empty: str) -> list[Row]:
    """A heading and one ``- `` row an item; the heading and ``empty`` on one row if none."""
    if not items:
        return [(Content(), Content.from_markup("[b $text-accent]$t:[/] $e", t=title, e=empty))]
    heading = (Content(), Content.from_markup("[b $text-accent]$t[/]", t=title))
    return [heading, *((Content("- "), Content(printable(item))) for item in items)]


def plan_preview(plan: Plan, redact: Callable[[str], str] = str) -> Sequence[Row]:
    """Everything ``plan_rows`` shows, as the operator will read it on Target."""
    return plan_rows(plan, redact)


class PlanView(HangingText):
    """A plan (or a line such as "Asking the platform for a plan…") with hanging indents."""


def plan_commands(plan: Plan, redact: Callable[[str], str] = str) -> str:
    """The plan's shell commands, one a line, with the summary as a comment."""
    lines = [f"# {redact(plan.summary)}"] + [command for _, command in plan_lines(plan, redact)]
    return "\n".join(lines) + "\n"
