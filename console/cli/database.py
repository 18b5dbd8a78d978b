"""The database commands (``db-status``, ``db-backup``, ``db-restore``) and ``rollback``'s
schema options (``--db-steps``, ``--db-to``, ``--db-stamp``, ``--skip-backup``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from console.cli.common import load, require_writable
from console.cli.output import confirm_on_terminal, jsonable, print_event, print_json, print_plan
from console.cli.parser import UsageError
from console.config import Config, ServiceConfig
from console.errors import EXIT_FAILED, EXIT_OK
from console.model import ItemState
from providers.base import LockHeld, ProviderError


def apply_database_options(flow: Any, args: argparse.Namespace) -> None:
    """``--db-steps / --db-to / --db-stamp / --skip-backup`` onto the flow (rollback only)."""
    from console.model import SchemaTarget

    steps = getattr(args, "db_steps", None)
    to = getattr(args, "db_to", None)
    stamp = getattr(args, "db_stamp", None)
    skip = getattr(args, "skip_backup", None)
    if flow.service.database is None:
        if steps or to or stamp or skip is not None:
            raise UsageError(
                f"{flow.service.label} has no [services.database] table: "
                "--db-steps, --db-to, --db-stamp and --skip-backup do not apply"
            )
        return
    if steps:
        flow.schema_target = SchemaTarget("steps", steps=steps)
    elif to:
        flow.schema_target = SchemaTarget("revision", revision=to)
    elif stamp:
        flow.schema_target = SchemaTarget("stamp", revision=stamp)
    if skip is not None:
        if not skip.strip():
            raise UsageError("--skip-backup needs a reason (it goes into the history entry)")
        flow.incident.mark("db-backup", ItemState.SKIPPED, skip)


def cmd_database(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """db-status, db-backup and db-restore: the database side outside a rollback."""
    config = load(args)
    svc = config.service(args.service)
    if svc.database is None:
        raise UsageError(f"{svc.label} has no [services.database] table")
    if args.command == "db-status":
        return _db_status(config, svc, args.json, out)
    if args.command == "db-backup":
        return _db_backup(config, svc, out)
    return _db_restore(config, svc, args, out, err)


def _db_status(config: Config, svc: ServiceConfig, as_json: bool, out: TextIO) -> int:
    from console.db_flow import read_status
    from providers import load_database

    load_database(svc).dsn()  # a missing or malformed DSN is bad config: exit 2
    status = read_status(svc, config.console.state_dir)
    if as_json:
        print_json(config.redactor.deep(jsonable(status)), out)
        return EXIT_OK if status.connected else EXIT_FAILED
    print(f"{svc.label}: database {status.target}", file=out)
    if not status.connected:
        print(f"  NOT CONNECTED: {status.error}", file=out)
    else:
        print(f"  connected, PostgreSQL {status.server_version}", file=out)
    current = ", ".join(status.current) or ("(none)" if status.connected else "(unknown)")
    print(f"  migrations: {status.migrations}, current revision: {current}", file=out)
    if status.history:
        print("  history (newest first):", file=out)
        for rev in status.history:
            mark = "*" if rev.id in status.current else " "
            head = " (head)" if rev.is_head else ""
            print(f"   {mark} {rev.id:<14} {rev.message}{head}", file=out)
    for check in status.checks:
        value = check.value if check.ok else f"ERROR {check.error}"
        print(f"  check {check.name}: {value}", file=out)
    backup = status.last_backup
    print(f"  last backup: {backup.summary if backup else '(none)'}", file=out)
    for note in status.notes:
        print(f"  note: {note}", file=out)
    return EXIT_OK if status.connected else EXIT_FAILED


def _db_backup(config: Config, svc: ServiceConfig, out: TextIO) -> int:
    from console.db_flow import take_backup

    print(f"{svc.label}: backing up the database (pg_dump -Fc) ...", file=out, flush=True)
    info = take_backup(
        svc, config.console.state_dir, lambda line: print(f"  | {line}", file=out, flush=True)
    )
    print(f"backup: {info.summary}", file=out)
    return EXIT_OK


def _db_restore(
    config: Config, svc: ServiceConfig, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    from console.db_restore_flow import DatabaseRestore

    if not args.reason.strip():
        raise UsageError("--reason must not be empty")
    if args.skip_backup is not None and not args.skip_backup.strip():
        raise UsageError("--skip-backup needs a reason (it goes into the history entry)")
    require_writable(config, before=": nothing was changed")
    restore = DatabaseRestore(
        config,
        svc,
        Path(args.backup),
        reason=args.reason,
        skip_backup_reason=args.skip_backup or "",
    )
    plan = restore.make_plan()
    print_plan(plan, out)
    if not args.yes:
        confirm_on_terminal(svc, out)  # anything but the name: Aborted, exit 2
    restore.confirm("confirmed with --yes" if args.yes else "confirmed by typing the service name")
    try:
        restore.execute(on_event=lambda e: print_event(out, e))
    except LockHeld:
        raise
    except ProviderError as exc:
        print(f"restore failed: {restore.redact(str(exc))}", file=err)
        result = restore.record()
        print(f"history entry appended to {result.history_file}", file=out)
        if result.git is not None:
            print(result.git.line if result.git.ok else f"warning: {result.git.line}", file=err)
        return EXIT_FAILED
    result = restore.record()
    print(f"outcome: {result.outcome.value}", file=out)
    print(f"history entry appended to {result.history_file}", file=out)
    if result.git is not None:  # [console] history_git
        print(
            result.git.line if result.git.ok else f"warning: {result.git.line}",
            file=out if result.git.ok else err,
        )
    return EXIT_OK
