"""End to end: ``action k-back pitr --arg TIME`` on Cloud Run, with Cloud SQL or Neon.

The console runs as its own process against three fakes at once: the Cloud
Run Admin API (``tests/cloudrun_server``), and the database platform: the
Cloud SQL Admin API (``tests/cloudsql_server``) or the Neon API
(``tests/neon_server``).  A restore must make exactly one new instance or
branch at the chosen time, roll one new revision whose ``DATABASE_URL`` is
the live DSN pointed at the new host (read back from the fake), verify the
service, and write the entry with the loss window; the DSN (its password)
appears in no output, journal or entry.  Killed after the restore call and
resumed, it never makes a second instance, branch or revision.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cloudrun_server import CloudRunServer
from tests.cloudrun_server.fixtures import IMAGE, PROJECT, REGION, SERVICE, console_toml
from tests.cloudrun_server.store import LATEST, REVISION
from tests.console_cli import run_console, start_console
from tests.pitr_platforms import (
    NEON_KEY,
    PASSWORD,
    Platform,
    everything_written,
    made_at,
    platform_fixture,  # noqa: F401 - fixture "platform"
    stamp,
)
from tests.signals import FlipServer, healthy

pytestmark = pytest.mark.e2e

LIVE_REVISION = "k-back-00042-abc"


@pytest.fixture
def run() -> Iterator[CloudRunServer]:
    with CloudRunServer() as server:
        store = server.store
        now = datetime.now(UTC)
        name = store.add_service(PROJECT, REGION, SERVICE, created=now - timedelta(days=30))
        for rev, version, age in (
            ("k-back-00041-xyz", "v1.2.9", timedelta(hours=3)),
            (LIVE_REVISION, "v1.3.0", timedelta(minutes=20)),
        ):
            store.deploy(
                name,
                f"{IMAGE}:{version}",
                revision=rev,
                created=now - age,
                template={
                    "containers": [
                        {"name": "app", "env": [{"name": "DATABASE_URL", "value": "see env"}]}
                    ]
                },
            )
        store.set_traffic(
            name,
            [
                {"type": LATEST, "percent": 100},
                {"type": REVISION, "revision": "k-back-00041-xyz", "percent": 0, "tag": "prev"},
            ],
        )
        server.monitoring.steady(SERVICE, per_s=20, error_ratio=0.0, latency_ms=120, region=REGION)
        yield server


@pytest.fixture
def config(
    tmp_path: Path,
    run: CloudRunServer,
    platform: Platform,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    health = FlipServer(healthy)
    monkeypatch.setenv("DATABASE_URL", platform.live_dsn)
    monkeypatch.setenv("NEON_API_KEY", NEON_KEY)
    path = tmp_path / "config.toml"
    text = console_toml(
        endpoint=run.url,
        health_url=health.url,
        monitoring_url=run.url,
        gate_s=0.5,
        operation_timeout_s=20,
    )
    path.write_text(
        text
        + '\n[services.database]\ndsn_env = "DATABASE_URL"\nmigrations = "none"\n'
        + "require_backup = false\n"
        + platform.toml,
        encoding="utf-8",
    )
    yield path
    health.close()


def new_revision(when: datetime) -> str:
    return f"{SERVICE}-pitr-{when:%Y%m%dt%H%M%Sz}"


def env_of(run: CloudRunServer, revision: str) -> str:
    rev = run.store.revisions[
        f"projects/{PROJECT}/locations/{REGION}/services/{SERVICE}/revisions/{revision}"
    ]
    (app,) = rev["containers"]
    return next(str(e["value"]) for e in app["env"] if e["name"] == "DATABASE_URL")


def assert_switched(run: CloudRunServer, platform: Platform, when: datetime) -> None:
    name = f"{SERVICE}-pitr-{when:%Y%m%dt%H%M%Sz}"
    revision = new_revision(when)
    host = platform.new_host(name)
    dsn = env_of(run, revision)
    assert PASSWORD in dsn and "appdb" in dsn
    from providers.database.pg import read_dsn

    params = read_dsn("X", {"X": dsn}).params
    assert params["host"] == host and params["password"] == PASSWORD
    assert params["dbname"] == "appdb" and params["user"] == "app"
    svc = run.store.public_service(f"projects/{PROJECT}/locations/{REGION}/services/{SERVICE}")
    assert svc["latestReadyRevision"].endswith(f"/revisions/{revision}")
    served = {s.get("revision"): s["percent"] for s in svc["trafficStatuses"]}
    assert served[revision] == 100
    assert env_of(run, LIVE_REVISION) == "see env"  # the live revision is left as it was


def test_pitr_restores_at_the_time_and_rolls_a_revision_reading_the_new_dsn(
    config: Path, run: CloudRunServer, platform: Platform, tmp_path: Path
) -> None:
    listed = run_console(config, "action", SERVICE, "--list")
    assert "pitr" in listed.stdout, listed.stdout + listed.stderr
    when = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)
    result = run_console(
        config,
        "action",
        SERVICE,
        "pitr",
        "--arg",
        stamp(when),
        "--yes",
        "--reason",
        "orders corrupted by v1.3.0",
        "--verify-window",
        "1",
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    made_at(platform, f"{SERVICE}-pitr-{when:%Y%m%dt%H%M%Sz}", when)
    assert_switched(run, platform, when)
    assert "<new DSN: host " in out and "db appdb>" in out
    entries = "".join(p.read_text() for p in tmp_path.rglob("rollback-history.md"))
    assert "DATA LOSS: writes between" in entries
    assert "database restored to a point in time" in entries
    assert PASSWORD not in out and PASSWORD not in everything_written(tmp_path)
    assert NEON_KEY not in everything_written(tmp_path)


def test_pitr_refuses_a_time_outside_the_window(
    config: Path, run: CloudRunServer, platform: Platform
) -> None:
    revisions = set(run.store.revisions)
    early = stamp(datetime.now(UTC) - timedelta(days=30))
    result = run_console(
        config, "action", SERVICE, "pitr", "--arg", early, "--yes", "--reason", "x"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "before" in lines[0] and "restorable:" in lines[0]
    assert platform.made() == [] and set(run.store.revisions) == revisions


def test_pitr_killed_after_the_restore_call_resumes_without_a_second_one(
    config: Path, run: CloudRunServer, platform: Platform, tmp_path: Path
) -> None:
    platform.slow_down()
    when = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    console = start_console(
        config, "action", SERVICE, "pitr", "--arg", stamp(when), "--yes", "--reason", "corrupt"
    )
    try:
        for _ in range(600):
            if platform.made() or console.poll() is not None:
                break
            time.sleep(0.05)
        assert platform.made(), console.communicate()
        time.sleep(0.3)
        console.send_signal(signal.SIGKILL)
        console.wait()
    finally:
        if console.poll() is None:
            console.kill()
    assert not any(r.endswith(new_revision(when)) for r in run.store.revisions)
    resumed = run_console(config, "resume", SERVICE, "--yes", "--verify-window", "1")
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out
    assert len(platform.made()) == 1
    assert_switched(run, platform, when)
    assert sum(1 for r in run.store.revisions if r.endswith(new_revision(when))) == 1
    assert PASSWORD not in out and PASSWORD not in everything_written(tmp_path)


def with_database(config: Path, pitr_table: str) -> None:
    """The config with its pitr engine table replaced by ``pitr_table``."""
    text = config.read_text()
    start = text.index("[services.database.pitr.")
    config.write_text(text[:start] + pitr_table)


@pytest.mark.parametrize("platform", ["cloudsql"], indirect=True)
@pytest.mark.parametrize(
    ("table", "named"),
    [
        ('[services.database.pitr.cloudsql]\nproject = "p"\n', "pitr.cloudsql.instance"),
        (
            '[services.database.pitr.cloudsql]\nproject = "p"\ninstance = "K_DB"\n',
            "pitr.cloudsql.instance",
        ),
        (
            '[services.database.pitr.cloudsql]\nproject = "p"\ninstance = "k"\n'
            'api_endpoint = "sqladmin"\n',
            "pitr.cloudsql.api_endpoint",
        ),
        (
            '[services.database.pitr.neon]\nproject_id = "p"\napi_key_env = "napi-0123/abc"\n',
            "pitr.neon.api_key_env",
        ),
        ('[services.database.pitr.neon]\nproject_id = "p"\nbranch = "main"\n', "pitr.neon.branch"),
    ],
)
def test_bad_engine_config_is_named_in_one_line(
    config: Path, platform: Platform, table: str, named: str
) -> None:
    with_database(config, table)
    result = run_console(config, "check-config")
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("platform", ["cloudsql"], indirect=True)
def test_pinned_traffic_goes_to_the_new_revision(
    config: Path, run: CloudRunServer, platform: Platform
) -> None:
    name = f"projects/{PROJECT}/locations/{REGION}/services/{SERVICE}"
    run.store.set_traffic(
        name, [{"type": REVISION, "revision": "k-back-00041-xyz", "percent": 100, "tag": "prev"}]
    )
    when = (datetime.now(UTC) - timedelta(minutes=15)).replace(microsecond=0)
    args = ("action", SERVICE, "pitr", "--arg", stamp(when), "--yes", "--reason", "corrupt")
    result = run_console(config, *args, "--verify-window", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    svc = run.store.public_service(name)
    assert sorted(
        (s.get("revision"), s["percent"], s.get("tag", "")) for s in svc["trafficStatuses"]
    ) == [
        ("k-back-00041-xyz", 0, "prev"),
        (new_revision(when), 100, ""),
    ]

    # A DSN from Secret Manager: tests/providers/test_cloudrun_pitr_secret.py.


@pytest.mark.parametrize("platform", ["neon"], indirect=True)
def test_a_missing_neon_key_is_named(
    config: Path, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEON_API_KEY")
    when = stamp(datetime.now(UTC) - timedelta(minutes=5))
    result = run_console(config, "action", SERVICE, "pitr", "--arg", when, "--yes", "--reason", "x")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "NEON_API_KEY is not set" in result.stderr and "Traceback" not in result.stderr
    assert platform.made() == []


@pytest.mark.parametrize("platform", ["cloudsql"], indirect=True)
def test_the_checks_run_on_the_clone_beside_the_live_database(
    config: Path, run: CloudRunServer, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clone's address is a real PostgreSQL here, so the checks step really connects."""
    from tests.pg_fixture import shared_server

    pg = shared_server()
    database = pg.create_database()
    pg.sql(database, "CREATE TABLE orders (id int); INSERT INTO orders VALUES (1), (2), (3)")
    monkeypatch.setenv("DATABASE_URL", pg.dsn(database))
    with config.open("a") as f:
        f.write(
            '\n[[services.database.checks]]\nname = "orders"\nsql = "SELECT count(*) FROM orders"\n'
        )
    platform.point_clones_at("127.0.0.1")
    when = stamp(datetime.now(UTC) - timedelta(minutes=5))
    args = ("action", SERVICE, "pitr", "--arg", when, "--yes", "--reason", "x")
    result = run_console(config, *args, "--verify-window", "1")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "check orders: live 3 | restored 3" in out
    assert pg.password not in out


@pytest.mark.parametrize("platform", ["neon"], indirect=True)
def test_a_neon_operation_failed_after_a_kill_fails_the_resumed_wait_not_a_timeout(
    config: Path, run: CloudRunServer, platform: Platform, tmp_path: Path
) -> None:
    """The console is killed after the create call; the branch's operation then fails.
    The resumed wait (the operations' ids died with the console) says which and why."""
    platform.slow_down()
    platform.fail_next("could not reach the pageserver")
    when = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    console = start_console(
        config, "action", SERVICE, "pitr", "--arg", stamp(when), "--yes", "--reason", "corrupt"
    )
    try:
        for _ in range(600):
            if platform.made() or console.poll() is not None:
                break
            time.sleep(0.05)
        assert platform.made(), console.communicate()
        console.send_signal(signal.SIGKILL)
        console.wait()
    finally:
        if console.poll() is None:
            console.kill()
    resumed = run_console(config, "resume", SERVICE, "--yes", "--verify-window", "1")
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode != 0, out
    assert "Neon operation create_branch " in out
    assert "failed: could not reach the pageserver" in out
    assert "did not finish within" not in out  # a failure, not a timeout
    assert len(platform.made()) == 1  # not created again
    assert not any(r.endswith(new_revision(when)) for r in run.store.revisions)  # no switch
    assert PASSWORD not in out
    # The restore step's command names the project's real parent branch.
    assert f"--parent production@{when:%Y-%m-%dT%H:%M:%SZ}" in everything_written(tmp_path)
