"""Point-in-time recovery on a real PostgreSQL with WAL archiving (issue 16).

A server of its own with ``archive_mode = on`` (the shared one does not archive),
a ``pg_basebackup``, rows written before and after a known time; then
``action web pitr --arg TIME`` restores into a new server on its own port, which
must hold exactly the rows written before the time, switches the host's env
file, restarts and verifies the app, and records the loss window.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import tomli_w

from console.demo import DemoSandbox
from tests.fakes.demo import running
from tests.pg_fixture import (
    PASSWORD_ALPHABET,
    PgServer,
    _free_port,
    pg_bin_dir,
    private_root,
)

pytestmark = pytest.mark.e2e

ENV = "PITR_DATABASE_URL"


class World:
    """The archiving server, its folders, and the moment the test restores to."""

    def __init__(self) -> None:
        self.root = private_root()
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(24))
        self.pg = PgServer(
            root=self.root / "pg", port=_free_port(), password=password, bin_dir=pg_bin_dir()
        )
        self.pg.init()
        self.archive = self._folder("archive")
        self.base = self._folder("base")
        self.restores = self._folder("restores")
        with open(self.pg.data_dir / "postgresql.auto.conf", "a") as conf:
            conf.write(
                "wal_level = replica\narchive_mode = on\n"
                f"archive_command = 'cp %p {self.archive}/%f'\n"
            )
        self.pg.start()
        self.target = datetime.now(UTC)

    def _folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir()
        if self.pg.run_as:
            shutil.chown(path, user=self.pg.run_as)
        return path

    def base_backup(self, name: str) -> None:
        self.pg._run(
            str(self.pg.bin_dir / "pg_basebackup"),
            "-D",
            str(self.base / name),
            "-h",
            str(self.pg.root),
            "-p",
            str(self.pg.port),
            "-U",
            "postgres",
            "-Fp",
            "-c",
            "fast",
            timeout=120,
        )

    def archived(self) -> None:
        """Switch to a new WAL segment and wait until the archiver copied the old one."""
        row = self.pg.sql("postgres", "SELECT pg_walfile_name(pg_switch_wal())")
        segment = str(row[0][0])
        for _ in range(300):
            if (self.archive / segment).exists():
                return
            time.sleep(0.1)
        raise AssertionError(f"{segment} was never archived")

    def stop_all(self) -> None:
        for data in self.restores.glob("*"):
            if data.is_dir() and (data / "postmaster.pid").exists():
                with contextlib.suppress(subprocess.CalledProcessError):
                    self.pg._run(str(self.pg.bin_dir / "pg_ctl"), "-D", str(data), "stop")
        with contextlib.suppress(subprocess.CalledProcessError):
            self.pg.stop()


def seeded_world(quiet_after_s: float) -> Iterator[World]:
    """Rows 1-3, a base backup, rows 4-6, the target time, ``quiet_after_s`` without
    writes, rows 7-9, all archived; every server stopped at the end."""
    w = World()
    try:
        w.pg.sql("postgres", "CREATE TABLE orders (id int PRIMARY KEY)")
        w.pg.sql("postgres", "INSERT INTO orders SELECT generate_series(1, 3)")
        w.base_backup("b1")
        w.pg.sql("postgres", "INSERT INTO orders SELECT generate_series(4, 6)")
        target = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        time.sleep((target - datetime.now(UTC)).total_seconds() + quiet_after_s)
        w.pg.sql("postgres", "INSERT INTO orders SELECT generate_series(7, 9)")
        w.archived()
        w.target = target
        yield w
    finally:
        w.stop_all()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """Rows 1-3, a base backup, rows 4-6, the target time, rows 7-9, all archived."""
    yield from seeded_world(1.2)


def configure(box: DemoSandbox, w: World, port: int, env_file: Path) -> None:
    data = tomllib.loads(box.config_path.read_text())
    service = data["services"][0]
    service["verify_window_s"] = 1
    service["database"] = {
        "dsn_env": ENV,
        "migrations": "none",
        "pg_bin_dir": str(w.pg.bin_dir),
        "require_backup": False,
        "checks": [{"name": "orders", "sql": "SELECT count(*) FROM orders"}],
        "pitr": {
            "base_backup_dir": str(w.base),
            "wal_archive_dir": str(w.archive),
            "restore_dir": str(w.restores),
            "port": port,
            "host": "127.0.0.1",
            "env_file": str(env_file),
            "os_user": w.pg.run_as or "",
            "recovery_timeout_s": 120,
        },
    }
    box.config_path.write_text(tomli_w.dumps(data))


@pytest.fixture
def sandbox(tmp_path: Path, world: World) -> Iterator[DemoSandbox]:
    env_file = tmp_path / "app.env"
    env_file.write_text(f"APP_MODE=prod\n{ENV}={world.pg.dsn()}\n")
    port = _free_port()
    with running(tmp_path / "sandbox", lambda box: configure(box, world, port, env_file)) as box:
        yield box


def cli(box: DemoSandbox, w: World, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **{ENV: w.pg.dsn()})
    return subprocess.run(
        [sys.executable, "-m", "console.cli", args[0], "--config", str(box.config_path), *args[1:]],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def pitr_config(box: DemoSandbox) -> dict[str, object]:
    found: dict[str, object] = tomllib.loads(box.config_path.read_text())["services"][0][
        "database"
    ]["pitr"]
    return found


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_pitr_restores_exactly_the_rows_before_the_time_and_switches_the_env_file(
    sandbox: DemoSandbox, world: World
) -> None:
    # The live release is the broken one: roll it back first, so "verified" is about the app.
    first = cli(
        sandbox, world, "rollback", "web", "--yes", "--reason", "bad", "--verify-window", "1"
    )
    assert first.returncode == 0, first.stdout + first.stderr
    pid_before = sandbox.pid_file.read_text().strip()

    listed = cli(sandbox, world, "action", "web", "--list")
    assert "pitr" in listed.stdout and "Restore the database to a point in time" in listed.stdout

    result = cli(
        sandbox,
        world,
        "action",
        "web",
        "pitr",
        "--arg",
        stamp(world.target),
        "--yes",
        "--reason",
        "orders corrupted by v1.3.0",
        "--verify-window",
        "1",
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Traceback" not in out
    cfg = pitr_config(sandbox)
    port = int(str(cfg["port"]))

    # Exactly the rows committed before the time, on the new server; the live one untouched.
    with psycopg.connect(world.pg.dsn().replace(str(world.pg.port), str(port))) as conn:
        rows = [r[0] for r in conn.execute("SELECT id FROM orders ORDER BY id").fetchall()]
        in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    assert rows == [1, 2, 3, 4, 5, 6]
    assert in_recovery == (False,)
    live = [r[0] for r in world.pg.sql("postgres", "SELECT id FROM orders ORDER BY id")]
    assert live == list(range(1, 10))

    # The env file points at the new server (the other lines kept); the old one is kept beside.
    env_file = Path(str(cfg["env_file"]))
    text = env_file.read_text()
    assert "APP_MODE=prod" in text
    assert f"{ENV}=postgresql://postgres:" in text and f"@127.0.0.1:{port}/postgres" in text
    kept = list(env_file.parent.glob("app.env.before-web-pitr-*"))
    assert len(kept) == 1 and str(world.pg.port) in kept[0].read_text()

    # The app was restarted and verified; the checks are shown side by side.
    assert sandbox.pid_file.read_text().strip() != pid_before
    assert "check orders: live 9 | restored 6" in out
    assert world.pg.password not in out
    entries = "".join(p.read_text() for p in sandbox.root.rglob("rollback-history.md"))
    assert "DATA LOSS: writes between" in entries
    assert "database restored to a point in time" in entries
    assert world.pg.password not in entries

    # Planned again: the same instance is found, nothing copied or started twice.
    again = cli(
        sandbox,
        world,
        "action",
        "web",
        "pitr",
        "--arg",
        stamp(world.target),
        "--yes",
        "--reason",
        "again",
        "--verify-window",
        "1",
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "not copied again" in again.stdout and "not started twice" in again.stdout
    assert len([p for p in world.restores.iterdir() if p.is_dir()]) == 1


def test_pitr_refuses_a_time_in_the_future_or_before_the_oldest_backup(
    sandbox: DemoSandbox, world: World
) -> None:
    before = sorted(world.restores.iterdir())
    future = stamp(datetime.now(UTC) + timedelta(hours=1))
    early = stamp(world.target - timedelta(days=1))
    for when, words in ((future, "in the future"), (early, "before the oldest base backup")):
        result = cli(
            sandbox, world, "action", "web", "pitr", "--arg", when, "--yes", "--reason", "x"
        )
        assert result.returncode == 2, result.stdout + result.stderr
        assert words in result.stderr and "Traceback" not in result.stderr
    naive = cli(
        sandbox,
        world,
        "action",
        "web",
        "pitr",
        "--arg",
        "2026-01-05 22:41:07",
        "--yes",
        "--reason",
        "x",
    )
    assert naive.returncode == 2 and "no time zone" in naive.stderr
    assert sorted(world.restores.iterdir()) == before  # nothing made for a refused time


def test_pitr_config_without_port_or_with_a_missing_archive_is_named(tmp_path: Path) -> None:
    from console.config import ConfigError, load_config
    from console.demo import build_sandbox

    box = build_sandbox(tmp_path / "box")
    data = tomllib.loads(box.config_path.read_text())
    pitr = {"base_backup_dir": str(tmp_path), "wal_archive_dir": str(tmp_path / "nope")}
    pitr["restore_dir"] = str(tmp_path / "r")
    data["services"][0]["database"] = {"dsn_env": ENV, "migrations": "none", "pitr": pitr}
    box.config_path.write_text(tomli_w.dumps(data))
    with pytest.raises(ConfigError) as info:
        load_config(box.config_path)
    assert "pitr.port" in str(info.value) and "required" in str(info.value)
    pitr["port"] = 5433
    box.config_path.write_text(tomli_w.dumps(data))
    with pytest.raises(ConfigError) as info:
        load_config(box.config_path)
    assert "wal_archive_dir" in str(info.value) and "does not exist" in str(info.value)


def test_pitr_engine_is_chosen_by_its_sub_table_and_wal_keys_stay_wal_only(
    tmp_path: Path,
) -> None:
    from console.config import ConfigError, RdsPitrConfig, WalPitrConfig, load_config
    from console.demo import build_sandbox

    box = build_sandbox(tmp_path / "box")
    data = tomllib.loads(box.config_path.read_text())
    wal = {
        "base_backup_dir": str(tmp_path),
        "wal_archive_dir": str(tmp_path),
        "restore_dir": str(tmp_path / "r"),
        "port": 5433,
    }
    database = {"dsn_env": ENV, "migrations": "none", "pitr": wal}
    data["services"][0]["database"] = database
    box.config_path.write_text(tomli_w.dumps(data))
    cfg = load_config(box.config_path).services[0].database
    assert cfg is not None and isinstance(cfg.pitr, WalPitrConfig) and cfg.pitr.port == 5433

    database["pitr"] = {"rds": {"db_instance": "appdb", "secret_id": "web/db"}}
    box.config_path.write_text(tomli_w.dumps(data))
    with pytest.raises(ConfigError) as info:  # the demo's service is a VM host
        load_config(box.config_path)
    assert "pitr.rds" in str(info.value) and "provider = 'ecs'" in str(info.value)
    service = data["services"][0]
    service["provider"] = "ecs"
    service["ecs"] = {"cluster": "prod", "service": "web", "region": "eu-west-1"}
    box.config_path.write_text(tomli_w.dumps(data))
    cfg = load_config(box.config_path).services[0].database
    assert cfg is not None and isinstance(cfg.pitr, RdsPitrConfig)
    assert (cfg.pitr.engine, cfg.pitr.db_instance, cfg.pitr.secret_key) == ("rds", "appdb", "")

    # A WAL key beside an engine sub-table would be silently ignored: it is named instead.
    database["pitr"] = {"port": 5433, "rds": {"db_instance": "appdb"}}
    box.config_path.write_text(tomli_w.dumps(data))
    with pytest.raises(ConfigError) as info:
        load_config(box.config_path)
    assert "pitr.port" in str(info.value) and "WAL engine" in str(info.value)

    database["pitr"] = {"rds": {"db_instance": "App_DB"}}
    box.config_path.write_text(tomli_w.dumps(data))
    with pytest.raises(ConfigError) as info:
        load_config(box.config_path)
    assert "pitr.rds.db_instance" in str(info.value) and "App_DB" in str(info.value)

    database["pitr"] = {"rds": {"secret_id": "web/db"}}
    box.config_path.write_text(tomli_w.dumps(data))
    with pytest.raises(ConfigError) as info:
        load_config(box.config_path)
    assert "pitr.rds.db_instance" in str(info.value) and "required" in str(info.value)


def test_instance_identifiers_are_valid_rds_names() -> None:
    import re

    from providers.database.pitr import identifier, instance_name

    when = datetime(2026, 1, 5, 22, 41, 7, tzinfo=UTC)
    service = type("S", (), {"name": "Web_API"})()
    assert identifier(service, when) == "web-api-pitr-20260105t224107z"  # type: ignore[arg-type]
    assert instance_name(service, when) == "Web_API-pitr-20260105T224107Z"  # type: ignore[arg-type]
    long = type("S", (), {"name": "9" + "x" * 80})()
    name = identifier(long, when)  # type: ignore[arg-type]
    assert len(name) <= 63 and name.endswith("-pitr-20260105t224107z")
    assert re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", name) and "--" not in name


def test_every_engine_the_config_knows_has_its_module() -> None:
    import importlib

    from console.config.pitr import ENGINE_READERS, WalPitrConfig
    from providers.database.pitr import ENGINES

    assert set(ENGINES) == {WalPitrConfig.engine, *ENGINE_READERS}
    for name, module in ENGINES.items():
        assert module == f"providers.database.pitr_{name}"
        assert callable(importlib.import_module(module).make_engine)
