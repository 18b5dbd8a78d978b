"""A config with several problems: one run reports every one, each with its line.

Dotted keys (``host.releases_dir = …``) and inline tables (``host = { … }``)
have no header of their own: their lines are found all the same.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from console.config import ConfigError, load_config
from tests.conftest import REPO

CONFIG = """\
[console]
languag = "en"

[[services]]
name = "a"
environment = "prod"
provider = "host"
verify_window_s = -1
host = { strategy = "symlink", releases_dir = "missing-a", current_link = "c", bogus = 1 }
[[services.health]]
url = "http://127.0.0.1:9/health"

[[services]]
name = "b"
environment = "prod"
provider = "host"
host.strategy = "symlink"
host.releases_dir = "missing-b"
host.current_link = "c"
[[services.health]]
url = "http://127.0.0.1:9/health"
timeout_s = "x"
"""

#: (line, dotted key, what) of every problem, in the file's order.
EXPECTED = [
    (2, "console.languag", "unknown key"),
    (8, "services[0].verify_window_s", "must be greater than 0"),
    (9, "services[0].host.bogus", "unknown key"),
    (9, "services[0].host.releases_dir", "path does not exist"),
    (18, "services[1].host.releases_dir", "path does not exist"),
    (22, "services[1].health[0].timeout_s", "expected a number"),
]


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems  # type: ignore[attr-defined]
    assert [(p.line, p.key) for p in problems] == [(n, k) for n, k, _ in EXPECTED]
    for problem, (_, _, what) in zip(problems, EXPECTED, strict=True):
        assert what in problem.message
    assert str(info.value).endswith(f"(1 of {len(EXPECTED)} problems)")


def test_the_cli_prints_a_line_a_problem_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    result = subprocess.run(
        [sys.executable, "-m", "console.cli", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == len(EXPECTED), result.stderr
    for line, (number, key, what) in zip(lines, EXPECTED, strict=True):
        assert line.startswith(f"error: {path}:{number}: {key}: {what}"), line


def test_one_problem_is_one_error_as_before(tmp_path: Path) -> None:
    (tmp_path / "releases").mkdir()
    path = tmp_path / "config.toml"
    text = CONFIG.split('\n[[services]]\nname = "b"')[0]
    text = text.replace("verify_window_s = -1", "verify_window_s = 5")
    path.write_text(text.replace("missing-a", "releases").replace(", bogus = 1", ""))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert not hasattr(info.value, "problems")
    assert str(info.value) == f"{path}:2: console.languag: unknown key"


def test_every_bad_key_of_the_console_table_is_reported(tmp_path: Path) -> None:
    """``[console]``'s keys are read one by one too: a bad boolean does not hide a bad
    theme or remote after it."""
    path = tmp_path / "config.toml"
    path.write_text(
        '[console]\nread_only = "yes"\ntheme = "nope"\nhistory_remote = "-x"\n'
        "[[services]]\nname = 'a'\nenvironment = 'prod'\nprovider = 'host'\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems  # type: ignore[attr-defined]
    keys = [(p.line, p.key) for p in problems]
    assert keys[:3] == [
        (2, "console.read_only"),
        (3, "console.theme"),
        (4, "console.history_remote"),
    ]
