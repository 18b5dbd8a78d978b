"""A plan as the operator reads and copies it: every step with the command it runs.

The preview, the copied commands and the script ``w`` writes
(``console.plan_script``) take the steps from one place, ``plan_lines``,
redacted with the flow's redactor: what is shown is what is copied.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.content import Content

from console.model import Plan
from console.plan_script import plan_lines
from console.textsafe import printable


def plan_preview(plan: Plan, redact: Callable[[str], str] = str) -> Content:
    """Summary, warnings and every step with its command, as the operator will read it."""
    lines = [Content.from_markup("[b]$summary[/b]", summary=printable(redact(plan.summary)))]
    for warning in plan.warnings:
        lines.append(
            Content.from_markup("[b $text-warning]warning:[/] $w", w=printable(redact(warning)))
        )
    for number, (title, command) in enumerate(plan_lines(plan, redact), 1):
        lines.append(Content(f"{number}. {printable(title)}"))
        lines.append(Content.from_markup("   [$text-accent]$ $cmd[/]", cmd=printable(command)))
    return Content("\n").join(lines)


def plan_commands(plan: Plan, redact: Callable[[str], str] = str) -> str:
    """The plan's shell commands, one a line, with the summary as a comment."""
    lines = [f"# {redact(plan.summary)}"] + [command for _, command in plan_lines(plan, redact)]
    return "\n".join(lines) + "\n"
