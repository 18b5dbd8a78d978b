"""The host's own commands (restart, reload and its configuration test) as ``host.run`` steps.

Each runs as an argv without a shell, in a process group of its own, output
streamed line by line, within its time limit (``console.process``): a
command only "finished" when it exited 0.  What it changed cannot be read
back (a restart leaves no trace but new processes), so ``took_effect`` says
None and resume goes by the journal.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator, Sequence
from pathlib import Path

from console.model import Plan, Step, StepKind
from console.process import run_checked
from providers.base import CommandFailed

OP = "host.run"
#: A ``host.run`` step's ``kind`` param -> the kind of step it is.
KINDS = {
    "restart": StepKind.RESTART,
    "reload": StepKind.RELOAD,
    "reload_check": StepKind.RELOAD,
}


def command_step(
    title: str, argv: Sequence[str], kind: str, timeout_s: float, *, shown: str = ""
) -> Step:
    """A ``host.run`` step; its command is the argv as a shell would take it."""
    params = {"argv": list(argv), "kind": kind, "timeout_s": timeout_s}
    return Step(
        title=title,
        command=shown or shlex.join(argv),
        kind=KINDS[kind],
        timeout_s=timeout_s,
        op=OP,
        params=params,
    )


class CommandPart:
    """Runs ``host.run`` steps in the host's working folder."""

    ops = frozenset({OP})

    def __init__(self, workdir: Path | None) -> None:
        self.workdir = workdir

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        argv = [str(arg) for arg in step.params.get("argv") or ()]
        if not argv:
            raise CommandFailed(f"step {step.title!r} has no command to run")
        timeout = float(step.params.get("timeout_s", step.timeout_s))
        return (
            yield from run_checked(argv, shown=step.command, timeout_s=timeout, cwd=self.workdir)
        )

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        return None
