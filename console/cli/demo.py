"""``demo``: a local sandbox service, and the console opened on it."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from console.cli.common import loaded, run_tui, with_options
from console.cli.parser import PROG
from console.config import load_config
from console.errors import EXIT_OK


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
        config = with_options(loaded(load_config(sandbox.config_path)), args)
        return run_tui(config, None)
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
