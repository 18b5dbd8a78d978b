"""Whole-flow tests of `rollback-console rollback` on a real local service (the demo sandbox).

Real processes, real files, real HTTP: the sandbox's v1.3.0 answers most
requests with 500; the rollback must leave v1.2.9 serving, healthy, with the
error rate down, and one truthful history entry.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
import tomli_w

from console.demo import DemoSandbox

pytestmark = pytest.mark.e2e


def rollback(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", "rollback", "web", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def history_of(box: DemoSandbox) -> Path:
    return box.root / "rollback-history.md"


def served_version(box: DemoSandbox) -> str:
    return httpx.get(box.health_url.replace("/health", "/version"), timeout=5).text.strip()


def edit_config(box: DemoSandbox, change) -> None:
    data = tomllib.loads(box.config_path.read_text())
    change(data)
    box.config_path.write_text(tomli_w.dumps(data))


def field(entry: str, name: str) -> str:
    match = re.search(rf"^\| {re.escape(name)} \| (.*) \|$", entry, re.MULTILINE)
    assert match, f"field {name!r} missing from entry:\n{entry}"
    return match.group(1)


def percent(text: str) -> float:
    match = re.search(r"([\d.]+)%", text)
    assert match, text
    return float(match.group(1)) / 100


def test_rollback_to_previous_serves_old_release_healthy_and_records_everything(
    sandbox: DemoSandbox,
) -> None:
    assert "v1.3.0" in served_version(sandbox)
    result = rollback(
        sandbox.config_path, "--yes", "--reason", "5xx spike after v1.3.0", "--verify-window", "3"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr

    # The old release is really live, and healthy.
    assert (sandbox.root / "current").resolve().name == "v1.2.9"
    assert "v1.2.9" in served_version(sandbox)
    health = [httpx.get(sandbox.health_url, timeout=5).status_code for _ in range(20)]
    assert health == [200] * 20

    entry = history_of(sandbox).read_text()
    for name in (
        "Date",
        "Operator",
        "Environment",
        "Service",
        "From",
        "To",
        "Reason",
        "Severity",
        "Impact",
        "Time to recover",
        "Outcome",
    ):
        field(entry, name)
    assert "v1.3.0" in field(entry, "From")
    assert "v1.2.9" in field(entry, "To")
    assert field(entry, "Reason") == "5xx spike after v1.3.0"
    assert field(entry, "Outcome") == "rolled back and verified"
    assert field(entry, "Severity") in ("critical", "high")
    assert re.search(r"\d+m \d+s", field(entry, "Time to recover"))
    # The error rate really dropped.
    before = percent(field(entry, "Error rate before"))
    after = percent(field(entry, "Error rate after"))
    assert before >= 0.3
    assert after < 0.01
    assert "### Timeline" in entry and "### Checklist" in entry
    assert "- [x] Health checks pass" in entry

    listing = subprocess.run(
        [sys.executable, "-m", "console.cli", "history", "--config", str(sandbox.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0
    assert "v1.3.0 -> v1.2.9" in listing.stdout


def test_rollback_to_chosen_release(sandbox: DemoSandbox) -> None:
    result = rollback(
        sandbox.config_path, "--yes", "--to", "v1.2.8", "--reason", "bad", "--verify-window", "2"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "v1.2.8" in served_version(sandbox)


@pytest.mark.parametrize("reason", [["--reason", "look first"], []], ids=["reason", "no-reason"])
def test_dry_run_changes_nothing(sandbox: DemoSandbox, reason: list[str]) -> None:
    """A dry run needs no --reason: it changes nothing and records nothing."""
    result = rollback(sandbox.config_path, "--dry-run", *reason)
    assert result.returncode == 0, result.stderr
    assert "ln -sfn" in result.stdout
    assert "dry run: nothing was changed" in result.stdout
    assert (sandbox.root / "current").resolve().name == "v1.3.0"
    assert not history_of(sandbox).exists()
    assert not (sandbox.root / "state" / "journal").exists()


def test_unknown_release_is_exit_2_and_history_untouched(sandbox: DemoSandbox) -> None:
    history_of(sandbox).write_text("# Rollback history\n\nearlier entry\n")
    before = history_of(sandbox).read_bytes()
    result = rollback(sandbox.config_path, "--yes", "--to", "v0.0.1", "--reason", "x")
    assert result.returncode == 2
    assert "v0.0.1" in result.stderr
    assert "Traceback" not in result.stderr
    assert history_of(sandbox).read_bytes() == before
    assert (sandbox.root / "current").resolve().name == "v1.3.0"


def health_requests(box: DemoSandbox) -> int:
    """How many requests to /health the demo service has logged so far."""
    return box.log_file.read_text(errors="replace").count('"GET /health ')


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["rollback", "web", "--to", "v0.0.1", "--yes", "--reason", "x"], ["'v0.0.1'", "v1.2.9"]),
        (["rollback", "web", "--to", "v0.0.1", "--dry-run"], ["'v0.0.1'", "v1.2.8"]),
        (["action", "web", "restrat", "--yes", "--reason", "x"], ["'restrat'", "known: restart"]),
    ],
    ids=["to", "to-dry-run", "action"],
)
def test_an_unknown_target_or_action_is_refused_before_the_service_is_sampled(
    sandbox: DemoSandbox, args: list[str], names: list[str]
) -> None:
    """One line naming the value and the valid ones, exit 2: no 30 s wait for a sample first,
    not one request to the service, nothing journaled, no lock taken."""
    requests = health_requests(sandbox)
    result = subprocess.run(
        [sys.executable, "-m", "console.cli", *args, "--config", str(sandbox.config_path)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for name in names:
        assert name in lines[0]
    assert result.stdout == ""  # not "reading health and error rate ..."
    assert health_requests(sandbox) == requests
    state = sandbox.root / "state"
    assert not (state / "journal").exists() and not (state / "locks").exists()
    assert (sandbox.root / "current").resolve().name == "v1.3.0"


def test_without_yes_and_no_terminal_refuses(sandbox: DemoSandbox) -> None:
    result = rollback(sandbox.config_path, "--reason", "x")
    assert result.returncode == 2
    assert "--yes" in result.stderr
    assert (sandbox.root / "current").resolve().name == "v1.3.0"


def test_failing_restart_is_exit_1_and_recorded_truthfully(sandbox: DemoSandbox) -> None:
    edit_config(
        sandbox,
        lambda d: d["services"][0]["host"].__setitem__(
            "restart", [sys.executable, "-c", "import sys; print('unit failed'); sys.exit(3)"]
        ),
    )
    result = rollback(sandbox.config_path, "--yes", "--reason", "x")
    assert result.returncode == 1
    assert "exited 3" in result.stderr
    entry = history_of(sandbox).read_text()
    assert field(entry, "Outcome") == "rollback failed"
    assert "unit failed" in entry
    assert field(entry, "Time to recover").startswith("not recovered")


def test_hanging_restart_times_out(sandbox: DemoSandbox) -> None:
    def hang(d: dict) -> None:
        d["services"][0]["host"]["restart"] = [sys.executable, "-c", "import time; time.sleep(60)"]
        d["services"][0]["host"]["command_timeout_s"] = 1

    edit_config(sandbox, hang)
    result = rollback(sandbox.config_path, "--yes", "--reason", "x")
    assert result.returncode == 1
    assert "time" in result.stderr.lower()
    assert field(history_of(sandbox).read_text(), "Outcome") == "rollback failed"


def test_health_url_refusing_connections_is_not_verified(sandbox: DemoSandbox) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]

    def point_at_dead_port(d: dict) -> None:
        d["services"][0]["health"] = [{"url": f"http://127.0.0.1:{dead}/health"}]

    edit_config(sandbox, point_at_dead_port)
    result = rollback(sandbox.config_path, "--yes", "--reason", "x", "--verify-window", "2")
    assert result.returncode == 1
    assert "NOT VERIFIED" in result.stdout
    entry = history_of(sandbox).read_text()
    assert field(entry, "Outcome") == "rolled back, not verified"
    assert field(entry, "Time to recover").startswith("not recovered")


def test_lock_held_by_another_console_is_exit_3(sandbox: DemoSandbox) -> None:
    from console.config import load_config
    from console.lock import ServiceLock

    config = load_config(sandbox.config_path)
    with ServiceLock(config.console.state_dir, config.service("web"), "bob"):
        result = rollback(sandbox.config_path, "--yes", "--reason", "x")
    assert result.returncode == 3
    assert "bob" in result.stderr
    assert (sandbox.root / "current").resolve().name == "v1.3.0"


# --------------------------------------------------------------------------- issue 11


def break_release(box: DemoSandbox, release: str, error_rate: float, slow_ms: int = 0) -> None:
    """Make ``release`` answer 500 to that share of / and /health (after ``slow_ms``)."""
    behaviour = {"error_rate": error_rate, "slow_ms": slow_ms, "seed": 7}
    (box.root / "releases" / release / "release.json").write_text(json.dumps(behaviour) + "\n")


def verdict_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(("verified:", "NOT VERIFIED"))]


def test_a_short_window_on_a_release_answering_500_is_never_verified(
    sandbox: DemoSandbox,
) -> None:
    break_release(sandbox, "v1.2.9", 1.0)
    result = rollback(sandbox.config_path, "--yes", "--reason", "x", "--verify-window", "0.4")
    assert result.returncode == 1, result.stdout + result.stderr
    (verdict,) = verdict_lines(result.stdout)
    assert verdict.startswith("NOT VERIFIED: ")
    assert field(history_of(sandbox).read_text(), "Outcome") == "rolled back, not verified"


def test_slow_500s_behind_a_health_endpoint_that_always_answers_are_not_verified(
    sandbox: DemoSandbox,
) -> None:
    """The health URL (/version) answers 200 whatever the release does; the error rate is
    probed on / (slow 500s) and /version.  Counting only the answers that came back
    within a 0.4 s window read "error rate 0.0%": the slow 500s were still in flight."""
    break_release(sandbox, "v1.2.9", 1.0, slow_ms=700)
    base = sandbox.health_url.removesuffix("/health")

    def lying_health(d: dict) -> None:
        svc = d["services"][0]
        svc["health"] = [{"url": f"{base}/version"}]
        svc["error_rate"]["urls"] = [f"{base}/version", f"{base}/"]

    edit_config(sandbox, lying_health)
    result = rollback(sandbox.config_path, "--yes", "--reason", "x", "--verify-window", "0.4")
    assert result.returncode == 1, result.stdout + result.stderr
    (verdict,) = verdict_lines(result.stdout)
    assert verdict.startswith("NOT VERIFIED: ")
    assert re.search(r"error rate (\d+\.\d)% of \d+ requests", verdict), verdict
    assert percent(verdict.split("error rate ", 1)[1]) >= 0.2, verdict
    entry = history_of(sandbox).read_text()
    assert field(entry, "Outcome") == "rolled back, not verified"
    assert field(entry, "Time to recover").startswith("not recovered")


def status(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", "status", "web", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("error_rate", "severity"), [(1.0, "critical"), (0.0, "low")], ids=["down", "healthy"]
)
def test_status_text_and_json_say_the_same_severity(
    sandbox: DemoSandbox, error_rate: float, severity: str
) -> None:
    break_release(sandbox, "v1.3.0", error_rate)
    sandbox.start()  # restart the live release with its new behaviour
    text = status(sandbox.config_path)
    as_json = status(sandbox.config_path, "--json")
    assert text.returncode == 0 and as_json.returncode == 0, text.stderr + as_json.stderr
    assessment = json.loads(as_json.stdout)["assessment"]
    assert assessment["severity"] == severity
    assert assessment["assessing"] is False
    assert assessment["samples"] >= assessment["samples_needed"] == 20
    assert f"  {assessment['summary']}\n" in text.stdout
    assert assessment["summary"].startswith(f"severity {severity}: ")
    # The error rate measured over the sample (>= 20 requests), not one health check's answer.
    measured = re.search(r"^  error rate: (\d+\.\d)% of (\d+) requests", text.stdout, re.M)
    assert measured, text.stdout
    assert measured.group(1) == f"{assessment['error_rate'] * 100:.1f}"
    assert int(measured.group(2)) >= 20
    reason = re.search(r"^    - error rate (\d+\.\d)% >=", text.stdout, re.M)
    if reason:  # the reasons quote the same number
        assert reason.group(1) == measured.group(1)
    assert (reason is not None) is (severity == "critical")


def test_headless_rollback_decides_on_the_minimum_sample(sandbox: DemoSandbox) -> None:
    """The broken demo (v1.3.0, ~60% errors) once read "severity low" after ~1 s of data."""
    result = rollback(sandbox.config_path, "--dry-run", "--reason", "look first")
    assert result.returncode == 0, result.stderr
    assert "a severity needs 20 requests" in result.stdout
    line = next(x for x in result.stdout.splitlines() if x.startswith(("severity", "assessing")))
    assert line.startswith(("severity critical", "severity high")), result.stdout


def test_time_to_recover_counts_from_detected_at(sandbox: DemoSandbox) -> None:
    from datetime import UTC, datetime, timedelta

    from console.history import parse_duration

    seen = (datetime.now(UTC) - timedelta(minutes=10)).astimezone().isoformat(timespec="seconds")
    result = rollback(
        sandbox.config_path, "--yes", "--reason", "x", "--verify-window", "1", "--detected-at", seen
    )
    assert result.returncode == 0, result.stdout + result.stderr
    entry = history_of(sandbox).read_text()
    ttr = parse_duration(field(entry, "Time to recover"))
    assert ttr is not None and 600 <= ttr < 900, field(entry, "Time to recover")
    detected = datetime.fromisoformat(seen).astimezone().strftime("%H:%M:%S")
    assert f"(detected {detected} → verified" in field(entry, "Time to recover")
