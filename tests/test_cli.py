"""The CLI contract: exit codes and one-line errors, never a traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_config import GOOD


def cli(
    *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        input=stdin,
        timeout=60,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *names: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "releases" / "v1").mkdir(parents=True)
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    return path


def test_help_lists_every_command() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for command in ("demo", "status", "rollback", "history", "check-config"):
        assert command in result.stdout
    rollback = cli("rollback", "--help")
    for flag in ("--to", "--dry-run", "--yes", "--reason", "--verify-window", "--config"):
        assert flag in rollback.stdout


def test_check_config_ok(config: Path) -> None:
    result = cli("check-config", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "web (production)" in result.stdout


def test_config_via_environment_variable(config: Path) -> None:
    import os

    env = {**os.environ, "ROLLBACK_CONSOLE_CONFIG": str(config)}
    result = subprocess.run(
        [sys.executable, "-m", "console.cli", "check-config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0
    assert str(config) in result.stdout


def test_missing_config_is_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert_one_line_error(cli("check-config", "--config", str(missing)), 2, str(missing))


@pytest.mark.parametrize(
    "command", [[], ["status", "web"], ["rollback", "web", "--dry-run"], ["check-config"]]
)
def test_no_config_anywhere_says_how_to_start(tmp_path: Path, command: list[str]) -> None:
    """A first run (no --config, nothing at the default path): the demo, --config, the example."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "ROLLBACK_CONSOLE_CONFIG"}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config-home")
    result = subprocess.run(
        [sys.executable, "-m", "console.cli", *command],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    default = tmp_path / "config-home" / "rollback-console" / "config.toml"
    assert_one_line_error(
        result,
        2,
        "no config file",
        str(default),  # where it looked
        "$ROLLBACK_CONSOLE_CONFIG is not set",
        "`rollback-console demo`",
        "--config PATH",
        "`rollback-console config init`",
        "`rollback-console config example`",
    )
    assert result.stdout == ""


def test_a_config_variable_naming_no_file_says_so_and_how_to_start(tmp_path: Path) -> None:
    import os

    missing = tmp_path / "nope.toml"
    env = {**os.environ, "ROLLBACK_CONSOLE_CONFIG": str(missing)}
    result = subprocess.run(
        [sys.executable, "-m", "console.cli", "status", "web"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert_one_line_error(
        result, 2, f"{missing} (named by $ROLLBACK_CONSOLE_CONFIG)", "`rollback-console demo`"
    )


def test_malformed_config_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[services]\nname=")
    assert_one_line_error(cli("status", "web", "--config", str(path)), 2, str(path), "TOML")


def test_unknown_key_is_exit_2(config: Path) -> None:
    config.write_text(GOOD.replace("[console]", "[console]\ncolour = 'red'"))
    assert_one_line_error(cli("check-config", "--config", str(config)), 2, "colour", "unknown key")


def test_unknown_service_is_exit_2(config: Path) -> None:
    result = cli("status", "api", "--config", str(config))
    assert_one_line_error(result, 2, "unknown service 'api'")


def test_rollback_needs_a_reason(config: Path) -> None:
    assert_one_line_error(cli("rollback", "web", "--config", str(config)), 2, "--reason")
    assert_one_line_error(
        cli("rollback", "web", "--reason", "  ", "--config", str(config)), 2, "--reason"
    )
    # Not for a dry run (which records nothing), but a blank one given is still a mistake.
    assert_one_line_error(
        cli("rollback", "web", "--dry-run", "--reason", " ", "--config", str(config)),
        2,
        "--reason must not be empty",
    )
    line = cli("action", "web", "restart", "--yes", "--config", str(config)).stderr
    assert "--reason is required to run an action" in line and "--dry-run" in line


@pytest.mark.parametrize("value", ["-1", "0", "soon"])
def test_bad_verify_window_is_exit_2(config: Path, value: str) -> None:
    result = cli(
        "rollback", "web", "--reason", "x", "--verify-window", value, "--config", str(config)
    )
    assert_one_line_error(result, 2, "--verify-window", value)


@pytest.mark.parametrize(
    ("value", "says"),
    [("yesterday", "not an ISO 8601 time"), ("2999-01-01T00:00:00Z", "in the future")],
)
def test_bad_detected_at_is_exit_2(config: Path, value: str, says: str) -> None:
    result = cli(
        "rollback", "web", "--config", str(config), "--reason", "x", "--detected-at", value
    )
    assert_one_line_error(result, 2, "--detected-at", says)


def test_unknown_command_is_exit_2() -> None:
    assert_one_line_error(cli("explode"), 2, "explode")


def test_history_without_file(config: Path) -> None:
    result = cli("history", "--config", str(config))
    assert result.returncode == 0
    assert "no history yet" in result.stdout


def test_bad_last_is_exit_2(config: Path) -> None:
    assert_one_line_error(cli("history", "--last", "zero", "--config", str(config)), 2, "--last")


def _with_console(config: Path, **values: str) -> Path:
    text = config.read_text()
    for key, value in values.items():
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {json.dumps(value)}", text)
    config.write_text(text)
    return config


@pytest.mark.parametrize(
    ("key", "make", "reason"),
    [
        ("history_file", lambda d: (d / "hist.md").symlink_to(d / "gone" / "h.md"), "symbolic"),
        ("history_file", lambda d: (d / "hist.md").mkdir(), "folder"),
        ("history_file", lambda d: (d / "hist.md").write_text("") or None, ""),
        ("state_dir", lambda d: (d / "hist.md").write_text("a file") or None, "not a folder"),
        ("state_dir", lambda d: (d / "hist.md").symlink_to(d / "gone"), "symbolic link"),
        ("state_dir", lambda d: (d / "gone").mkdir() or (d / "hist.md").symlink_to(d / "gone"), ""),
    ],
)
def test_check_config_checks_history_and_state_can_be_written(
    config: Path, key: str, make, reason: str
) -> None:
    """Before any rollback: an unwritable history file or state dir is exit 2 naming the path."""
    path = config.parent / "hist.md"
    make(config.parent)
    _with_console(config, **{key: str(path)})
    result = cli("check-config", "--config", str(config))
    if not reason:  # an empty file, a link to a folder: fine
        assert result.returncode == 0, result.stderr
        return
    assert_one_line_error(result, 2, str(path), f"console.{key}", reason)
    assert "ok" not in result.stdout


def test_check_config_names_a_state_dir_under_a_file(config: Path) -> None:
    blocker = config.parent / "blocker"
    blocker.write_text("a file where a folder should be")
    _with_console(config, state_dir=str(blocker / "state"))
    result = cli("check-config", "--config", str(config))
    assert_one_line_error(result, 2, str(blocker / "state"), "not a folder", "state_dir")
