"""Command line: the TUI, the demo, and the headless commands scripts rely on.

Exit codes (public contract, see DESIGN.md): 0 done, 1 rollback failed or
not verified, 2 bad input (config, arguments, unknown service, revision or
action; a confirmation answered with anything but the service name: nothing
changed), 3 refused because someone else holds the lock.  Every error is one line on
stderr; a traceback is never shown (an unexpected one is written to a crash
file in the state dir, readable by its owner only, and the line names it).

One module a concern: ``parser`` (arguments), ``output`` (printing, the
streams), ``common`` (loading the config), ``status``, ``rollback`` (and
``action``), ``resume``, ``record`` (how a headless rollback ends),
``database``, ``history``, ``demo``, ``serve``.  ``run`` holds the one ``except`` that
turns every ``ConsoleError`` into its line and exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO, cast

from console import redact
from console.cli.common import load, run_tui
from console.cli.output import ReaderMayLeave
from console.cli.parser import PROG, UsageError, build_parser, refuse_undecodable
from console.errors import EXIT_FAILED, ConsoleError
from console.textsafe import TerminalStream, printable

__all__ = ["PROG", "UsageError", "build_parser", "main", "run"]


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry; returns (and exits with) the contract's exit code.

    A reader that goes away (``status --json | head -1``) ends the output, not
    the command: what is written after that is discarded, the command finishes
    with its own exit code, and nothing is reported (like any Unix tool that
    is told to stop writing).  A rollback is never abandoned half-way because
    the pipe its log went to was closed.
    """
    out, err = ReaderMayLeave(sys.stdout), ReaderMayLeave(sys.stderr)
    try:
        code = run(argv, cast(TextIO, out), cast(TextIO, err))
    finally:
        out.flush()
        err.flush()
    sys.exit(code)


def run(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> int:
    # Everything printed is redacted and terminal-safe, whichever line prints it.
    out, err = TerminalStream.wrap(out), TerminalStream.wrap(err)
    args = argparse.Namespace()
    try:
        parser = build_parser()
        args = parser.parse_args(argv, namespace=args)
        refuse_undecodable(parser, args)
        return _dispatch(args, out, err)
    except ConsoleError as exc:
        hint = f"; {exc.hint}" if exc.hint else ""
        # Several problems found in one run (a config): a line each.
        problems: tuple[ConsoleError, ...] = getattr(exc, "problems", ())
        for each in problems[:-1]:
            print(f"{each.prefix}: {printable(str(each))}", file=err)
        last = problems[-1] if problems else exc
        print(f"{last.prefix}: {printable(str(last))}{hint}", file=err)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return 130
    except Exception as exc:
        details = _write_crash_file(exc, getattr(args, "crash_dir", None))
        print(f"error: unexpected {type(exc).__name__}: {exc} ({details})", file=err)
        return EXIT_FAILED


def _write_crash_file(exc: BaseException, state_dir: Path | None) -> str:
    """The crash report (``console.crash``) in ``state_dir``, else the default state dir;
    what the error line says about it."""
    from console.crash import crash_text, write_crash_report

    path, reason = write_crash_report(state_dir, redact.active()(crash_text(exc)))
    return f"details in {path}" if path else f"no crash report could be written: {reason}"


def _dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    # Each command's module is imported when it runs: opening the console (no command)
    # does not pay for the journal, the flow or the history parser before its first frame.
    command = args.command
    if args.version:
        from console import __version__

        print(f"{PROG} {__version__}", file=out)
        return 0
    if getattr(args, "read_only", False) and command:
        from console.errors import ReadOnlyRefused
        from console.readonly import refusal

        refused = refusal(command, args)
        if refused:  # said before anything is read or touched
            raise ReadOnlyRefused(refused)
    if command == "config":
        from console.cli.config_file import cmd_config

        return cmd_config(args, out)
    if command == "demo":
        from console.cli.demo import cmd_demo

        return cmd_demo(args, out, err)
    if command in ("check-config", "status"):
        from console.cli.status import cmd_check_config, cmd_status

        return (
            cmd_check_config(args, out) if command == "check-config" else cmd_status(args, out, err)
        )
    if command in ("rollback", "action"):
        from console.cli.rollback import cmd_action, cmd_rollback

        return (cmd_rollback if command == "rollback" else cmd_action)(args, out, err)
    if command == "history":
        from console.cli.history import cmd_history

        return cmd_history(args, out)
    if command == "resume":
        from console.cli.resume import cmd_resume

        return cmd_resume(args, out, err)
    if command == "serve":
        from console.cli.serve import cmd_serve

        return cmd_serve(args, out, err)
    if command in ("db-status", "db-backup", "db-restore"):
        from console.cli.database import cmd_database

        return cmd_database(args, out, err)
    config = load(args)
    if args.service:
        config.service(args.service)
    return run_tui(config, args.service)
