"""The console as its own process (``python -m console.cli``), for the end-to-end tests.

One place for how those tests run it: this interpreter, the repository as the
working directory, ``--config`` after the command's arguments, text output and
nothing on stdin (a console that asked a question would read end of file and
stop, not wait for an answer until the timeout).  ``run_on_terminal`` is the
exception: a pseudo-terminal as standard input, with the operator's answer
typed at it, for the questions only a terminal is asked.
"""

from __future__ import annotations

import contextlib
import os
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


def run_on_terminal(
    config: Path, *args: str, typed: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run the console with a terminal (a pty) as standard input and ``typed`` typed at it.

    The text is typed ahead, as an operator on a slow link would: the terminal
    holds it until the console reads its answer.  ``"\\x04"`` (Ctrl-D) is end of
    input.  Output and errors come back through pipes, as with ``run_console``.
    """
    leader, follower = os.openpty()
    try:
        os.write(leader, typed.encode())
        process = subprocess.Popen(
            console_argv(config, *args),
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        os.close(follower)
        follower = -1
        try:
            out, err = process.communicate(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    finally:
        for fd in (leader, follower):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
