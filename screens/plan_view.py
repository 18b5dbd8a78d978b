"""A plan as the operator reads and copies it: what changes, who would undo it, and every
step with the command it runs."""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content

from console.changes import NOTHING_DIFFERS, NOTHING_UNDOES
from console.model import Plan
from console.textsafe import printable


def plan_preview(plan: Plan) -> Content:
    """Summary, warnings, for a rollback "What changes" and "Who will undo it", then every
    step with its command, as the operator will read it."""
    lines = [Content.from_markup("[b]$summary[/b]", summary=printable(plan.summary))]
    for warning in plan.warnings:
        lines.append(Content.from_markup("[b $text-warning]warning:[/] $w", w=printable(warning)))
    if plan.action == "rollback":  # an action (a restart) changes no revision
        changes = [change.line() for change in plan.changes]
        lines += _section("What changes", changes, NOTHING_DIFFERS)
        lines += _section("Who will undo it", plan.undone_by, NOTHING_UNDOES)
        lines.append(Content.from_markup("[b $text-accent]Steps[/]"))
    for number, step in enumerate(plan.steps, 1):
        lines.append(Content(f"{number}. {printable(step.title)}"))
        lines.append(Content.from_markup("   [$text-accent]$ $cmd[/]", cmd=printable(step.command)))
    return Content("\n").join(lines)


def _section(title: str, items: Sequence[str], empty: str) -> list[Content]:
    """A heading and one ``- `` line an item; the heading and ``empty`` on one line if none."""
    if not items:
        return [Content.from_markup("[b $text-accent]$t:[/] $e", t=title, e=empty)]
    heading = Content.from_markup("[b $text-accent]$t[/]", t=title)
    return [heading, *(Content("- " + printable(item)) for item in items)]


def plan_commands(plan: Plan) -> str:
    """The plan's shell commands, one a line, with the summary as a comment."""
    lines = [f"# {plan.summary}"] + [step.command for step in plan.steps]
    return "\n".join(lines) + "\n"
