"""Read-only mode (``--read-only``, ``[console] read_only = true``), like k9s ``--readonly``.

For the people watching an incident: everything is visible, nothing changes a
platform.  This module is the one list of what changes something, for the
CLI's commands and the TUI's actions alike; ``tests/test_read_only.py`` walks
the parser's commands and every screen's bindings and fails when one is not
classified here, so a new command cannot slip past read-only mode.

A name missing from these lists counts as changing something (fail closed).
"""

from __future__ import annotations

import argparse

#: CLI command -> what it changes (None: it only reads).  ``--dry-run`` and ``--list``
#: never change anything (``refusal``).
COMMANDS: dict[str, str | None] = {
    "rollback": "rolls a service back",
    "action": "runs a provider action on the platform",
    "resume": "finishes an interrupted rollback on the platform",
    "db-restore": "replaces a database's contents",
    "db-backup": "runs pg_dump against the service's database and writes a backup",
    "status": None,
    "history": None,
    "check-config": None,
    "db-status": None,
    # A local sandbox of its own; its console is opened read-only too.
    "demo": None,
    # Issue 18's other parts: config files and the browser (its console stays read-only).
    "config": None,
    "serve": None,
}

#: TUI action (a binding's action without ``app.``) -> what it would change (None: reads).
ACTIONS: dict[str, str | None] = {
    # dashboard and app: these start something that changes the platform
    "rollback": "rolling back",
    "actions": "provider actions (restart, restore, image rollback, traffic)",
    "backup": "database backups",
    "restore": "database restores",
    "resume": "resuming an interrupted rollback",
    # dashboard and app: reading
    "help": None,
    "history": None,
    "request_quit": None,
    "refresh": None,
    "details": None,
    "switch_service": None,
    "only_one_service": None,
    "focus_next": None,
    "focus_previous": None,
    # viewers and dialogs
    "reload": None,
    "select_cursor": None,
    "close": None,
    "copy": None,
    "dismiss": None,
    "cancel": None,
    "answer": None,
    # the wizard: only reachable through "rollback", "actions" or "resume" above
    "continue": "the rollback wizard",
    "reassess": "the rollback wizard",
    "leave": "the rollback wizard",
    "tick": "the rollback wizard",
    "skip": "the rollback wizard",
    "back": "the rollback wizard",
    "confirm": "the rollback wizard",
    "write_script": "the rollback wizard",
    "schema": "the rollback wizard",
    "next": "the rollback wizard",
    "next_when_passed": "the rollback wizard",
    "abort": "the rollback wizard",
    "save": "the rollback wizard",
    "save_or_leave": "the rollback wizard",
    "done": "the rollback wizard",
    "message": "the rollback wizard",
    # the point-in-time screens: only reachable through "actions" / "resume"
    "shift": "the rollback wizard",
    "reset": "the rollback wizard",
    "not_now": "the rollback wizard",
}

#: What a refused TUI key or CLI command says after "read-only: ".
HOW_TO_LEAVE = "this console was started with --read-only (or [console] read_only = true)"


def action_name(action: str) -> str:
    """``app.actions`` -> ``actions``; ``answer(False)`` -> ``answer``."""
    return action.rpartition(".")[2].partition("(")[0]


def changes(action: str) -> bool:
    """Whether a TUI action changes (or leads to changing) a platform."""
    return ACTIONS.get(action_name(action), "unknown") is not None


def tui_refusal(action: str) -> str:
    """The one line a refused TUI key shows."""
    what = ACTIONS.get(action_name(action)) or action
    return f"read-only: {what} is not offered; {HOW_TO_LEAVE}"


def refusal(command: str, args: argparse.Namespace) -> str | None:
    """Why a read-only console refuses ``command`` (the line after "read-only: "); None when
    it only reads."""
    what = COMMANDS.get(command, f"`{command}` is not known to only read")
    if what is None or getattr(args, "dry_run", False) or getattr(args, "list", False):
        return None
    if command == "action" and not getattr(args, "action", None):
        return None  # without an action id it lists them
    return f"`{command}` {what}: nothing was done; {HOW_TO_LEAVE}"
