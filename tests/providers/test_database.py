"""The database provider against a real PostgreSQL server (pgserver's binaries).

One server per test process (``tests.pg_fixture.shared_server``), one
database per test copied from a template migrated to the test Alembic
project's head (0004) with rows in it.  The DSN carries a real password that
the server checks; no message may ever contain it.
"""

from __future__ import annotations

import os
import stat
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.config import (
    DatabaseCheck,
    DatabaseConfig,
    HostConfig,
    KubernetesConfig,
    ServiceConfig,
)
from console.model import SchemaTarget
from providers.base import CommandFailed, Forbidden, InvalidTarget, NotFound, Unavailable
from providers.database import SCHEMA_OP, DatabaseProvider
from providers.database import migrations as db_alembic
from providers.database.pg import DsnError, find_tool, read_dsn
from tests.pg_fixture import ALEMBIC_INI, PgServer, database_at_head, shared_server, start_server

ENV = "TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def pg() -> PgServer:
    return shared_server()


@pytest.fixture
def dbname(pg: PgServer) -> str:
    return database_at_head(pg)


def service(
    pg: PgServer,
    *,
    checks: tuple[DatabaseCheck, ...] = (),
    backup_dir: Path | None = None,
    **database: object,
) -> ServiceConfig:
    db = DatabaseConfig(
        dsn_env=ENV,
        alembic_ini=ALEMBIC_INI,
        checks=checks,
        backup_dir=backup_dir,
        pg_bin_dir=pg.bin_dir,
        command_timeout_s=60,
        **database,  # type: ignore[arg-type]
    )
    return ServiceConfig(
        name="web", environment="test", provider="host", host=HostConfig(), database=db
    )


def provider(pg: PgServer, dbname: str, **kwargs: object) -> DatabaseProvider:
    svc = service(pg, **kwargs)  # type: ignore[arg-type]
    return DatabaseProvider(svc, environ={**os.environ, ENV: pg.dsn(dbname)})


def drain(gen: Iterator[str]) -> tuple[list[str], object]:
    lines: list[str] = []
    while True:
        try:
            lines.append(next(gen))
        except StopIteration as stop:
            return lines, stop.value


def columns(pg: PgServer, dbname: str, table: str) -> list[str]:
    rows = pg.sql(
        dbname,
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_name = '{table}' ORDER BY ordinal_position",
    )
    return [str(r[0]) for r in rows]


def tables(pg: PgServer, dbname: str) -> set[str]:
    rows = pg.sql(dbname, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {str(r[0]) for r in rows}


# --------------------------------------------------------------------------- reading


def test_status_reads_server_version_current_revision_history_and_checks(
    pg: PgServer, dbname: str, tmp_path: Path
) -> None:
    checks = (
        DatabaseCheck("users", "SELECT count(*) FROM users"),
        DatabaseCheck("projects", "SELECT count(*) FROM projects"),
    )
    db = provider(pg, dbname, checks=checks, backup_dir=tmp_path)
    status = db.status(checks=True)
    assert status.connected, status.error
    assert status.server_version.startswith("16.")
    assert status.current == ("0004",)
    assert status.heads == ("0004",)
    assert [r.id for r in status.history] == ["0004", "0003", "0002", "0001"]
    assert status.history[1].message == "add users.nickname, drop users.legacy_code"
    assert [(c.name, c.value, c.ok) for c in status.checks] == [
        ("users", "3", True),
        ("projects", "2", True),
    ]
    assert status.target == f"{dbname} on 127.0.0.1:{pg.port} as postgres"
    assert status.last_backup is None
    assert pg.password not in repr(status)


def test_a_failing_check_fails_alone_and_checks_never_write(pg: PgServer, dbname: str) -> None:
    checks = (
        DatabaseCheck("missing", "SELECT count(*) FROM no_such_table"),
        DatabaseCheck("write", "DELETE FROM users"),
        DatabaseCheck("users", "SELECT count(*), max(email) FROM users"),
        DatabaseCheck("empty", "SELECT 1 WHERE false"),
    )
    results = provider(pg, dbname, checks=checks).run_checks()
    by_name = {r.name: r for r in results}
    assert not by_name["missing"].ok
    assert 'relation "no_such_table" does not exist' in by_name["missing"].error
    assert not by_name["write"].ok and "read-only" in by_name["write"].error
    assert by_name["users"].ok and by_name["users"].value == "3, c@example.com"
    assert by_name["empty"].value == "(no rows)"
    assert pg.sql(dbname, "SELECT count(*) FROM users") == [(3,)]


# --------------------------------------------------------------------------- backups


def test_backup_is_written_verified_and_private(pg: PgServer, dbname: str, tmp_path: Path) -> None:
    db = provider(pg, dbname, backup_dir=tmp_path / "backups")
    path = db.new_backup_path(tmp_path / "backups")
    assert path.name.startswith(f"web-{dbname}-") and path.suffix == ".dump"
    started = time.monotonic()
    lines, info = drain(db.backup(path))
    elapsed = time.monotonic() - started
    assert info.verified and info.entries > 10, info  # type: ignore[attr-defined]
    assert Path(info.path) == path and path.is_file()  # type: ignore[attr-defined]
    assert info.size_bytes == path.stat().st_size > 1000  # type: ignore[attr-defined]
    assert info.database == dbname  # type: ignore[attr-defined]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(path.parent.glob("*.partial"))
    assert any("verified with pg_restore --list" in line for line in lines)
    print(f"\nbackup of a small database: {info.size_bytes} bytes in {elapsed:.2f} s")  # type: ignore[attr-defined]
    again = db.verify_backup(path)
    assert again.verified and again.entries == info.entries  # type: ignore[attr-defined]
    latest = db.latest_backup()
    assert latest is not None and latest.path == str(path)


def test_backup_never_writes_through_a_planted_link(
    pg: PgServer, dbname: str, tmp_path: Path
) -> None:
    """The dump goes to ``PATH.partial`` created anew: a link there is replaced, never followed."""
    db = provider(pg, dbname, backup_dir=tmp_path / "backups")
    path = db.new_backup_path(tmp_path / "backups")
    victim = tmp_path / "precious.txt"
    victim.write_text("precious\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.symlink_to(victim)
    # A name whose scratch file is taken is never handed out again.
    assert db.new_backup_path(tmp_path / "backups") != path
    _, info = drain(db.backup(path))
    assert info.verified  # type: ignore[attr-defined]
    assert victim.read_text() == "precious\n"
    assert path.is_file() and not path.is_symlink() and not os.path.lexists(partial)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_corrupted_backup_is_rejected_and_never_restored(
    pg: PgServer, dbname: str, tmp_path: Path
) -> None:
    db = provider(pg, dbname)
    good = tmp_path / "good.dump"
    drain(db.backup(good))
    truncated = tmp_path / "truncated.dump"
    truncated.write_bytes(good.read_bytes()[:200])
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(b"this is not a pg_dump archive\n" * 10)
    for bad in (truncated, garbage):
        info = db.verify_backup(bad)
        assert not info.verified
        assert info.message.startswith("pg_restore --list")
        pg.sql(dbname, "UPDATE users SET nickname = 'changed'")
        with pytest.raises(CommandFailed, match="refusing to restore"):
            drain(db.restore(bad))
        assert pg.sql(dbname, "SELECT DISTINCT nickname FROM users") == [("changed",)]
    with pytest.raises(NotFound, match="does not exist"):
        db.verify_backup(tmp_path / "nope.dump")


def test_restore_brings_back_what_a_downgrade_dropped(
    pg: PgServer, dbname: str, tmp_path: Path
) -> None:
    db = provider(pg, dbname)
    backup = tmp_path / "before.dump"
    drain(db.backup(backup))
    # What a downgrade to 0002 does (the real one runs in test_database_flow.py).
    pg.sql(
        dbname,
        "DROP TABLE audit_log; ALTER TABLE users DROP COLUMN nickname;"
        "UPDATE alembic_version SET version_num = '0002'",
    )
    _lines, message = drain(db.restore(backup))
    assert "restored" in str(message)
    assert db.current() == ("0004",)
    assert sorted(pg.sql(dbname, "SELECT nickname FROM users")) == [("ann",), ("bob",), ("cy",)]
    assert "audit_log" in tables(pg, dbname)


# --------------------------------------------------------------------------- schema


def test_downgrade_one_step_runs_alembic_and_observes_the_revision(
    pg: PgServer, dbname: str
) -> None:
    db = provider(pg, dbname)
    plan = db.plan_schema(SchemaTarget("steps", steps=1))
    assert (plan.from_revision, plan.to_revision) == ("0004", "0003")
    assert [r.id for r in plan.crossed] == ["0004"]
    (step,) = plan.steps
    assert step.op == SCHEMA_OP and step.argv == ()
    assert step.params == {"mode": "downgrade", "from": "0004", "to": "0003", "steps": 1}
    assert step.command == f"alembic -c {ALEMBIC_INI} downgrade 0003"  # what runs, not -1
    assert any("audit_log (table, 0004)" in w for w in plan.warnings)
    assert db.schema_took_effect(step) is False
    lines, message = drain(db.run_step(step))
    assert db.schema_took_effect(step) is True
    assert any("Running downgrade 0004 -> 0003" in line for line in lines), lines
    assert message == "the database now records 0003 (was 0004)"
    assert db.current() == ("0003",)
    assert "audit_log" not in tables(pg, dbname)
    # Run again (a resumed rollback): nothing to do, nothing changes.
    assert drain(db.run_step(step))[1] == "the database already records 0003: nothing to do"


def test_downgrade_to_a_revision_warns_naming_each_dropped_column_and_table(
    pg: PgServer, dbname: str
) -> None:
    db = provider(pg, dbname)
    plan = db.plan_schema(SchemaTarget("revision", revision="0002"))
    assert [r.id for r in plan.crossed] == ["0004", "0003"]
    assert [loss.label for loss in plan.losses] == ["audit_log", "users.nickname"]
    loss_warning = next(w for w in plan.warnings if w.startswith("DATA LOSS"))
    assert "users.nickname (column, 0003)" in loss_warning
    assert "audit_log (table, 0004)" in loss_warning
    refill = next(w for w in plan.warnings if "EMPTY" in w)
    assert "users.legacy_code (0003)" in refill
    assert "from 0004 to 0002 (create users)" in plan.steps[0].title
    drain(db.run_step(plan.steps[0]))
    assert db.current() == ("0002",)
    assert columns(pg, dbname, "users") == ["id", "email", "legacy_code"]


def test_downgrade_to_base_and_the_targets_that_are_refused(pg: PgServer, dbname: str) -> None:
    db = provider(pg, dbname)
    with pytest.raises(InvalidTarget, match="only 4 migration"):
        db.plan_schema(SchemaTarget("steps", steps=5))
    with pytest.raises(NotFound, match="unknown migration revision '0009'"):
        db.plan_schema(SchemaTarget("revision", revision="0009"))
    with pytest.raises(InvalidTarget, match="already at 0004"):
        db.plan_schema(SchemaTarget("revision", revision="0004"))
    pg.sql(dbname, "DROP TABLE audit_log; UPDATE alembic_version SET version_num = '0003'")
    with pytest.raises(InvalidTarget, match="would be an upgrade"):
        db.plan_schema(SchemaTarget("revision", revision="0004"))
    base = db.plan_schema(SchemaTarget("revision", revision="base"))
    assert [loss.label for loss in base.losses] == ["users.nickname", "users", "projects"]
    drain(db.run_step(base.steps[0]))
    assert db.current() == ()
    assert tables(pg, dbname) == {"alembic_version"}


def test_stamp_rewrites_the_recorded_revision_only(pg: PgServer, dbname: str) -> None:
    db = provider(pg, dbname)
    plan = db.plan_schema(SchemaTarget("stamp", revision="0002"))
    (step,) = plan.steps
    assert step.command == f"alembic -c {ALEMBIC_INI} stamp 0002"
    assert "no migration runs" in step.title
    assert any("must already match revision 0002" in w for w in plan.warnings)
    drain(db.run_step(step))
    assert db.current() == ("0002",)
    assert "nickname" in columns(pg, dbname, "users")  # nothing was migrated


def test_a_database_changed_since_the_plan_is_not_downgraded(pg: PgServer, dbname: str) -> None:
    db = provider(pg, dbname)
    plan = db.plan_schema(SchemaTarget("revision", revision="0002"))
    pg.sql(dbname, "UPDATE alembic_version SET version_num = '0003'")
    with pytest.raises(Exception, match="records 0003, not 0004 as planned"):
        drain(db.run_step(plan.steps[0]))
    assert "audit_log" in tables(pg, dbname)


def test_data_loss_scanner_reads_batch_ops_keywords_and_raw_sql(tmp_path: Path) -> None:
    script = tmp_path / "0099_mixed.py"
    script.write_text(
        textwrap.dedent(
            """
            import sqlalchemy as sa
            from alembic import op

            def upgrade():
                op.drop_table("old_stuff")

            def downgrade():
                with op.batch_alter_table("orders", schema=None) as b:
                    b.drop_column("coupon")
                    b.add_column(sa.Column("x", sa.Integer))
                op.drop_column(table_name="invoices", column_name="vat_id")
                op.drop_table(table_name="refunds")
                op.execute("ALTER TABLE customers DROP COLUMN IF EXISTS loyalty_points")
                op.execute(sa.text('DROP TABLE IF EXISTS "gift_cards"'))
                op.execute("ALTER TABLE customers DROP CONSTRAINT fk_x")
                name = "computed"
                op.drop_column(name, "c")
                op.drop_index("ix_orders_coupon")
            """
        )
    )
    losses = db_alembic.function_drops(script, "downgrade", "0099")
    assert [loss.label for loss in losses] == [
        "orders.coupon",
        "invoices.vat_id",
        "refunds",
        "customers.loyalty_points",
        "gift_cards",
        "?.c",
    ]
    assert [loss.label for loss in db_alembic.function_drops(script, "upgrade", "0099")] == [
        "old_stuff"
    ]
    broken = tmp_path / "broken.py"
    broken.write_text("def downgrade(:\n")
    assert db_alembic.function_drops(broken, "downgrade", "x") == ()


def test_heads_for_release_are_known_when_each_release_carries_its_scripts(
    tmp_path: Path, pg: PgServer
) -> None:
    from console.model import Revision

    releases = tmp_path / "releases"
    for release, keep in (("v1", 2), ("v2", 4)):
        folder = releases / release / "db"
        (folder / "versions").mkdir(parents=True)
        (folder / "alembic.ini").write_text(ALEMBIC_INI.read_text())
        (folder / "env.py").write_text((ALEMBIC_INI.parent / "env.py").read_text())
        for script in sorted((ALEMBIC_INI.parent / "versions").glob("*.py"))[:keep]:
            (folder / "versions" / script.name).write_text(script.read_text())
    svc = service(pg)
    db_cfg = svc.database
    assert db_cfg is not None
    import dataclasses

    svc = dataclasses.replace(
        svc,
        database=dataclasses.replace(db_cfg, alembic_ini=releases / "v2" / "db" / "alembic.ini"),
    )
    db = DatabaseProvider(svc, environ={})
    assert db.heads_for_release(releases, Revision("v1", "v1")) == ("0002",)
    assert db.heads_for_release(releases, Revision("v2", "v2")) == ("0004",)
    assert db.heads_for_release(releases, Revision("v3", "v3")) == ()
    assert db.heads_for_release(tmp_path / "elsewhere", Revision("v1", "v1")) == ()


# --------------------------------------------------------------------------- down, bad DSN


def test_a_refused_port_is_unavailable_and_the_status_says_so(pg: PgServer, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dsn = f"postgresql://postgres:{pg.password}@127.0.0.1:{port}/nowhere"
    db = DatabaseProvider(service(pg), environ={ENV: dsn})
    status = db.status(checks=True)
    assert not status.connected
    assert f"cannot connect to nowhere on 127.0.0.1:{port} as postgres" in status.error
    assert "refused" in status.error.lower()
    assert [r.id for r in status.history][:1] == ["0004"]  # the scripts are still read
    with pytest.raises(Unavailable):
        drain(db.backup(tmp_path / "x.dump"))
    with pytest.raises(Unavailable):
        db.plan_schema(SchemaTarget("steps", steps=1))
    assert not list(tmp_path.iterdir())
    assert pg.password not in status.error


def test_a_stopped_server_is_seen_down_then_up_again() -> None:
    server = start_server()
    try:
        name = server.create_database()
        db = DatabaseProvider(service(server), environ={ENV: server.dsn(name)})
        assert db.status().connected
        server.stop()
        down = db.status()
        assert not down.connected and "cannot connect" in down.error
        server.start()
        assert db.status().connected
    finally:
        server.stop()


def test_wrong_password_missing_variable_and_malformed_dsn(pg: PgServer, dbname: str) -> None:
    wrong = DatabaseProvider(service(pg), environ={ENV: pg.dsn(dbname, password="Wr0ngSecret!")})
    with pytest.raises(Forbidden, match="password authentication failed") as err:
        wrong.connect()
    assert "Wr0ngSecret!" not in str(err.value)
    assert "Wr0ngSecret!" not in wrong.status().error

    missing = DatabaseProvider(service(pg), environ={})
    with pytest.raises(DsnError, match=f"environment variable {ENV} is not set") as err2:
        missing.dsn()
    assert err2.value.exit_code == 2
    assert "is not set" in missing.status().error

    empty = DatabaseProvider(service(pg), environ={ENV: ""})
    with pytest.raises(DsnError, match="is empty"):
        empty.dsn()

    # libpq echoes the whole string it cannot parse: the message must not.
    for bad in (
        f"http://postgres:{pg.password}@127.0.0.1/x",
        f"postgresql://postgres:{pg.password}@127.0.0.1/x?bogus=1",
        f"host=127.0.0.1 password={pg.password} nonsense",
    ):
        with pytest.raises(DsnError, match="does not hold a valid PostgreSQL DSN") as err3:
            read_dsn(ENV, {ENV: bad})
        assert pg.password not in str(err3.value)
        assert err3.value.exit_code == 2

    unknown_db = DatabaseProvider(service(pg), environ={ENV: pg.dsn("no_such_db")})
    with pytest.raises(NotFound, match='database "no_such_db" does not exist'):
        unknown_db.connect()


def test_keyword_dsn_and_tools_never_see_the_password_in_argv(pg: PgServer, dbname: str) -> None:
    keyword = (
        f"host=127.0.0.1 port={pg.port} dbname={dbname} user=postgres "
        f"password={pg.password} application_name=rbc"
    )
    dsn = read_dsn(ENV, {ENV: keyword})
    assert pg.password not in dsn.conninfo_without_password()
    assert "application_name=rbc" in dsn.conninfo_without_password()
    assert dsn.tool_env({})["PGPASSWORD"] == pg.password
    assert dsn.sqlalchemy_url().startswith("postgresql+psycopg://postgres:")
    db = DatabaseProvider(service(pg), environ={ENV: keyword})
    assert db.current() == ("0004",)
    assert db.backup_command(Path("/b/x.dump")) == (
        f'pg_dump -Fc --dbname "${ENV}" --file /b/x.dump && pg_restore --list /b/x.dump'
    )


def test_client_tools_older_than_the_server_are_refused_with_the_fix(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "pg_dump"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    fake.chmod(0o755)
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{fake.parent}:{old_path}"
    try:
        with pytest.raises(NotFound, match=r"PostgreSQL 9 but the server is 99: .*pg_bin_dir"):
            find_tool("pg_dump", None, 99)
        assert find_tool("pg_dump", None, 9) == str(fake)
    finally:
        os.environ["PATH"] = old_path
    with pytest.raises(NotFound, match="not found in pg_bin_dir"):
        find_tool("pg_dump", tmp_path, None)


# --------------------------------------------------------------------------- command migrations


def migrate_scripts(folder: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A tiny `migrate version` / `migrate down N` pair keeping the version in a file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "version").write_text("000007\n")
    (folder / "migrate.py").write_text(
        textwrap.dedent(
            """
            import os, sys
            from pathlib import Path
            state = Path(__file__).with_name("version")
            if not os.environ.get("TEST_DATABASE_URL"):
                sys.exit("no DSN in the environment")
            if sys.argv[1] == "version":
                print(state.read_text().strip())
            elif sys.argv[1] == "down":
                n = int(sys.argv[2])
                v = int(state.read_text())
                if n > v:
                    print(f"cannot go down {n} from {v:06d}", file=sys.stderr)
                    sys.exit(3)
                for i in range(n):
                    print(f"down {v - i:06d}: ok")
                state.write_text(f"{v - n:06d}\\n")
            """
        )
    )
    script = str(folder / "migrate.py")
    return (sys.executable, script, "version"), (sys.executable, script, "down", "{steps}")


def test_command_migrations_show_status_and_go_down_n_steps(pg: PgServer, tmp_path: Path) -> None:
    status_cmd, down_cmd = migrate_scripts(tmp_path / "tool")
    svc = service(pg, migrations="command", status_command=status_cmd, down_command=down_cmd)
    db = DatabaseProvider(svc, environ={**os.environ, ENV: pg.dsn("postgres")})
    assert db.current() == ("000007",)
    status = db.status()
    assert status.connected and status.current == ("000007",) and status.history == ()
    plan = db.plan_schema(SchemaTarget("steps", steps=2))
    (step,) = plan.steps
    assert step.command.endswith("migrate.py down 2")
    assert any("cannot be checked" in w for w in plan.warnings)
    lines, message = drain(db.run_step(step))
    assert lines == ["down 000007: ok", "down 000006: ok", "status: 000005"]
    assert message == "migrated down 2 step(s); status now: 000005"
    with pytest.raises(CommandFailed, match="exited 3: cannot go down 9 from 000005"):
        drain(db.run_step(db.plan_schema(SchemaTarget("steps", steps=9)).steps[0]))
    with pytest.raises(InvalidTarget, match="only go down a number of steps"):
        db.plan_schema(SchemaTarget("revision", revision="000003"))


def test_exec_in_pod_uses_kubectl_exec_and_is_refused_elsewhere(pg: PgServer) -> None:
    svc = service(
        pg,
        migrations="command",
        status_command=("/api", "migrate", "version"),
        down_command=("/api", "migrate", "down", "{steps}"),
        exec_in_pod=True,
    )
    with pytest.raises(InvalidTarget, match="exec_in_pod needs provider = 'kubernetes'"):
        DatabaseProvider(svc, environ={}).plan_schema(SchemaTarget("steps", steps=1))
    import dataclasses

    kube = dataclasses.replace(
        svc,
        provider="kubernetes",
        host=None,
        kubernetes=KubernetesConfig(deployment="tekutoko-api", namespace="prod", context="gke"),
    )
    plan = DatabaseProvider(kube, environ={}).plan_schema(SchemaTarget("steps", steps=1))
    assert plan.steps[0].command == (
        "kubectl --context gke exec deployment/tekutoko-api -n prod -- /api migrate down 1"
    )


def test_importing_the_database_side_loads_no_driver() -> None:
    """psycopg, Alembic and SQLAlchemy load when a database is used, not at start-up."""
    import json
    import subprocess

    code = (
        "import sys, json, providers.database, console.db_flow, console.widgets.database, "
        "screens.db_restore, screens.schema_target, console.flow, console.cli;"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    for heavy in ("psycopg", "alembic", "sqlalchemy"):
        assert heavy not in loaded, f"{heavy} imported at start-up"
