"""A plan's commands as a shell script in the state dir, for a terminal that cannot copy.

``c`` on the Target screen copies the commands with OSC 52, which many
terminals (and tmux without ``set-clipboard``) silently drop; an operator on
such a terminal writes them to a file instead (``w``) and reads or copies
them from there.  The script is for reading first: its header names the
service, the environment and the move (``v1.3.0 -> v1.2.9``) and says to
review it before running, because the console runs these steps itself with
what a script does not have (the service lock, each step's result read back,
readiness and verification).

The commands are the plan preview's own lines, redacted with the same
redactor; comment lines are made single-line and printable, so a release name
holding a newline cannot end a comment and start a command.  The file is
created exclusively (never over another file, never through a symbolic link)
with mode 0600.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from console.durable import create_new, write_all
from console.model import Plan, utcnow
from console.textsafe import printable

#: How many names are tried when one is taken (two writes in the same second).
_NAME_ATTEMPTS = 20


def plan_lines(plan: Plan, redact: Callable[[str], str] = str) -> list[tuple[str, str]]:
    """``(title, command)`` of every step, redacted: what the preview shows and a copy holds."""
    return [(redact(step.title), redact(step.command)) for step in plan.steps]


def render_script(
    plan: Plan,
    redact: Callable[[str], str] = str,
    *,
    operator: str = "",
    written_at: datetime | None = None,
) -> str:
    """The script's text: a ``#!/bin/sh`` header comment, ``set -eu``, each step's command."""
    written_at = written_at or utcnow()

    def comment(text: str) -> str:
        return "# " + printable(redact(text)) if text else "#"

    frm = plan.from_revision.version if plan.from_revision else "(unknown)"
    move = f"{frm} -> {plan.to_revision.version}"
    who = f" for {operator}" if operator else ""
    lines = [
        "#!/bin/sh",
        comment(f"service: {plan.service}, environment: {plan.environment}, {move}"),
        comment(plan.summary),
        comment(
            f"Written by rollback-console{who} on {socket.gethostname()} "
            f"at {written_at:%Y-%m-%d %H:%M:%S %Z}; the plan was not run."
        ),
        comment("REVIEW BEFORE RUNNING. These are the plan's commands, in order. The console"),
        comment("runs them itself under the service lock, reads each result back, waits for"),
        comment("readiness and verifies health and error rate; this script does none of that."),
    ]
    lines += [comment(f"warning: {warning}") for warning in plan.warnings]
    lines += ["set -eu"]
    for number, (title, command) in enumerate(plan_lines(plan, redact), 1):
        lines += ["", comment(f"{number}. {title}"), command]
    return "\n".join(lines) + "\n"


def script_path(state_dir: Path, plan: Plan, at: datetime, attempt: int = 0) -> Path:
    """``STATE_DIR/plan-SERVICE@ENV-YYYYmmddTHHMMSSZ.sh`` (``-N`` before ``.sh`` on retries)."""
    env = quote(plan.environment, safe="-_.")
    suffix = f"-{attempt}" if attempt else ""
    return state_dir / f"plan-{plan.service}@{env}-{at:%Y%m%dT%H%M%SZ}{suffix}.sh"


def write_script(
    state_dir: Path,
    plan: Plan,
    redact: Callable[[str], str] = str,
    *,
    operator: str = "",
    now: datetime | None = None,
) -> Path:
    """Write the plan's script into ``state_dir`` (created 0700 if missing); its path.

    Raises ``OSError`` (with the path as its filename) when it cannot be written.
    """
    at = now or utcnow()
    text = render_script(plan, redact, operator=operator, written_at=at)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for attempt in range(_NAME_ATTEMPTS):
        path = script_path(state_dir, plan, at, attempt)
        try:
            fd = create_new(path, 0o600)
        except FileExistsError:
            continue
        try:
            write_all(fd, text.encode("utf-8"))
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        finally:
            os.close(fd)
        return path
    raise FileExistsError(f"{_NAME_ATTEMPTS} script names in {state_dir} are taken")
