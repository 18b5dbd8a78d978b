"""A reader that goes away (``| head -1``) ends the output quietly, like any Unix tool.

Real processes and real pipes: the console writes into a pipe whose reader
(``head``, or nobody at all) closes it before the end.  It must end with its
own exit code (or the shell's 141 for SIGPIPE), print nothing about it on
standard error, and write no crash report.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from console.demo import DemoSandbox
from tests.conftest import REPO
from tests.console_cli import console_argv
from tests.test_config import GOOD

#: Exit statuses of a command whose reader went away: done, or ended by SIGPIPE.
QUIET_ENDS = (0, 128 + signal.SIGPIPE, -signal.SIGPIPE)

#: Enough hand-written entries that ``history`` writes far more than a pipe holds (64 KiB).
ENTRIES = 2500


def hand_written_history(count: int) -> str:
    sections = [
        f"## 2026-01-{1 + i % 28:02d} web\n\n| Service | web |\n| Environment | production |\n"
        f"| From | v1.{i}.1 |\n| To | v1.{i}.0 |\n| Time to recover | 7m 12s |\n"
        for i in range(count)
    ]
    return "# Rollback history\n\n" + "\n".join(sections)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "releases" / "v1").mkdir(parents=True)
    (tmp_path / "rollback-history.md").write_text(hand_written_history(ENTRIES))
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    return path


def piped_into(argv: list[str], reader: list[str]) -> tuple[int, str, bytes]:
    """``argv | reader`` as a shell runs it: the console's exit code, its stderr, what was read."""
    console = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=REPO
    )
    assert console.stdout is not None and console.stderr is not None
    head = subprocess.Popen(reader, stdin=console.stdout, stdout=subprocess.PIPE)
    console.stdout.close()  # the reader holds the only read end now
    read, _ = head.communicate(timeout=120)
    stderr = console.stderr.read().decode("utf-8", errors="replace")
    console.stderr.close()
    return console.wait(timeout=120), stderr, read


def into_closed_pipe(argv: list[str]) -> tuple[int, str]:
    """The console writing into a pipe nobody reads any more (closed before its first write)."""
    read_end, write_end = os.pipe()
    try:
        console = subprocess.Popen(
            argv, stdout=write_end, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=REPO
        )
    finally:
        os.close(write_end)
        os.close(read_end)
    _, stderr = console.communicate(timeout=120)
    return console.returncode, stderr.decode("utf-8", errors="replace")


def assert_quiet(code: int, stderr: str, crash_dir: Path) -> None:
    assert code in QUIET_ENDS, stderr
    assert stderr == ""
    assert not list(crash_dir.glob("rollback-console-crash-*"))


@pytest.fixture
def crash_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp folder of the console's own, so a crash report it writes can be found."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


@pytest.mark.parametrize("args", [("history",), ("history", "--json")])
def test_history_into_head_ends_quietly(config: Path, crash_dir: Path, args: tuple[str]) -> None:
    code, stderr, read = piped_into(console_argv(config, *args), ["head", "-1"])
    assert read.count(b"\n") == 1
    assert_quiet(code, stderr, crash_dir)


@pytest.mark.parametrize(
    "args", [("history", "--json"), ("history", "--last", "3"), ("check-config",)]
)
def test_output_into_a_closed_pipe_ends_quietly(
    config: Path, crash_dir: Path, args: tuple[str]
) -> None:
    code, stderr = into_closed_pipe(console_argv(config, *args))
    assert_quiet(code, stderr, crash_dir)


@pytest.mark.e2e
def test_status_json_and_dry_run_into_head_end_quietly(
    sandbox: DemoSandbox, crash_dir: Path
) -> None:
    code, stderr = into_closed_pipe(console_argv(sandbox.config_path, "status", "web", "--json"))
    assert_quiet(code, stderr, crash_dir)
    code, stderr, read = piped_into(
        console_argv(sandbox.config_path, "rollback", "web", "--dry-run", "--reason", "x"),
        ["head", "-1"],
    )
    assert read.startswith(b"web (demo): current v1.3.0")
    assert_quiet(code, stderr, crash_dir)


@pytest.mark.e2e
def test_a_rollback_whose_reader_left_still_finishes_and_records(
    sandbox: DemoSandbox, crash_dir: Path
) -> None:
    """The log's reader going away must not abandon a rollback half-way."""
    argv = console_argv(
        sandbox.config_path, "rollback", "web", "--yes", "--reason", "5xx", "--verify-window", "2"
    )
    code, stderr, read = piped_into(argv, ["head", "-1"])
    assert read.startswith(b"web (demo): current v1.3.0")
    assert_quiet(code, stderr, crash_dir)
    assert code == 0
    assert (sandbox.root / "current").resolve().name == "v1.2.9"
    assert "rolled back and verified" in (sandbox.root / "rollback-history.md").read_text()


def test_output_closed_from_the_start_is_like_dev_null(config: Path, crash_dir: Path) -> None:
    """``rollback-console history --json >&-``: Python starts with no stdout at all."""
    result = subprocess.run(
        ["sh", "-c", f"{shlex.join(console_argv(config, 'history', '--json'))} >&-"],
        capture_output=True,
        text=True,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert_quiet(result.returncode, result.stderr, crash_dir)
    assert result.returncode == 0
