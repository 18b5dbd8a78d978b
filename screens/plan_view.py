"""A plan as the operator reads and copies it: every step with the command it runs.

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

from console.model import Plan
from console.plan_script import plan_lines
from console.textsafe import printable
from console.widgets.hanging import HangingText, Row

#: Warnings that name lost data or a schema mismatch: shown red, not yellow.
LOUD_WARNINGS = ("DATA LOSS", "SCHEMA MISMATCH")


def plan_rows(plan: Plan, redact: Callable[[str], str] = str, *, summary: bool = True) -> list[Row]:
    """Summary (``summary``), warnings and every step with its command, as (prefix, body)."""
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
    for number, (title, command) in enumerate(plan_lines(plan, redact), 1):
        rows.append((Content(f"{number}. "), Content(printable(title))))
        rows.append(
            (
                Content.from_markup("   [$text-accent]$ [/]"),
                Content.from_markup("[$text-accent]$cmd[/]", cmd=printable(command)),
            )
        )
    return rows


def plan_preview(plan: Plan, redact: Callable[[str], str] = str) -> Sequence[Row]:
    """Summary, warnings and every step with its command, as the operator will read it."""
    return plan_rows(plan, redact)


class PlanView(HangingText):
    """A plan (or a line such as "Asking the platform for a plan…") with hanging indents."""


def plan_commands(plan: Plan, redact: Callable[[str], str] = str) -> str:
    """The plan's shell commands, one a line, with the summary as a comment."""
    lines = [f"# {redact(plan.summary)}"] + [command for _, command in plan_lines(plan, redact)]
    return "\n".join(lines) + "\n"
