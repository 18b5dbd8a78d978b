"""The command line's grammar: commands, flags, their validators; errors as one line.

argparse prints usage and exits on a bad argument; ``_Parser`` raises
``UsageError`` instead, so a bad argument is one line and exit 2 like any
other bad input.  ``refuse_undecodable`` refuses an argument that is not
UTF-8 before anything is done.
"""

from __future__ import annotations

import argparse
import math
from datetime import datetime
from typing import Any, NoReturn

from console.config import MAX_DURATION_S, is_utf8
from console.errors import BadInput

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
    _add_ops_options(common, argparse.SUPPRESS)

    parser = _Parser(
        prog=PROG,
        description="Roll back a bad deploy: see it, decide, roll back, verify, record.",
        epilog="Exit codes: 0 done, 1 rollback failed or not verified, 2 bad input or "
        "a confirmation not given (nothing changed), 3 someone else holds the lock.",
    )
    parser.add_argument("--config", metavar="PATH", help=config_help)
    parser.add_argument("--service", metavar="NAME", help="open the TUI on this service")
    _add_ops_options(parser, None)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
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
    rollback.add_argument(
        "--reason", help="why (goes into the history entry; required unless --dry-run)"
    )
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
    action.add_argument(
        "--no-switch",
        action="store_true",
        help="pitr: stop after the restored database's checks, before switching the "
        "application to it (for a manual comparison; the entry says how to switch later)",
    )
    action.add_argument(
        "--reason", help="why (goes into the history entry; required unless --dry-run)"
    )
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
        "--no-switch",
        action="store_true",
        help="pitr: stop again before switching the application to the restored database",
    )
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
    _add_serve_command(sub, common)
    _add_config_commands(sub)
    return parser


def _add_ops_options(parser: argparse.ArgumentParser, default: object) -> None:
    """``--read-only``, ``--log-file``, ``--debug``: before or after the command."""
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=default if default is not None else False,
        help="everything visible, nothing that changes a platform (commands that would exit 2)",
    )
    parser.add_argument(
        "--log-file",
        metavar="PATH",
        default=default,
        help="append a plain log of API calls and timings here (secrets redacted)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default if default is not None else False,
        help="more detail in the log (--log-file; default: debug.log in the state dir)",
    )


def _add_serve_command(sub: Any, common: argparse.ArgumentParser) -> None:
    """``serve``: the console in a browser (extra ``[web]``), see README "In a browser"."""
    serve = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the console to a browser (loopback only unless --allow-remote)",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (default: 8000)")
    serve.add_argument("--service", metavar="NAME", help="open each session on this service")
    serve.add_argument(
        "--operator",
        metavar="NAME",
        help="the operator recorded for sessions the proxy's header "
        "(console.operator_header) does not name",
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not loopback (requires --token-env)",
    )
    serve.add_argument(
        "--token-env",
        metavar="VAR",
        help="environment variable holding the token every request must carry",
    )


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


def _add_config_commands(sub: Any) -> None:
    """``config init|path|example|schema``: the config file itself (console.cli.config_file)."""
    config = sub.add_parser(
        "config", help="the config file: write the example, show its path, print its schema"
    )
    what = config.add_subparsers(
        dest="config_command", metavar="WHAT", parser_class=_Parser, required=True
    )
    init = what.add_parser(
        "init", help="write the commented example config to the default path (never overwrites)"
    )
    init.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="write it here instead"
    )
    path = what.add_parser("path", help="print where the config is read from, and exit")
    path.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="as if --config PATH were given"
    )
    what.add_parser("example", help="print the commented example config")
    what.add_parser("schema", help="print the JSON Schema of the config (for editors)")


def refuse_undecodable(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
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
