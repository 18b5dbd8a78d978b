"""Command line: the TUI, the demo, and the headless commands scripts rely on.

Exit codes (public contract, see DESIGN.md): 0 done, 1 rollback failed or
not verified, 2 bad input (config, arguments, unknown service or revision),
3 refused because someone else holds the lock.  Every error is one line on
stderr; a traceback is never shown (an unexpected one is written to a crash
file in the state dir, readable by its owner only, and the line names it).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, cast

from console import redact
from console.config import (
    MAX_DURATION_S,
    Config,
    ConfigError,
    ServiceConfig,
    is_utf8,
    load_config,
    resolve_config_path,
)
from console.errors import (
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    BadInput,
    ConsoleError,
)
from console.journal import JournalWriteError
from console.model import (
    Assessment,
    HealthResult,
    ItemState,
    Outcome,
    ProgressEvent,
    ProgressStatus,
    ReadyResult,
    Snapshot,
    Unit,
)
from console.signals.base import SignalError
from console.textsafe import TerminalStream, printable
from providers.base import LockHeld, OutcomeUnknown, ProviderError

if TYPE_CHECKING:
    from console.flow import FlowResult, RollbackFlow
    from console.history import HistoryEntrySummary
    from console.model import Plan
    from console.resume import JournalState


PROG = "rollback-console"


class UsageError(BadInput):
    """Bad command-line input: one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so errors stay one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _positive_float(text: str) -> float:
    """A duration in seconds: more than 0, at most a day (like the config's duration keys)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number: {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    if value > MAX_DURATION_S:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_DURATION_S:g} (a day): {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535: {text!r}")
    return value


def _past_time(text: str) -> datetime:
    """An ISO 8601 time not in the future; without a zone it is this machine's local time."""
    from datetime import UTC, timedelta

    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time (e.g. 2026-01-27T02:05:00+09:00): {text!r}"
        ) from None
    value = value.astimezone(UTC)  # a naive time is taken as local time
    if value > datetime.now(UTC) + timedelta(minutes=1):
        raise argparse.ArgumentTypeError(f"is in the future: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    config_help = "config file (default: $ROLLBACK_CONSOLE_CONFIG, else the XDG config path)"
    common = _Parser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=config_help)

    parser = _Parser(
        prog=PROG,
        description="Roll back a bad deploy: see it, decide, roll back, verify, record.",
        epilog="Exit codes: 0 done, 1 rollback failed or not verified, 2 bad input, "
        "3 someone else holds the lock.",
    )
    parser.add_argument("--config", metavar="PATH", help=config_help)
    parser.add_argument("--service", metavar="NAME", help="open the TUI on this service")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser(
        "demo", parents=[common], help="build a local sandbox service and open the console on it"
    )
    demo.add_argument("--dir", metavar="DIR", help="sandbox folder (default: a new temp folder)")
    demo.add_argument("--port", type=_port, help="port for the demo service (1-65535, free)")
    demo.add_argument(
        "--no-tui", action="store_true", help="build and start the sandbox, print its config, exit"
    )

    status = sub.add_parser("status", parents=[common], help="print the live state of a service")
    status.add_argument("service")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    rollback = sub.add_parser(
        "rollback", parents=[common], help="roll a service back headless (same flow as the TUI)"
    )
    rollback.add_argument("service")
    rollback.add_argument("--to", metavar="REV", help="target revision (default: the previous)")
    rollback.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    rollback.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rollback.add_argument("--reason", required=True, help="why (goes into the history entry)")
    rollback.add_argument(
        "--verify-window",
        type=_positive_float,
        metavar="SECONDS",
        help="how long health must hold afterwards (default: the service's verify_window_s)",
    )
    rollback.add_argument(
        "--detected-at",
        type=_past_time,
        metavar="TIME",
        help="when the trouble was first seen (ISO 8601; no zone: local time); time to recover "
        "counts from it (default: the console's first unhealthy observation)",
    )
    _add_database_options(rollback)

    action = sub.add_parser(
        "action",
        parents=[common],
        help="run one of the provider's actions (restart, restore a manifest, image rollback...)",
    )
    action.add_argument("service")
    action.add_argument("action", nargs="?", help="the action id (see --list)")
    action.add_argument("--list", action="store_true", help="list the service's actions, exit")
    action.add_argument("--arg", metavar="VALUE", help="what the action acts on, if it asks")
    action.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    action.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    action.add_argument("--reason", help="why (goes into the history entry; required to run)")
    action.add_argument(
        "--verify-window",
        type=_positive_float,
        metavar="SECONDS",
        help="how long health must hold afterwards (default: the service's verify_window_s)",
    )

    resume = sub.add_parser(
        "resume",
        parents=[common],
        help="finish a rollback the console was interrupted in (crash, lost SSH session)",
    )
    resume.add_argument("service", nargs="?", help="only this service's interrupted rollback")
    resume.add_argument("--list", action="store_true", help="list interrupted rollbacks, exit")
    resume.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    resume.add_argument(
        "--verify-window",
        type=_positive_float,
        metavar="SECONDS",
        help="how long health must hold afterwards (default: the service's verify_window_s)",
    )

    history = sub.add_parser("history", parents=[common], help="list rollback-history entries")
    history.add_argument("--last", type=_positive_int, metavar="N", help="only the newest N")
    history.add_argument(
        "--open",
        metavar="N|ID",
        help="print one entry in full: its number (#N in the list, 1 = oldest) or incident id",
    )
    history.add_argument("--json", action="store_true", help="machine-readable output")

    sub.add_parser("check-config", parents=[common], help="validate the config and exit")
    _add_database_commands(sub, common)
    return parser


def _add_database_options(rollback: argparse.ArgumentParser) -> None:
    """``rollback``'s schema and backup options (services with [services.database])."""
    group = rollback.add_argument_group(
        "database", "for services with [services.database]: default is no schema change"
    )
    schema = group.add_mutually_exclusive_group()
    schema.add_argument(
        "--db-steps",
        type=_positive_int,
        metavar="N",
        help="also downgrade the schema N migrations (before the app rollback)",
    )
    schema.add_argument(
        "--db-to", metavar="REV", help="also downgrade the schema to revision REV ('base': all)"
    )
    schema.add_argument(
        "--db-stamp",
        metavar="REV",
        help="record REV as the schema revision without running migrations (repair)",
    )
    group.add_argument(
        "--skip-backup",
        metavar="REASON",
        help="take no database backup first; REASON goes into the history entry",
    )


def _add_database_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    db_status = sub.add_parser(
        "db-status",
        parents=[common],
        help="print a service's database: connection, schema revision, history, checks",
    )
    db_status.add_argument("service")
    db_status.add_argument("--json", action="store_true", help="machine-readable output")
    db_backup = sub.add_parser(
        "db-backup",
        parents=[common],
        help="take a verified backup of a service's database now (pg_dump -Fc)",
    )
    db_backup.add_argument("service")
    db_restore = sub.add_parser(
        "db-restore",
        parents=[common],
        help="restore a service's database from a backup (replaces its contents)",
    )
    db_restore.add_argument("service")
    db_restore.add_argument("--from", dest="backup", required=True, metavar="FILE")
    db_restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    db_restore.add_argument("--reason", required=True, help="why (goes into the history entry)")
    db_restore.add_argument(
        "--skip-backup",
        metavar="REASON",
        help="take no backup of the current contents first; REASON is recorded",
    )


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry; returns (and exits with) the contract's exit code.

    A reader that goes away (``status --json | head -1``) ends the output, not
    the command: what is written after that is discarded, the command finishes
    with its own exit code, and nothing is reported (like any Unix tool that
    is told to stop writing).  A rollback is never abandoned half-way because
    the pipe its log went to was closed.
    """
    out, err = _ReaderMayLeave(sys.stdout), _ReaderMayLeave(sys.stderr)
    try:
        code = run(argv, cast(TextIO, out), cast(TextIO, err))
    finally:
        out.flush()
        err.flush()
    sys.exit(code)


class _ReaderMayLeave(io.TextIOBase):
    """Standard output (or error) whose reader may close the pipe before the end.

    The Python documentation's answer to ``BrokenPipeError``: point the file
    descriptor at ``/dev/null``, so later writes and the interpreter's last
    flush go nowhere instead of failing, and carry on quietly.
    """

    def __init__(self, stream: TextIO | None):
        # None: started with the descriptor closed (``>&-``); nobody reads, like /dev/null.
        self._stream = stream
        self.gone = stream is None

    def write(self, text: str) -> int:
        if not self.gone and self._stream is not None:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._reader_left()
        return len(text)

    def flush(self) -> None:
        if not self.gone and self._stream is not None:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._reader_left()

    def _reader_left(self) -> None:
        self.gone = True
        if self._stream is None:
            return
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)

    def isatty(self) -> bool:
        return self._stream is not None and self._stream.isatty()

    def fileno(self) -> int:
        if self._stream is None:
            raise io.UnsupportedOperation("no file descriptor: the stream was closed at start")
        return self._stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding if self._stream is not None else "utf-8"


def run(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> int:
    # Everything printed is redacted and terminal-safe, whichever line prints it.
    out, err = TerminalStream.wrap(out), TerminalStream.wrap(err)
    args = argparse.Namespace()
    try:
        parser = build_parser()
        args = parser.parse_args(argv, namespace=args)
        _refuse_undecodable(parser, args)
        return _dispatch(args, out, err)
    except ConsoleError as exc:
        hint = f"; {exc.hint}" if exc.hint else ""
        print(f"{exc.prefix}: {_one_line(exc)}{hint}", file=err)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return 130
    except Exception as exc:
        details = _write_crash_file(exc, getattr(args, "crash_dir", None))
        print(f"error: unexpected {type(exc).__name__}: {exc} ({details})", file=err)
        return EXIT_FAILED


def _refuse_undecodable(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, before anything is done, an argument holding bytes that are not UTF-8.

    Python keeps such bytes as lone surrogates; a ``--reason`` holding one went
    through the rollback and then failed writing the postmortem and the team
    message.  The operator gets exit 2 naming the argument, nothing changed.
    """
    parsers = []  # the command's own first: its positional SERVICE shares a dest with --service
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and args.command in action.choices:
            parsers.append(action.choices[args.command])
    parsers.append(parser)
    for each in parsers:
        for action in each._actions:
            value = getattr(args, action.dest, None)
            if not isinstance(value, str) or is_utf8(value):
                continue
            if action.option_strings:
                name = max(action.option_strings, key=len)
            else:
                name = str(action.metavar or action.dest).upper()
            shown = "".join(
                f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in value
            )
            raise UsageError(
                f"{name} is not UTF-8 text ('{shown}'): nothing was done; "
                "give it as UTF-8 (check the terminal's encoding)"
            )


def _one_line(exc: BaseException) -> str:
    """The error's message on one line: an argument or a value quoted in it may hold a
    line break or a control character, shown as an escape instead."""
    return printable(str(exc))


def _write_crash_file(exc: BaseException, state_dir: Path | None) -> str:
    """The crash report (``console.crash``) in ``state_dir``, else the default state dir;
    what the error line says about it."""
    from console.crash import crash_text, write_crash_report

    path, reason = write_crash_report(state_dir, redact.active()(crash_text(exc)))
    return f"details in {path}" if path else f"no crash report could be written: {reason}"


def _load(args: argparse.Namespace) -> Config:
    path = getattr(args, "config", None)
    if path is not None and not path.strip():
        # An empty --config is a mistake (an unset shell variable), not "use the default".
        raise UsageError("--config must not be empty (leave it out to use the default)")
    config = _loaded(load_config(resolve_config_path(path)))
    args.crash_dir = config.console.state_dir  # where a crash report of this run goes
    return config


def _loaded(config: Config) -> Config:
    """``config``, its redactor now the one every line this process prints goes through."""
    redact.install(config.redactor)
    return config


def _require_writable(config: Config, *, history: bool = True, before: str = "") -> None:
    """Exit 2 naming the path when the state dir (or the history file) cannot be written.

    Checked before anything is changed: a rollback that could neither journal
    nor record what it did must not start.  ``before``: what is refused, for
    the message ("nothing was changed").
    """
    from console.durable import write_problem

    console = config.console
    checks = [("state dir", "state_dir", console.state_dir, True)]
    if history:
        checks.insert(0, ("history file", "history_file", console.history_file, False))
    for what, key, path, folder in checks:
        problem = write_problem(path, folder=folder)
        if problem:
            raise UsageError(
                f"{what} {path} cannot be written: {problem} "
                f"(console.{key} in {config.path}){before}"
            )


def _dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    command = args.command
    if command == "demo":
        return cmd_demo(args, out, err)
    if command == "check-config":
        return cmd_check_config(args, out)
    if command == "status":
        return cmd_status(args, out, err)
    if command == "rollback":
        return cmd_rollback(args, out, err)
    if command == "history":
        return cmd_history(args, out)
    if command == "resume":
        return cmd_resume(args, out, err)
    if command == "action":
        return cmd_action(args, out, err)
    if command in ("db-status", "db-backup", "db-restore"):
        return cmd_database(args, out, err)
    config = _load(args)
    if args.service:
        config.service(args.service)
    return _run_tui(config, args.service)


def _run_tui(config: Config, service: str | None) -> int:
    from console.app import make_app

    app = make_app(config, service=service)
    app.run()
    return int(app.return_code or 0)


# --------------------------------------------------------------------------- commands


def cmd_check_config(args: argparse.Namespace, out: TextIO) -> int:
    config = _load(args)
    from providers import REGISTRY

    for svc in config.services:
        if svc.provider not in REGISTRY:
            raise ConfigError(config.path, "provider", f"provider {svc.provider!r} not available")
    _require_writable(config)
    print(f"{config.path}: ok, {len(config.services)} service(s)", file=out)
    for svc in config.services:
        checks = len(svc.health)
        print(
            f"  {svc.label}: provider {svc.provider}, {checks} health check(s), "
            f"error rate from {svc.error_rate.source}, verify window {svc.verify_window_s:g} s",
            file=out,
        )
    print(f"  history file: {config.console.history_file}", file=out)
    print(f"  state dir:    {config.console.state_dir}", file=out)
    webhook = config.console.webhook_env
    if webhook:
        state = "set" if os.environ.get(webhook, "").strip() else "NOT SET: messages are not sent"
        print(f"  team webhook: ${webhook} ({state})", file=out)
    return EXIT_OK


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no Infinity or NaN: "not known" is what such a number means
    return value


def _print_json(data: Any, out: TextIO, *, ensure_ascii: bool = True) -> None:
    """``data`` as indented JSON and a newline; always valid JSON (``allow_nan=False``)."""
    json.dump(_jsonable(data), out, indent=2, ensure_ascii=ensure_ascii, allow_nan=False)
    print(file=out)


def _status_assessment(
    svc: ServiceConfig, units: Sequence[Unit]
) -> tuple[tuple[HealthResult, ...], Assessment]:
    """Health and the severity, as the rollback's assessment computes them.

    The same wait for the minimum sample (bounded), the same rules: below the
    minimum it is "assessing (n of N samples)", in the text and in the JSON.
    """
    from console.flow import FIRST_SAMPLE_WAIT_S
    from console.model import Sample, utcnow
    from console.severity import assess
    from console.signals import make_error_rate_source, wait_for_requests
    from console.signals.health import check_health

    sample: Sample | None = None
    try:
        source = make_error_rate_source(svc)
    except SignalError:  # no error rate: the severity rests on the rest, and says so
        health = check_health(svc.health)
    else:
        source.start()
        try:
            wait_for_requests(
                source, svc.thresholds.min_requests, FIRST_SAMPLE_WAIT_S, svc.error_rate.interval_s
            )
            health = check_health(svc.health)
            with contextlib.suppress(SignalError):
                sample = source.sample()
        finally:
            source.stop()
    now = utcnow()
    return health, assess(svc.thresholds, sample, health, units, detected_at=now, now=now)


def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from console.resume import open_incidents
    from console.severity import describe
    from providers import load_provider

    config = _load(args)
    svc = config.service(args.service)
    provider = load_provider(svc)
    snap = provider.snapshot()
    health, assessment = _status_assessment(svc, snap.units)
    found = open_incidents(config.console.state_dir, svc.name)
    pending = [state for state in found if state.interrupted]
    running = [state for state in found if state.live is not None]
    _print_journal_warnings(found, err)
    if args.json:
        data = {
            "snapshot": _jsonable(snap),
            "health": _jsonable(health),
            "assessment": {**_jsonable(assessment), "summary": describe(assessment)},
            "open_incidents": [state.incident_id for state in pending],
            "in_progress": [
                {"incident": state.incident_id, **_jsonable(state.live)} for state in running
            ],
        }
        _print_json(config.redactor.deep(_jsonable(data)), out)
        return EXIT_OK
    # Names and messages come from the platform: one line each, control characters escaped.
    shown = printable
    current = snap.current
    print(f"{svc.label} on {svc.provider}", file=out)
    print(f"  current:  {shown(current.version) if current else '(unknown)'}", file=out)
    prev = snap.previous()
    print(f"  previous: {shown(prev.version) if prev else '(none)'}", file=out)
    _print_revisions(snap, out)
    print(f"  units ({len(snap.units)}):", file=out)
    for unit in snap.units:
        ready = "ready" if unit.ready else "NOT READY"
        print(
            f"    {shown(unit.name):<20} {shown(unit.state):<10} {ready:<9} {shown(unit.revision)}",
            file=out,
        )
    print("  health:", file=out)
    for h in health:
        result = f"{h.status_code}" if h.status_code is not None else shown(h.error)
        latency = f" {h.latency_ms:.0f} ms" if h.latency_ms is not None else ""
        print(f"    {'ok  ' if h.ok else 'FAIL'} {shown(h.url)} {result}{latency}", file=out)
    print(f"  {describe(assessment)}", file=out)
    for reason in assessment.reasons:
        print(f"    - {printable(reason)}", file=out)
    for note in snap.notes:
        print(f"  note: {shown(note)}", file=out)
    for state in running:
        assert state.live is not None
        print(
            f"  IN PROGRESS: rollback {state.incident_id} by {state.live.describe()}",
            file=out,
        )
    for state in pending:
        print(
            f"  OPEN: interrupted rollback {state.incident_id} by {state.operator or '?'}: "
            f"finish it with `{PROG} resume {svc.name}`",
            file=out,
        )
    return EXIT_OK


def _print_revisions(snap: Snapshot, out: TextIO) -> None:
    """The deploy history as ``status`` and ``rollback`` show it: newest first, ``*`` = live."""
    current = snap.current
    print("  revisions (newest first, * = live now):", file=out)
    for rev in snap.revisions:
        mark = "*" if current and rev.id == current.id else " "
        created = rev.created.astimezone().strftime("%Y-%m-%d %H:%M") if rev.created else ""
        print(f"   {mark} {printable(rev.id):<24} {printable(rev.version):<16} {created}", file=out)


def _confirm_on_terminal(svc: ServiceConfig, out: TextIO) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("refusing to roll back without --yes: standard input is not a terminal")
    print(
        f"Type the service name ({svc.name}) to confirm, anything else aborts: ", end="", file=out
    )
    out.flush()
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip() == svc.name


def _print_plan(plan: Plan, out: TextIO) -> None:
    """The plan as the operator confirms it: summary, warnings, numbered steps and commands."""
    print(printable(plan.summary), file=out)
    for warning in plan.warnings:
        print(f"  warning: {printable(warning)}", file=out)
    for i, step in enumerate(plan.steps, 1):
        print(f"  {i}. {printable(step.title)}\n       $ {printable(step.command)}", file=out)


def _print_event(out: TextIO, event: ProgressEvent) -> None:
    stamp = event.at.astimezone().strftime("%H:%M:%S")
    prefix = {
        ProgressStatus.STARTED: "->",
        ProgressStatus.OUTPUT: "  |",
        ProgressStatus.FINISHED: "ok",
        ProgressStatus.FAILED: "!!",
        ProgressStatus.SKIPPED: "--",
    }[event.status]
    print(f"{stamp} {prefix} {printable(event.message)}", file=out, flush=True)


def cmd_rollback(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from console.flow import RollbackFlow
    from console.signals import make_error_rate_source
    from providers import load_provider

    if not args.reason.strip():
        raise UsageError("--reason must not be empty")
    action: str | None = getattr(args, "action", None)
    config = _load(args)
    svc = config.service(args.service)
    if not args.dry_run:
        _require_writable(config, before=": nothing was changed")
        if not args.yes and not sys.stdin.isatty():
            # Said now, not after sampling the service for the assessment.
            raise UsageError(
                "refusing to roll back without --yes: standard input is not a terminal"
            )
    _refuse_if_interrupted(config, svc, dry_run=args.dry_run)
    provider = load_provider(svc)
    if action and getattr(args, "arg", None) is not None:
        _refuse_unwanted_argument(provider, svc, action, args.arg)
    source = make_error_rate_source(svc)
    source.start()
    flow: RollbackFlow | None = None
    try:
        flow = RollbackFlow(
            config,
            svc,
            provider,
            source,
            reason=args.reason,
            detected_at=getattr(args, "detected_at", None),
        )
        _apply_database_options(flow, args)
        snap = flow.refresh()
        current = snap.current.version if snap.current else "(unknown)"
        print(f"{svc.label}: current {printable(current)}", file=out, flush=True)
        assessment = _assess_with_enough_data(flow, out)
        for reason in assessment.reasons:
            print(f"  - {printable(reason)}", file=out)
        if action:
            plan = flow.plan_action(action, args.arg, dry_run=args.dry_run)
        else:
            # The deploy history the target is chosen from, before the plan names it.
            _print_revisions(snap, out)
            flow.history_shown(snap)
            plan = flow.plan(args.to, dry_run=args.dry_run)
        _print_plan(plan, out)
        if args.dry_run:
            print("dry run: nothing was changed", file=out)
            return EXIT_OK
        if not args.yes and not _confirm_on_terminal(svc, out):
            print("aborted: nothing was changed", file=err)
            return EXIT_FAILED
        flow.incident.mark(
            "decide",
            ItemState.DONE,
            "confirmed with --yes" if args.yes else "confirmed by typing the service name",
        )
        flow.incident.notes.append(
            "Headless run (rollback-console rollback): the operator's prepare checklist "
            "was not ticked interactively."
        )
        try:
            ready = flow.execute(plan, on_event=lambda e: _print_event(out, e))
        except (LockHeld, JournalWriteError):
            raise  # the journal failing stops the console: no entry, `resume` finishes
        except OutcomeUnknown as exc:
            _left_open(flow, exc, out, err)
            return EXIT_FAILED
        except ProviderError as exc:
            print(f"rollback failed: {exc}", file=err)
            _record(flow, out, err)
            return EXIT_FAILED
        return _verify_and_record(flow, ready, args, out, err)
    finally:
        if flow is not None:
            flow.close()
        source.stop()


def _assess_with_enough_data(flow: RollbackFlow, out: TextIO) -> Assessment:
    """Wait (bounded) for the sample a severity needs, assess, print the one line.

    Below the minimum the line says "assessing (n of N samples)", never a verdict.
    """
    from console.flow import FIRST_SAMPLE_WAIT_S
    from console.severity import describe

    needed = flow.service.thresholds.min_requests
    print(
        f"reading health and error rate (a severity needs {needed} requests; "
        f"waiting at most {FIRST_SAMPLE_WAIT_S:g} s) ...",
        file=out,
        flush=True,
    )
    flow.wait_for_sample(FIRST_SAMPLE_WAIT_S)
    assessment = flow.assess()
    print(describe(assessment), file=out, flush=True)
    return assessment


def _verify_and_record(
    flow: RollbackFlow, ready: ReadyResult, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    """After execution (fresh or resumed): verify unless already verified, record, exit code."""
    from console.verify import watch_limit

    svc = flow.service
    print(
        f"{'ready' if ready.ready else 'NOT READY'}: {printable(ready.message)}",
        file=out,
        flush=True,
    )
    units = flow.incident.marks.get("units")
    if units is not None:  # what ticked (or failed) "All processes / pods / tasks running"
        print(f"units: {printable(units.note)}", file=out, flush=True)
    verified = flow.incident.verification
    if ready.ready and not (verified and verified.passed):
        flow.source.wait_for_data(min(5.0, svc.error_rate.window_s))
        window = args.verify_window if args.verify_window else svc.verify_window_s
        print(
            f"verifying for {window:g} s (and until {svc.verify_min_rounds} health rounds and "
            f"{svc.verify_min_requests} requests are in, at most {watch_limit(window):g} s) ...",
            file=out,
            flush=True,
        )
        verification = flow.verify(window_s=window)
        print(
            f"{'verified' if verification.passed else 'NOT VERIFIED'}: "
            f"{printable(verification.message)}",
            file=out,
        )
    print(f"outcome: {flow.outcome_text()}", file=out)
    result = _record(flow, out, err)
    return EXIT_OK if result and result.outcome is Outcome.ROLLED_BACK else EXIT_FAILED


def cmd_action(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """List a service's actions, or run one through the same flow as a rollback."""
    if args.list or not args.action:
        from providers import load_provider
        from providers.base import SupportsActions

        config = _load(args)
        svc = config.service(args.service)
        provider = load_provider(svc)
        actions = provider.actions() if isinstance(provider, SupportsActions) else ()
        if not actions:
            print(f"{svc.label}: no actions besides rollback", file=out)
        for item in actions:
            wants = f" --arg {item.argument.upper()}" if item.argument else ""
            print(f"  {item.id}{wants}: {item.title} — {item.description}", file=out)
            if item.choices:
                print(f"      choices: {', '.join(item.choices)}", file=out)
        return EXIT_OK
    if args.reason is None:
        raise UsageError("--reason is required to run an action (it goes into the history entry)")
    return cmd_rollback(args, out, err)


def _refuse_unwanted_argument(
    provider: object, svc: ServiceConfig, action: str, argument: str
) -> None:
    """``--arg`` given to an action that takes none (``restart``): exit 2, before anything.

    Silently dropping it would run something other than what the operator typed.
    An action the service does not offer is left to the provider's own refusal
    (exit 2, naming the ones it has).
    """
    from providers.base import SupportsActions

    actions = provider.actions() if isinstance(provider, SupportsActions) else ()
    for item in actions:
        if item.id == action and not item.argument:
            raise UsageError(
                f"action {action} of {svc.label} takes no argument, but --arg {argument!r} "
                "was given: leave --arg out"
            )


def _left_open(flow: RollbackFlow, exc: OutcomeUnknown, out: TextIO, err: TextIO) -> None:
    """The change may or may not have taken effect: no entry yet, and say how it is settled.

    A plain retry would be wrong either way (a rollback that did take effect would
    be followed by a "previous revision" that is the broken release again), so the
    operator is sent to ``resume``, which reads the platform first.
    """
    svc = flow.service
    print(f"rollback interrupted: {exc}", file=err)
    print(
        f"the incident stays open (no history entry yet): once the platform answers, "
        f"`{PROG} resume {svc.name}` reads what it did and finishes, sending the change "
        "again only if it did not take effect",
        file=err,
    )
    _report_notifications(flow, out)


def _record(flow: RollbackFlow, out: TextIO, err: TextIO) -> FlowResult | None:
    """Append the history entry; None (and one line saying so) when the file cannot be written.

    The entry is then missing but not lost: the incident's journal stays open
    (no "recorded" event), and ``resume`` writes the entry without rolling back
    a second time: to the history file once it can be written, else to the
    fallback file in the state dir (the result says so, and this prints it).
    """
    from console.flow import fallback_history_file
    from console.history import HistoryWriteError

    try:
        result = flow.record()
    except HistoryWriteError as exc:
        svc = flow.service
        print(
            f"error: {svc.label}: {flow.outcome_text()}, but the history entry was NOT saved "
            f"({exc.reason}: {exc.path}); the incident stays open: "
            f"`{PROG} resume {svc.name}` saves the entry without rolling back again (to "
            f"{fallback_history_file(flow.config.console.state_dir)} if the file still "
            "cannot be written)",
            file=err,
        )
        return None
    if result.not_saved_to is not None:
        print(
            f"history file {result.not_saved_to} still cannot be written "
            f"({result.not_saved_reason}): entry saved to {result.history_file} instead; "
            f"copy it into {result.not_saved_to} once that can be written",
            file=out,
        )
    else:
        print(f"history entry appended to {result.history_file}", file=out)
    _after_record(flow, result, out)
    return result


def _after_record(flow: RollbackFlow, result: FlowResult, out: TextIO) -> None:
    """After the entry is saved: the postmortem draft, and what the team webhook answered.

    The messages went out in the background while the rollback ran; before
    this process exits they get ``[console] webhook_exit_wait_s`` more to
    finish, and each result is one line.
    """
    from console.postmortem import write_draft_after

    if result.record is not None:
        line = write_draft_after(result.record, flow.config.console, redact=flow.redact)
        print(line[0].lower() + line[1:], file=out)
    _report_notifications(flow, out)


def _report_notifications(flow: RollbackFlow, out: TextIO) -> None:
    """Give the messages sent in the background a bounded chance to finish; one line each.

    A slow webhook (timeouts times retries: minutes) must not hold the exit of
    a command whose entry is already saved.  After ``webhook_exit_wait_s`` the
    command exits, and with it the background sender: a message that had no
    answer by then is reported as not confirmed (the operator tells the team),
    never as "will be retried".
    """
    notifier = flow.notifier
    if notifier is None or not notifier.configured:
        return
    wait_s = flow.config.console.webhook_exit_wait_s
    if notifier.pending and wait_s > 0:
        print(
            f"team notification: waiting up to {wait_s:g} s for the team webhook ...",
            file=out,
            flush=True,
        )
    notifier.wait(wait_s)
    delivered, unanswered = notifier.outcome()
    for delivery in delivered:
        print(f"team notification: {notifier.redact(delivery.describe())}", file=out)
    for kind in unanswered:
        print(
            f"team notification: {kind} message not confirmed sent (gave up waiting at exit "
            f"after {wait_s:g} s; the team webhook had not answered): tell the team yourself",
            file=out,
        )


def _apply_database_options(flow: Any, args: argparse.Namespace) -> None:
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
    config = _load(args)
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
        _print_json(config.redactor.deep(_jsonable(status)), out)
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
    _require_writable(config, before=": nothing was changed")
    restore = DatabaseRestore(
        config,
        svc,
        Path(args.backup),
        reason=args.reason,
        skip_backup_reason=args.skip_backup or "",
    )
    plan = restore.make_plan()
    _print_plan(plan, out)
    if not args.yes and not _confirm_on_terminal(svc, out):
        print("aborted: nothing was changed", file=err)
        return EXIT_FAILED
    restore.confirm("confirmed with --yes" if args.yes else "confirmed by typing the service name")
    try:
        restore.execute(on_event=lambda e: _print_event(out, e))
    except LockHeld:
        raise
    except ProviderError as exc:
        print(f"restore failed: {restore.redact(str(exc))}", file=err)
        result = restore.record()
        print(f"history entry appended to {result.history_file}", file=out)
        return EXIT_FAILED
    result = restore.record()
    print(f"outcome: {result.outcome.value}", file=out)
    print(f"history entry appended to {result.history_file}", file=out)
    return EXIT_OK


def _refuse_if_interrupted(config: Config, svc: ServiceConfig, *, dry_run: bool) -> None:
    """A new rollback must not start over another one: running (exit 3) or half-done (exit 2).

    A rollback another console is running (it holds the service lock: switching,
    waiting or verifying) is refused with exit 3 naming who; one left half-way by
    a console that stopped is refused with exit 2, naming ``resume``.  A dry run
    changes nothing and is never refused.
    """
    from console.lock import holder
    from console.resume import open_incidents

    if dry_run:
        return
    owner = holder(config.console.state_dir, svc.name, svc.environment)
    if owner is not None:
        what = f", incident {owner.incident}" if owner.incident else ""
        raise LockHeld(
            f"{svc.label} is being rolled back by {owner.describe()}{what}: "
            "wait for it to finish, or coordinate"
        )
    found = open_incidents(config.console.state_dir, svc.name)
    if found:
        raise UsageError(
            f"an interrupted rollback of {svc.name} is open (incident {found[-1].incident_id}): "
            f"finish it with `{PROG} resume {svc.name}` first"
        )


def cmd_resume(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Finish interrupted rollbacks: re-read the platform, continue, verify, record once.

    A rollback another console is still running (it holds the service lock) is
    not interrupted: it is listed as in progress and refused with exit 3.
    """
    from console.resume import open_incidents

    config = _load(args)
    if args.service:
        config.service(args.service)
    if not args.list:
        # The history file may stay unwritable: resume then saves to the fallback file.
        _require_writable(config, history=False, before=": nothing was resumed")
    found = open_incidents(config.console.state_dir, args.service)
    _print_journal_warnings(found, err)
    running = [state for state in found if state.live is not None]
    pending = [state for state in found if state.interrupted]
    for state in running:
        assert state.live is not None
        print(
            f"in progress: incident {state.incident_id} ({state.service}) is being run by "
            f"{state.live.describe()}: not interrupted, not resumed",
            file=out,
        )
    if not pending:
        if running and not args.list:
            raise LockHeld(
                f"the rollback of {running[0].service} (incident {running[0].incident_id}) "
                f"is in progress, run by {running[0].live.describe() if running[0].live else '?'}"
                ": there is nothing to resume; wait for it or coordinate"
            )
        print("no interrupted rollback to resume", file=out)
        return EXIT_OK
    for state in pending:
        print(
            f"interrupted: incident {printable(state.incident_id)} ({printable(state.service)}, "
            f"by {printable(state.operator or '?')})",
            file=out,
        )
        for line in state.describe():
            print(f"  {printable(line)}", file=out)
    if args.list:
        return EXIT_OK
    code = EXIT_LOCKED if running else EXIT_OK
    for state in pending:
        svc = config.service(state.service)
        if not args.yes and not _confirm_on_terminal(svc, out):
            print(f"not resumed: {state.incident_id}", file=err)
            code = max(code, EXIT_FAILED)
            continue
        code = max(code, _resume_one(config, svc, state, args, out, err))
    return code


def _resume_one(
    config: Config,
    svc: ServiceConfig,
    state: JournalState,
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
) -> int:
    """Resume one interrupted incident to its entry; the exit code it earns."""
    from console.flow import RollbackFlow, SwitchUndone
    from console.signals import make_error_rate_source
    from providers import load_provider

    provider = load_provider(svc)
    source = make_error_rate_source(svc)
    source.start()
    flow: RollbackFlow | None = None
    try:
        flow = RollbackFlow(config, svc, provider, source, resume_state=state)
        print(f"resuming {state.incident_id}", file=out, flush=True)
        try:
            try:
                ready = flow.resume_execute(
                    on_event=lambda e: _print_event(out, e),
                    on_note=lambda note: print(f"  {printable(note)}", file=out, flush=True),
                )
            except SwitchUndone as undone:
                if not _roll_back_again(flow, undone, args, out, err):
                    print(f"outcome: {flow.outcome().value}", file=out)
                    _record(flow, out, err)
                    return EXIT_FAILED
                plan = flow.replan_after_undo()
                _print_plan(plan, out)
                ready = flow.execute(plan, on_event=lambda e: _print_event(out, e))
        except (LockHeld, JournalWriteError):
            raise
        except OutcomeUnknown as exc:
            _left_open(flow, exc, out, err)
            return EXIT_FAILED
        except ProviderError as exc:
            print(f"rollback failed: {exc}", file=err)
            flow.execute_error = str(exc)
            _record(flow, out, err)
            return EXIT_FAILED
        return _verify_and_record(flow, ready, args, out, err)
    finally:
        if flow is not None:
            flow.close()
        source.stop()


def _roll_back_again(
    flow: RollbackFlow, undone: Exception, args: argparse.Namespace, out: TextIO, err: TextIO
) -> bool:
    """After resume found the switch undone: roll back again (``--yes`` or typed), or not."""
    svc = flow.service
    print(f"NOT ROLLED BACK: {undone}", file=err)
    if args.yes:
        print("rolling back again (--yes): a new plan from the live state", file=out)
        return True
    print(
        f"Type the service name ({svc.name}) to roll back again; anything else records "
        "'not rolled back': ",
        end="",
        file=out,
    )
    out.flush()
    try:
        return input().strip() == svc.name
    except EOFError:
        return False


def _print_journal_warnings(states: Sequence[JournalState], err: TextIO) -> None:
    """One line per journal line that was skipped because it could not be read."""
    for state in states:
        for warning in state.warnings:
            print(f"warning: {_one_line(Exception(warning))}", file=err)


def cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    from console.history import median_time_to_recover, read_entries

    if args.open is not None and not args.open.strip().lstrip("#"):
        raise UsageError("--open needs an entry: its number (#N in the list) or incident id")
    config = _load(args)
    path = config.console.history_file
    if not path.exists():
        if args.open:
            raise UsageError(f"no entry {args.open}: no history yet ({path})")
        if args.json:
            _print_json(_history_json(path, [], []), out)
            return EXIT_OK
        print(f"no history yet ({path})", file=out)
        return EXIT_OK
    entries = read_entries(path)
    if args.open:
        number = _find_entry(entries, args.open)
        entry = entries[number - 1]
        if args.json:
            data = {**_entry_json(number, entry), "markdown": entry.raw}
            _print_json(data, out, ensure_ascii=False)
        else:
            out.write(entry.raw)
        return EXIT_OK
    first = len(entries) - args.last + 1 if args.last and args.last < len(entries) else 1
    shown = entries[first - 1 :]
    if args.json:
        _print_json(_history_json(path, entries, shown, first), out, ensure_ascii=False)
        return EXIT_OK
    print(f"{path}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}", file=out)
    for number, e in enumerate(shown, first):
        ttr = _duration(e.time_to_recover_s) if e.time_to_recover_s is not None else "-"
        print(
            f"  {printable(e.date):<25} {printable(e.service):<12} "
            f"{printable(e.environment):<11} {printable(e.from_revision)} -> "
            f"{printable(e.to_revision)}  {printable(e.result or e.outcome)}  TTR {ttr}  #{number}",
            file=out,
        )
    median = median_time_to_recover(entries)
    if median is not None:
        print(f"median time to recover: {_duration(median)}", file=out)
    if shown:
        print(f"full entry: {PROG} history --open N (N = #number or incident id)", file=out)
    return EXIT_OK


def _find_entry(entries: list[HistoryEntrySummary], wanted: str) -> int:
    """The 1-based number of the entry ``wanted`` names (#N, N, or an incident id)."""
    text = wanted.strip().lstrip("#")
    if re.fullmatch(r"[0-9]+", text):  # ASCII digits only: str.isdigit() also takes "²"
        if len(text) <= 9 and 1 <= int(text) <= len(entries):
            return int(text)
        shown = text if len(text) <= 20 else f"{text[:19]}…"
        raise UsageError(f"no entry #{shown}: the history has {len(entries)} (1 = oldest)")
    for number, entry in enumerate(entries, 1):
        if entry.id and entry.id == text:
            return number
    raise UsageError(f"no entry with incident id {wanted!r} in the history")


def _entry_json(number: int, e: HistoryEntrySummary) -> dict[str, Any]:
    return {
        "number": number,
        "id": e.id,
        "date": e.date,
        "service": e.service,
        "environment": e.environment,
        "from": e.from_revision,
        "to": e.to_revision,
        "outcome": e.outcome,
        "result": e.result or e.outcome,
        "action": e.action,
        "time_to_recover_s": e.time_to_recover_s,
        "severity": e.severity,
        "operator": e.operator,
        "reason": e.reason,
        "impact": e.impact,
        "note": e.note,
    }


def _history_json(
    path: Path,
    entries: list[HistoryEntrySummary],
    shown: list[HistoryEntrySummary],
    first: int = 1,
) -> dict[str, Any]:
    from console.history import median_time_to_recover

    return {
        "file": str(path),
        "count": len(entries),
        "median_time_to_recover_s": median_time_to_recover(entries),
        "entries": [_entry_json(n, e) for n, e in enumerate(shown, first)],
    }


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from console.demo import build_sandbox, check_port

    if args.port is not None:
        check_port(Path(args.dir).expanduser().resolve() if args.dir else None, args.port)
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="rollback-demo-"))
    sandbox = build_sandbox(root, port=args.port)
    if not args.no_tui:
        _stop_on_hangup(sandbox.stop)
    sandbox.start()
    try:
        if args.no_tui:
            print(f"demo sandbox running: {sandbox.health_url}", file=out)
            print(f"config: {sandbox.config_path}", file=out)
            print(f"try: {PROG} --config {sandbox.config_path}", file=out)
            print(f"stop it with: {sys.executable} -m console.demo stop {root}", file=out)
            return EXIT_OK
        config = _loaded(load_config(sandbox.config_path))
        return _run_tui(config, None)
    finally:
        if not args.no_tui:
            sandbox.stop()
            print(
                f"demo stopped; sandbox left in {root} (history: {root}/rollback-history.md)",
                file=err,
            )


def _stop_on_hangup(stop: Callable[[], None]) -> None:
    """Stop what the demo started when the terminal goes away (SSH dropped) or on SIGTERM.

    Python's default for these signals ends the process without running
    ``finally`` blocks, which would leave the demo service running with
    nobody to stop it.  The handler stops it, then lets the signal end the
    process as it would have.
    """

    def handler(signum: int, _frame: object) -> None:
        stop()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    for signum in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, handler)


if __name__ == "__main__":  # pragma: no cover
    main()
