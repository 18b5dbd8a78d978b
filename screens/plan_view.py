"""A plan as the operator reads and copies it: every step with the command it runs."""

from __future__ import annotations

from textual.content import Content

from console.model import Plan
from console.textsafe import printable


def plan_preview(plan: Plan) -> Content:
    """Summary, warnings and every step with its command, as the operator will read it."""
    lines = [Content.from_markup("[b]$summary[/b]", summary=printable(plan.summary))]
    for warning in plan.warnings:
        lines.append(Content.from_markup("[b $text-warning]warning:[/] $w", w=printable(warning)))
    for number, step in enumerate(plan.steps, 1):
        lines.append(Content(f"{number}. {printable(step.title)}"))
        lines.append(Content.from_markup("   [$text-accent]$ $cmd[/]", cmd=printable(step.command)))
    return Content("\n").join(lines)


def plan_commands(plan: Plan) -> str:
    """The plan's shell commands, one a line, with the summary as a comment."""
    lines = [f"# {plan.summary}"] + [step.command for step in plan.steps]
    return "\n".join(lines) + "\n"
