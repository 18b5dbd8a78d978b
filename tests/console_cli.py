"""The console as its own process (``python -m console.cli``), for the end-to-end tests.

One place for how those tests run it: this interpreter, the repository as the
working directory, ``--config`` after the command's arguments, text output and
nothing on stdin (a console that asked a question would read end of file and
stop, not wait for an answer until the timeout).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import IO

from tests.conftest import REPO


def console_argv(config: Path, *args: str) -> list[str]:
    """The command line: ``args`` (the console's command and options), then ``--config``."""
    return [sys.executable, "-m", "console.cli", *args, "--config", str(config)]


def run_console(config: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the console to the end; its exit code and output (nothing is checked here)."""
    return subprocess.run(
        console_argv(config, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
    )


def start_console(
    config: Path,
    *args: str,
    stdout: int | IO[str] = subprocess.PIPE,
    stderr: int | IO[str] = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """Start the console in the background (its output in pipes unless told otherwise)."""
    return subprocess.Popen(
        console_argv(config, *args),
        stdout=stdout,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
