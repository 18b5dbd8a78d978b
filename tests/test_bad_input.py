"""Bad input is never "unexpected": exit 2 with one line naming it, or a warning and carry on.

Real processes (``python -m console.cli``) with real files and sockets: an
argument that is not UTF-8, an empty ``--config``, ``history --open`` with a
superscript digit, a hand-edited history or journal, a demo port that is out
of range or taken, ``--arg`` given to an action that takes none.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.demo import DemoSandbox
from console.journal import Journal, encode_event, journal_path
from console.model import Plan, Revision, Step, StepKind
from console.resume import plan_for_journal, read_state
from tests.conftest import REPO
from tests.test_config import GOOD


def cli(*args: str | bytes, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The console as a process; ``args`` may be bytes (an argument that is not UTF-8)."""
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        capture_output=True,
        text=True,
        errors="backslashreplace",
        stdin=subprocess.DEVNULL,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def assert_refused(result: subprocess.CompletedProcess[str], *names: str) -> str:
    """Exit 2, one line on stderr naming ``names``, no traceback; that line."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "unexpected" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "releases" / "v1").mkdir(parents=True)
    path = tmp_path / "config.toml"
    # A fast probe: `status` waits for the assessment's minimum sample (20 requests).
    path.write_text(GOOD + "interval_s = 0.05\nwindow_s = 5\n")
    return path


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["rollback", "web", "--yes", "--reason", b"5xx \xff spike"], "--reason"),
        (["rollback", "web", "--yes", "--reason", "x", "--to", b"v1\xfe"], "--to"),
        ([b"--reason=caf\xe9", "rollback", "web"], None),  # not an option of the main parser
        (["rollback", b"w\xffb", "--yes", "--reason", "x"], "SERVICE"),
        (["action", "web", "restart", "--yes", "--reason", b"\xc3(", "--dry-run"], "--reason"),
        (["history", "--open", b"\xff"], "--open"),
    ],
)
def test_an_argument_that_is_not_utf8_is_refused_before_anything(
    config: Path, args: list[str | bytes], name: str | None
) -> None:
    result = cli(*args, "--config", str(config))
    if name is None:
        assert result.returncode == 2 and "Traceback" not in result.stderr
        return
    line = assert_refused(result, name, "not UTF-8")
    assert "nothing was done" in line
    assert "\\x" in line  # the byte is shown escaped
    assert not (config.parent / "state").exists()
    assert not (config.parent / "rollback-history.md").exists()


@pytest.mark.e2e
def test_a_reason_that_is_not_utf8_changes_nothing_on_the_demo(sandbox: DemoSandbox) -> None:
    """It used to roll back, write the entry, then fail: exit 1, no postmortem, no message."""
    result = cli(
        "rollback",
        "web",
        "--yes",
        "--reason",
        b"bad \xff byte",
        "--config",
        str(sandbox.config_path),
    )
    assert_refused(result, "--reason", "bad \\xff byte")
    assert (sandbox.root / "current").resolve().name == "v1.3.0"
    assert not (sandbox.root / "rollback-history.md").exists()
    assert not list((sandbox.root / "state").glob("journal/*.jsonl"))


def test_an_operator_name_that_is_not_utf8_is_a_config_error(config: Path) -> None:
    config.write_text(GOOD.replace('operator = "alice"\n', ""))
    env = {**os.environ, "ROLLBACK_CONSOLE_OPERATOR": "b\udcffb"}  # the byte 0xff
    result = cli("check-config", "--config", str(config), env=env)
    assert_refused(result, str(config), "operator", "ROLLBACK_CONSOLE_OPERATOR")


@pytest.mark.parametrize("where", ["after", "before"])
def test_an_empty_config_option_is_refused(config: Path, where: str) -> None:
    args = ["check-config", "--config", ""] if where == "after" else ["--config", "", "status", "x"]
    env = {**os.environ, "ROLLBACK_CONSOLE_CONFIG": str(config)}  # would be used otherwise
    assert_refused(cli(*args, env=env), "--config", "empty")


def test_an_empty_config_variable_counts_as_unset(tmp_path: Path, config: Path) -> None:
    """Like the XDG variables: ROLLBACK_CONSOLE_CONFIG="" means the default path."""
    default = tmp_path / "xdg" / "rollback-console" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text(GOOD.replace('"releases"', f'"{config.parent / "releases"}"'))
    env = {**os.environ, "ROLLBACK_CONSOLE_CONFIG": "", "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    result = cli("check-config", env=env)
    assert result.returncode == 0, result.stderr
    assert str(default) in result.stdout


@pytest.mark.parametrize("value", ["-1", "0", "soon", "1e308", "inf", "86401"])
def test_a_verify_window_beyond_a_day_or_not_positive_is_refused(config: Path, value: str) -> None:
    result = cli(
        "rollback", "web", "--reason", "x", "--verify-window", value, "--config", str(config)
    )
    assert_refused(result, "--verify-window", value)


# --------------------------------------------------------------------------- history


def hand_written(ttr: str) -> str:
    return (
        "# Rollback history\n\n## 2026-01-05 web\n\n| Service | web |\n| Environment | prod |\n"
        f"| From | v2 |\n| To | v1 |\n| Outcome | rolled back |\n| Time to recover | {ttr} |\n"
    )


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("²", ["²"]),  # str.isdigit() says yes, int() says no
        ("١", ["١"]),  # an Arabic-Indic one: a digit, but not an entry number
        ("", ["--open"]),
        ("  ", ["--open"]),
        ("#", ["--open"]),
        ("9" * 5000, ["no entry"]),  # more digits than int() converts
        ("0", ["no entry #0"]),
    ],
    ids=["superscript", "arabic-indic", "empty", "blank", "hash", "5000-digits", "zero"],
)
def test_history_open_with_a_value_that_names_no_entry(
    config: Path, value: str, names: list[str]
) -> None:
    (config.parent / "rollback-history.md").write_text(hand_written("7m 12s"))
    assert_refused(cli("history", "--open", value, "--config", str(config)), *names)


def no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


@pytest.mark.parametrize(
    "ttr",
    ["9" * 400 + " hours", "9" * 400 + ":00:00", "9" * 5000 + "s", "99999999999999999999h"],
    ids=["400-digit-hours", "400-digit-clock", "5000-digit-seconds", "20-digit-hours"],
)
def test_a_huge_time_to_recover_reads_as_unknown_and_json_stays_json(
    config: Path, ttr: str
) -> None:
    (config.parent / "rollback-history.md").write_text(hand_written(ttr))
    listing = cli("history", "--config", str(config))
    assert listing.returncode == 0, listing.stderr
    assert "v2 -> v1" in listing.stdout
    as_json = cli("history", "--json", "--config", str(config))
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout, parse_constant=no_constants)
    (entry,) = data["entries"]
    if entry["time_to_recover_s"] is None:
        assert data["median_time_to_recover_s"] is None
    else:  # large but finite: a number JSON can hold
        assert entry["time_to_recover_s"] > 1e18
    opened = cli("history", "--open", "1", "--json", "--config", str(config))
    assert opened.returncode == 0, opened.stderr
    json.loads(opened.stdout, parse_constant=no_constants)


# --------------------------------------------------------------------------- journal


def open_incident(state_dir: Path, bad_lines: list[dict[str, object] | object]) -> Path:
    """A journal of an interrupted rollback of web, with ``bad_lines`` among its events."""
    incident = "web-20260105T020000Z-abcd"
    path = journal_path(state_dir, incident)
    journal = Journal(path)
    at = datetime(2026, 1, 5, 2, 0, tzinfo=UTC).isoformat()
    plan = Plan(
        service="web",
        environment="production",
        provider="host",
        from_revision=Revision("v2", "v2"),
        to_revision=Revision("v1", "v1"),
        steps=(Step("Point current at v1", "ln -sfn v1 current", StepKind.SWITCH, ("ln",)),),
    )
    base = {"incident": incident, "at": at}
    journal.append({**base, "event": "opened", "service": "web", "environment": "production"})
    journal.append({**base, "event": "plan", "plan": plan_for_journal(plan)})
    journal.append({**base, "event": "execute"})
    with path.open("ab") as f:
        for bad in bad_lines:
            line = (
                encode_event({**base, **bad}) if isinstance(bad, dict) else json.dumps(bad).encode()
            )
            f.write(line + b"\n")
            # hand-written, not through Journal: a value of the wrong type
    journal.append({**base, "event": "step", "index": 0, "status": "started"})
    return path


BAD_EVENTS: list[dict[str, object] | object] = [
    {"event": "step", "index": "x", "status": "finished"},
    {"event": "step", "index": [0], "status": "finished"},
    {"event": "plan", "plan": 5},
    {"event": "plan", "plan": {"to_revision": 5}},
    {"event": "assessed", "severity": "high", "sample": 5},
    {"event": "assessed", "severity": "dreadful"},
    {"event": "assessed", "severity": "high", "sample": {"error_rate": "lots"}},
    {"event": "checklist", "item": "decide", "state": 7},
    {"event": "ready", "ready": True, "waited_s": "long"},
    {"event": "verified", "verification": "yes"},
    {"event": "verified", "verification": {"passed": True, "before": [1]}},
    [1, 2, 3],
    5,
]


def test_journal_lines_of_the_wrong_type_are_skipped_with_their_line(tmp_path: Path) -> None:
    path = open_incident(tmp_path / "state", BAD_EVENTS)
    state = read_state(path)
    assert state.open and state.service == "web"
    assert state.plan is not None and state.plan.to_revision.id == "v1"
    assert state.steps_done == set() and state.step_started == 0
    assert state.before is None and state.verification is None and state.ready is None
    assert state.severity.value == "unknown" and "decide" not in state.marks
    first_bad = 4  # opened, plan, execute, then the bad ones
    assert [w.split(": ", 1)[0] for w in state.warnings] == [
        f"{path}:{first_bad + i}" for i in range(len(BAD_EVENTS))
    ]


@pytest.mark.parametrize(
    "command", [["status", "web"], ["status", "web", "--json"], ["resume", "--list"]]
)
def test_status_and_resume_warn_and_still_show_the_open_incident(
    config: Path, command: list[str]
) -> None:
    path = open_incident(config.parent / "state", BAD_EVENTS)
    result = cli(*command, "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == len(BAD_EVENTS)
    assert f"warning: {path}:4: " in warnings[0]
    if "--json" in command:
        assert json.loads(result.stdout)["open_incidents"] == [path.stem]
    else:
        assert path.stem in result.stdout


# --------------------------------------------------------------------------- demo port


def test_demo_port_out_of_range_builds_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "sandbox"
    result = cli("demo", "--no-tui", "--dir", str(folder), "--port", "99999")
    assert_refused(result, "--port", "99999", "65535")
    assert not folder.exists()


def test_demo_port_taken_builds_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "sandbox"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = cli("demo", "--no-tui", "--dir", str(folder), "--port", port)
    assert_refused(result, f"port {port}", "not free", "--port")
    assert not folder.exists()


# --------------------------------------------------------------------------- actions


def test_an_argument_to_an_action_that_takes_none_is_refused(config: Path) -> None:
    args = ["action", "web", "restart", "--arg", "x", "--reason", "r", "--yes"]
    result = cli(*args, "--config", str(config))
    line = assert_refused(result, "restart", "takes no argument", "--arg")
    assert "'x'" in line
    assert result.stdout == ""  # refused before sampling or planning anything
    assert not (config.parent / "state" / "journal").exists()


def test_an_unknown_action_lists_the_known_ones(config: Path) -> None:
    result = cli("action", "web", "explode", "--reason", "r", "--dry-run", "--config", str(config))
    assert_refused(result, "unknown action 'explode'", "known: restart")


def test_a_bad_host_log_file_stops_check_config_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "releases" / "v1").mkdir(parents=True)
    path = tmp_path / "config.toml"
    path.write_text(
        GOOD.replace('current_link = "current"', 'current_link = "current"\nlog_file = 5')
    )
    assert_refused(cli("check-config", "--config", str(path)), "services[0].host.log_file")
