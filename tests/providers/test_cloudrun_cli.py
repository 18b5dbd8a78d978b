"""End to end: ``rollback-console`` in a subprocess against the fake Cloud Run API.

The console reads a real TOML config whose Cloud Run endpoint is the fake,
whose health check is a real local HTTP server and whose error rate comes
from Cloud Monitoring (served by the fake too).  The rollback must leave the
fake serving the earlier revision and write one truthful history entry.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.cli import run as run_cli
from tests.cloudrun_server import CloudRunServer
from tests.cloudrun_server.fixtures import (
    CURRENT,
    PREVIOUS,
    PROJECT,
    REGION,
    SERVICE,
    Scenario,
    console_toml,
    runbook_service,
)
from tests.signals import FlipServer, healthy

pytestmark = pytest.mark.e2e


@pytest.fixture
def scenario() -> Iterator[Scenario]:
    with CloudRunServer() as server:
        scenario = runbook_service(server)
        server.monitoring.steady(SERVICE, per_s=20, error_ratio=0.0, latency_ms=120, region=REGION)
        yield scenario


@pytest.fixture
def health() -> Iterator[FlipServer]:
    srv = FlipServer(healthy)
    yield srv
    srv.close()


@pytest.fixture
def config(tmp_path: Path, scenario: Scenario, health: FlipServer) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        console_toml(
            endpoint=scenario.endpoint,
            health_url=health.url,
            monitoring_url=scenario.endpoint,
            gate_s=0.5,
            operation_timeout_s=20,
        ),
        encoding="utf-8",
    )
    return path


def console(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("rollback-console")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "console.cli"]
    return subprocess.run(
        [*argv, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def field(entry: str, name: str) -> str:
    match = re.search(rf"^\| {re.escape(name)} \| (.*) \|$", entry, re.MULTILINE)
    assert match, f"field {name!r} missing from entry:\n{entry}"
    return match.group(1)


def test_rollback_moves_traffic_to_the_earlier_revision_and_records_it(
    config: Path, scenario: Scenario
) -> None:
    result = console(
        "rollback", SERVICE, "--yes", "--reason", "5xx after v1.3.0", "--config", str(config)
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert (
        f"gcloud run services update-traffic {SERVICE} --region {REGION} --project {PROJECT} "
        f"--to-revisions {PREVIOUS}=100" in result.stdout
    )
    assert "verified:" in result.stdout

    # The platform really serves the earlier revision, the tag kept where it was.
    assert scenario.served() == [(PREVIOUS, 0, "prev"), (PREVIOUS, 100, "")]

    entry = (config.parent / "rollback-history.md").read_text(encoding="utf-8")
    assert "v1.3.0" in field(entry, "From") and CURRENT in field(entry, "From")
    assert "v1.2.9" in field(entry, "To") and PREVIOUS in field(entry, "To")
    assert field(entry, "Reason") == "5xx after v1.3.0"
    assert field(entry, "Outcome") == "rolled back and verified"
    # The pin is said in the entry: later deploys get no traffic until sent to LATEST.
    assert "later deploys get no traffic" in entry
    assert "--to-latest" in entry


def test_gradual_action_from_the_cli_ends_on_the_earlier_revision(
    config: Path, scenario: Scenario
) -> None:
    result = console(
        "action",
        SERVICE,
        "gradual",
        "--arg",
        PREVIOUS,
        "--yes",
        "--reason",
        "canary back",
        "--config",
        str(config),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gate 1 passed at 10%" in result.stdout
    assert "gate 2 passed at 50%" in result.stdout
    assert scenario.served() == [(PREVIOUS, 0, "prev"), (PREVIOUS, 100, "")]
    assert len(scenario.server.received("PATCH")) == 3


# In-process (``console.cli.run``): the same code without a second interpreter's start-up.


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_cli(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


def test_dry_run_shows_the_commands_and_changes_nothing(config: Path, scenario: Scenario) -> None:
    code, out, err = cli(
        "action", SERVICE, "gradual", "--arg", "v1.2.9", "--dry-run",
        "--reason", "check the plan", "--config", str(config),
    )  # fmt: skip
    assert code == 0, out + err
    assert f"--to-revisions {PREVIOUS}=10,{CURRENT}=90" in out
    assert f"--to-revisions {PREVIOUS}=50,{CURRENT}=50" in out
    assert "if the gate fails: gcloud run services update-traffic" in out
    assert "dry run: nothing was changed" in out
    assert scenario.server.received("PATCH") == []


def test_bad_revision_is_exit_2_with_one_line(config: Path, scenario: Scenario) -> None:
    code, out, err = cli(
        "rollback", SERVICE, "--to", "k-back-09999-zzz", "--yes", "--reason", "x",
        "--config", str(config),
    )  # fmt: skip
    assert code == 2, out + err
    assert "revision 'k-back-09999-zzz' not found" in err
    assert len(err.strip().splitlines()) == 1
    assert scenario.server.received("PATCH") == []


def test_status_prints_the_live_state(config: Path) -> None:
    code, out, err = cli("status", SERVICE, "--config", str(config))
    assert code == 0, out + err
    assert "current:  v1.3.0" in out
    assert PREVIOUS in out
    assert "serving 100%" in out
