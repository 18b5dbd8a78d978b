"""An app + schema rollback from the CLI alone, on the demo sandbox and a real PostgreSQL.

The sandbox's releases each carry their Alembic project (v1.2.9 ships
migrations up to 0002, v1.3.0 up to 0004), so the console can tell which
schema the target release expects.  The database starts at 0004 with rows.
The DSN holds a real password the server checks; after every command, no
output, journal, history entry or other text file may contain it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console.demo import DemoSandbox
from tests.fakes.demo import running
from tests.pg_fixture import PgServer, add_database, database_at_head, shared_server

pytestmark = pytest.mark.e2e

ENV = "SANDBOX_DATABASE_URL"


@pytest.fixture(scope="session")
def pg() -> PgServer:
    return shared_server()


@pytest.fixture
def sandbox(tmp_path: Path, pg: PgServer) -> Iterator[DemoSandbox]:
    with running(
        tmp_path / "sandbox",
        lambda box: add_database(box.config_path, box.root / "releases", pg, ENV),
    ) as box:
        yield box


def cli(
    box: DemoSandbox, *args: str, dsn: str | None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if dsn is not None:
        env[ENV] = dsn
    return subprocess.run(
        [sys.executable, "-m", "console.cli", args[0], "--config", str(box.config_path), *args[1:]],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def served_version(box: DemoSandbox) -> str:
    return httpx.get(box.health_url.replace("/health", "/version"), timeout=5).text.strip()


def revision(pg: PgServer, dbname: str) -> list[tuple[object, ...]]:
    return pg.sql(dbname, "SELECT version_num FROM alembic_version")


def assert_no_secret(box: DemoSandbox, pg: PgServer, dbname: str, *outputs: str) -> None:
    """Neither the password nor the DSN in any output or any text file of the sandbox."""
    secrets = (pg.password, pg.dsn(dbname))
    for text in outputs:
        for secret in secrets:
            assert secret not in text
    checked = 0
    for path in box.root.rglob("*"):
        if not path.is_file() or path.suffix == ".dump" or "releases" in path.parts:
            continue
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, f"secret found in {path}"
        checked += 1
    assert checked > 3


def test_app_and_schema_rollback_from_the_cli_with_a_verified_backup_first(
    sandbox: DemoSandbox, pg: PgServer
) -> None:
    dbname = database_at_head(pg)
    dsn = pg.dsn(dbname)
    assert "v1.3.0" in served_version(sandbox)

    result = cli(
        sandbox,
        "rollback",
        "web",
        "--yes",
        "--reason",
        "5xx after v1.3.0 and its migrations",
        "--db-to",
        "0002",
        "--verify-window",
        "1",
        dsn=dsn,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in result.stderr

    # The plan, in order: backup, checks, schema, the app's own steps, checks again.
    steps = re.findall(r"^  (\d+)\. (.*)$", out, re.MULTILINE)
    titles = [title for _, title in steps]
    assert titles[0].startswith(f"Back up {dbname} on 127.0.0.1:{pg.port}")
    assert titles[1].startswith("Run the database checks before any change (users, projects)")
    assert titles[2].startswith(f"Downgrade the schema of {dbname}")
    assert "from 0004 to 0002 (create users)" in titles[2]
    assert titles[-1].startswith("Run the database checks after the rollback")
    assert any("v1.2.9" in t for t in titles[3:-1])
    assert f'pg_dump -Fc --dbname "${ENV}"' in out
    assert re.search(r"warning: DATA LOSS: .*users\.nickname \(column, 0003\)", out)
    assert "audit_log (table, 0004)" in out
    assert "Order (runbook 004)" in out

    # What happened: a verified backup file, the schema at 0002, the old release serving.
    backups = sorted((sandbox.root / "state" / "backups").glob("web-*.dump"))
    assert len(backups) == 1
    backup = backups[0]
    assert re.search(r"verified with pg_restore --list: \d+ entries", out)
    assert revision(pg, dbname) == [("0002",)]
    assert "v1.2.9" in served_version(sandbox)
    assert pg.sql(dbname, "SELECT count(*) FROM users") == [(3,)]

    # The history entry records all of it.
    history = (sandbox.root / "rollback-history.md").read_text()
    assert "rolled back and verified" in history
    assert f"Database backup: {backup}" in history
    size_line = re.search(r"Database backup: \S+, ([\d.]+ [kM]?B) in ([\d.]+) s, verified", history)
    assert size_line, history
    print(f"\nbackup in the e2e rollback: {size_line.group(1)} in {size_line.group(2)} s")
    assert "Database schema: the database now records 0002 (was 0004)" in history
    assert "Database checks before: users = 3; projects = 2" in history
    assert "Database checks after: users = 3; projects = 2 (unchanged)" in history
    assert re.search(r"\[x\] Verified database backup", history)
    assert re.search(r"\[x\] Database schema at the planned revision", history)
    journal = "".join(p.read_text() for p in (sandbox.root / "state").rglob("*.jsonl"))
    assert '"event": "db-backup"' in journal or '"event":"db-backup"' in journal

    # db-status sees the downgrade; db-restore brings the data of 0003/0004 back.
    status = cli(sandbox, "db-status", "web", "--json", dsn=dsn)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["connected"] and data["current"] == ["0002"]
    assert data["last_backup"]["path"] == str(backup)
    restore = cli(
        sandbox,
        "db-restore",
        "web",
        "--from",
        str(backup),
        "--yes",
        "--reason",
        "roll the schema forward again",
        dsn=dsn,
    )
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert "pg_restore --clean --if-exists --single-transaction" in restore.stdout
    assert "REPLACED by the backup" in restore.stdout
    assert revision(pg, dbname) == [("0004",)]
    assert sorted(pg.sql(dbname, "SELECT nickname FROM users")) == [("ann",), ("bob",), ("cy",)]
    history = (sandbox.root / "rollback-history.md").read_text()
    assert "| Action | db-restore" in history
    assert "Database restored from" in history
    # The restore took a backup of what it replaced first.
    assert len(list((sandbox.root / "state" / "backups").glob("web-*.dump"))) == 2

    assert_no_secret(
        sandbox, pg, dbname, out, result.stderr, status.stdout, restore.stdout, restore.stderr
    )


def test_default_plan_changes_no_schema_but_warns_the_target_needs_an_older_one(
    sandbox: DemoSandbox, pg: PgServer
) -> None:
    dbname = database_at_head(pg)
    result = cli(sandbox, "rollback", "web", "--dry-run", "--reason", "look", dsn=pg.dsn(dbname))
    assert result.returncode == 0, result.stderr
    assert (
        "SCHEMA MISMATCH: v1.2.9 ships migrations up to 0002 but the database is at 0004"
        in result.stdout
    )
    assert "Downgrade the schema" not in result.stdout
    # "What changes" names what the database keeps that v1.2.9 does not know.
    for line in (
        "  - migration 0004 create audit_log, index users.email (stays applied: v1.2.9 does "
        "not ship it; no schema change planned)",
        "  - migration 0003 add users.nickname, drop users.legacy_code (stays applied: v1.2.9 "
        "does not ship it; no schema change planned)",
    ):
        assert line in result.stdout.split("What changes:\n", 1)[1]
    assert "dry run: nothing was changed" in result.stdout
    assert not (sandbox.root / "state" / "backups").exists()
    assert revision(pg, dbname) == [("0004",)]


def test_a_database_that_is_down_blocks_the_rollback_unless_the_backup_is_skipped_with_a_reason(
    sandbox: DemoSandbox, pg: PgServer
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = f"postgresql://postgres:{pg.password}@127.0.0.1:{port}/gone"

    blocked = cli(sandbox, "rollback", "web", "--yes", "--reason", "db down?", dsn=down)
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert "rollback failed: cannot connect to gone on 127.0.0.1" in blocked.stderr
    assert "v1.3.0" in served_version(sandbox)  # nothing after the backup ran
    history = (sandbox.root / "rollback-history.md").read_text()
    assert "rollback failed" in history
    assert re.search(r"\[!\] Verified database backup", history)

    skipped = cli(
        sandbox,
        "rollback",
        "web",
        "--yes",
        "--reason",
        "db host down, app first",
        "--skip-backup",
        "database host is down; app rollback cannot wait",
        "--verify-window",
        "1",
        dsn=down,
    )
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "No database backup will be taken: skipped by the operator" in skipped.stdout
    assert "checks could not run" in skipped.stdout
    assert "v1.2.9" in served_version(sandbox)
    history = (sandbox.root / "rollback-history.md").read_text()
    assert "database host is down; app rollback cannot wait" in history
    assert_no_secret(
        sandbox, pg, "gone", blocked.stdout, blocked.stderr, skipped.stdout, skipped.stderr
    )
    assert down not in history


def test_bad_input_is_exit_2_with_one_line(
    sandbox: DemoSandbox, pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process (``console.cli.run``): the same code, without four interpreter start-ups."""
    import io

    from console.cli import run

    def call(*args: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = run([args[0], "--config", str(sandbox.config_path), *args[1:]], out, err)
        return code, err.getvalue()

    monkeypatch.delenv(ENV, raising=False)
    code, err = call("db-status", "web")
    assert code == 2
    assert err.strip() == (
        f"error: environment variable {ENV} is not set: it must hold the database's DSN "
        "([services.database] dsn_env)"
    )
    code, err = call("rollback", "web", "--dry-run", "--reason", "x")
    assert code == 2 and f"{ENV} is not set" in err
    dbname = database_at_head(pg)
    monkeypatch.setenv(ENV, pg.dsn(dbname))
    code, err = call("rollback", "web", "--dry-run", "--reason", "x", "--db-to", "0009")
    assert code == 2 and "unknown migration revision '0009'" in err
    corrupt = sandbox.root / "corrupt.dump"
    corrupt.write_bytes(b"PGDMP garbage")
    code, err = call("db-restore", "web", "--from", str(corrupt), "--yes", "--reason", "x")
    assert code == 2 and "is not a usable backup: pg_restore --list" in err
    assert len(err.strip().splitlines()) == 1
    code, err = call("rollback", "web", "--dry-run", "--reason", "x", "--skip-backup", " ")
    assert code == 2 and "--skip-backup needs a reason" in err
    assert revision(pg, dbname) == [("0004",)]


def test_an_interrupted_app_and_schema_rollback_resumes_without_repeating_the_schema_step(
    sandbox: DemoSandbox, pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console dies right after the switch: resume runs only what is left, once."""
    from console.config import load_config
    from console.flow import RollbackFlow
    from console.model import ProgressEvent, ProgressStatus, SchemaTarget, StepKind
    from console.resume import open_incidents
    from console.signals import make_error_rate_source
    from providers import load_provider

    dbname = database_at_head(pg)
    monkeypatch.setenv(ENV, pg.dsn(dbname))
    config = load_config(sandbox.config_path)
    svc = config.service("web")
    source = make_error_rate_source(svc)
    flow = RollbackFlow(config, svc, load_provider(svc), source, reason="interrupted")
    flow.schema_target = SchemaTarget("revision", revision="0002")
    plan = flow.plan(None)
    switch = next(i for i, s in enumerate(plan.steps) if s.kind is StepKind.SWITCH)

    class Killed(BaseException):
        pass

    def die_after_switch(event: ProgressEvent) -> None:
        if event.step == switch and event.status is ProgressStatus.FINISHED:
            raise Killed

    with pytest.raises(Killed):
        flow.execute(plan, on_event=die_after_switch)
    flow.release_service_lock()  # what the kernel does for a killed console
    assert revision(pg, dbname) == [("0002",)]

    (state,) = open_incidents(config.console.state_dir, "web")
    resumed = RollbackFlow(config, svc, load_provider(svc), source, resume_state=state)
    events: list[ProgressEvent] = []
    source.start()
    try:
        ready = resumed.resume_execute(on_event=events.append)
        assert ready.ready, ready.message
        resumed.verify(window_s=1)
    finally:
        source.stop()
    ran = {plan.steps[e.step].title for e in events if e.status is ProgressStatus.STARTED}
    assert not any(t.startswith(("Back up", "Downgrade")) for t in ran), ran
    assert any(t.startswith("Run the database checks after") for t in ran), ran
    result = resumed.record()
    history = result.history_file.read_text() if result.history_file else ""
    assert "Database backup:" in history  # noted before the interruption, kept
    assert "Database schema: the database now records 0002 (was 0004)" in history
    assert "Database checks after: users = 3; projects = 2" in history
    assert "Interrupted:" in history
    assert pg.password not in history
    assert "v1.2.9" in served_version(sandbox)


def old_database_plan(box: DemoSandbox, backup: Path) -> list[dict[str, object]]:
    """An app + schema rollback's steps as the version before typed steps journaled them:
    the database's own steps marked by a pseudo-program in argv[0], their arguments after it."""
    from tests.e2e.test_resume import old_host_steps
    from tests.pg_fixture import ALEMBIC_INI

    marker = "@database"  # the old format's marker (providers/database/legacy.py)
    ini = box.root / "releases" / "v1.3.0" / "db" / "alembic.ini"
    assert ALEMBIC_INI.name == ini.name

    def step(title: str, command: str, kind: str, *argv: str) -> dict[str, object]:
        return {
            "title": title,
            "command": command,
            "kind": kind,
            "argv": [marker, *argv],
            "timeout_s": 60.0,
        }

    checks = "psql \"$SANDBOX_DATABASE_URL\" -c 'SELECT count(*) FROM users; ...'"
    return [
        step("Back up the database", f"pg_dump -Fc ... {backup}", "backup", "backup", str(backup)),
        step("Run the database checks before any change", checks, "command", "checks", "before"),
        step(
            "Downgrade the schema from 0004 to 0002",
            f"alembic -c {ini} downgrade 0002",
            "migration",
            "alembic",
            "downgrade",
            "0002",
            "0004",
        ),
        *old_host_steps(box),
        step("Run the database checks after the rollback", checks, "command", "checks", "after"),
    ]


def test_a_schema_rollback_journaled_before_steps_were_typed_resumes_what_is_left(
    sandbox: DemoSandbox, pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed by the previous version during the restart, after its backup, checks, downgrade
    and switch: resume runs the restart and the checks after (old-format steps), nothing else."""
    from console.config import load_config
    from console.flow import RollbackFlow
    from console.model import ProgressEvent, ProgressStatus, SchemaTarget
    from console.resume import open_incidents
    from console.signals import make_error_rate_source
    from providers import load_database, load_provider
    from tests.e2e.test_resume import old_format_journal, switch_by_hand

    dbname = database_at_head(pg)
    monkeypatch.setenv(ENV, pg.dsn(dbname))
    config = load_config(sandbox.config_path)
    svc = config.service("web")
    db = load_database(svc)
    (schema,) = db.plan_schema(SchemaTarget("revision", revision="0002")).steps
    list(db.run_step(schema))  # what the old console did before it was killed
    switch_by_hand(sandbox, "v1.2.9")
    backup = sandbox.root / "state" / "backups" / "web-old.dump"
    done = [
        {"event": "checklist", "item": "db-backup", "state": "done", "note": f"{backup}"},
        {"event": "note", "note": f"Database backup: {backup}, verified"},
        {"event": "checklist", "item": "db-schema", "state": "done", "note": "now at 0002"},
        {"event": "note", "note": "Database schema: the database now records 0002 (was 0004)"},
    ]
    old_format_journal(sandbox, old_database_plan(sandbox, backup), done=4, extra=done)

    (state,) = open_incidents(config.console.state_dir, "web")
    assert state.plan is not None and not any(step.op for step in state.plan.steps)
    source = make_error_rate_source(svc)
    resumed = RollbackFlow(config, svc, load_provider(svc), source, resume_state=state)
    assert resumed.database is not None
    assert resumed.database.resumed_target(state.plan) == SchemaTarget()  # already at 0002
    events: list[ProgressEvent] = []
    source.start()
    try:
        ready = resumed.resume_execute(on_event=events.append)
        assert ready.ready, ready.message
        resumed.verify(window_s=1)
    finally:
        source.stop()
    ran = [state.plan.steps[e.step].title for e in events if e.status is ProgressStatus.STARTED]
    assert ran == [
        "Restart web (demo) so it runs v1.2.9",
        "Run the database checks after the rollback",
    ]
    result = resumed.record()
    history = result.history_file.read_text() if result.history_file else ""
    assert "Database checks after: users = 3; projects = 2" in history
    assert "Database schema: the database now records 0002 (was 0004)" in history
    assert revision(pg, dbname) == [("0002",)]
    assert "v1.2.9" in served_version(sandbox)
    assert pg.password not in history


def test_the_schema_step_an_old_journal_still_owes_is_planned_again(
    sandbox: DemoSandbox, pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed by the previous version during its downgrade, which never ran: resume plans
    the rollback again with the same schema target, read from the old-format step."""
    from console.config import load_config
    from console.flow import RollbackFlow
    from console.model import SchemaTarget
    from console.resume import open_incidents
    from console.signals import make_error_rate_source
    from providers import load_provider
    from tests.e2e.test_resume import old_format_journal

    dbname = database_at_head(pg)
    monkeypatch.setenv(ENV, pg.dsn(dbname))
    backup = sandbox.root / "state" / "backups" / "web-old.dump"
    old_format_journal(sandbox, old_database_plan(sandbox, backup), done=2)
    config = load_config(sandbox.config_path)
    svc = config.service("web")
    (state,) = open_incidents(config.console.state_dir, "web")
    assert state.plan is not None
    flow = RollbackFlow(config, svc, load_provider(svc), make_error_rate_source(svc))
    assert flow.database is not None
    assert flow.database.resumed_target(state.plan) == SchemaTarget("revision", revision="0002")
    typed = flow.database.typed(state.plan)
    assert [s.op for s in typed.steps] == [
        "db.backup",
        "db.checks",
        "db.schema",
        "",
        "",
        "db.checks",
    ]
    assert typed.steps[2].params == {"mode": "downgrade", "to": "0002", "from": "0004", "steps": 0}
    assert typed.steps[2].command == state.plan.steps[2].command  # as it was confirmed


def test_what_changes_names_the_migrations_a_downgrade_runs_and_what_they_drop(
    sandbox: DemoSandbox, pg: PgServer
) -> None:
    """Issue 14: the database's side of "What changes", in the same list as the files."""
    dbname = database_at_head(pg)
    result = cli(
        sandbox,
        "rollback",
        "web",
        "--dry-run",
        "--reason",
        "look",
        "--db-to",
        "0002",
        dsn=pg.dsn(dbname),
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    changes = out.split("What changes:\n", 1)[1].split("Who will undo it", 1)[0]
    # Below the plan, in the same list as the files: each downgrade() that runs, its drops.
    assert out.index("  6. Run the database checks after") < out.index("What changes:")
    assert (
        "  - migration 0004 create audit_log, index users.email: applied → downgraded "
        "(drops audit_log)\n" in changes
    )
    assert (
        "  - migration 0003 add users.nickname, drop users.legacy_code: applied → downgraded "
        "(drops users.nickname)\n" in changes
    )
    # The release folders too: v1.3.0 ships two migration scripts v1.2.9 does not have.
    assert re.search(r"  - files: .*2 only in v1\.3\.0", changes), changes
    assert revision(pg, dbname) == [("0004",)]


def test_a_wrong_answer_at_the_restore_prompt_is_exit_2_and_restores_nothing(
    sandbox: DemoSandbox, pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``db-restore`` without ``--yes`` on a terminal: a typo aborts like a rollback's (exit 2)."""
    from tests.console_cli import run_on_terminal

    dbname = database_at_head(pg)
    backup = cli(sandbox, "db-backup", "web", dsn=pg.dsn(dbname))
    assert backup.returncode == 0, backup.stdout + backup.stderr
    (dump,) = (sandbox.root / "state" / "backups").glob("web-*.dump")
    pg.sql(dbname, "UPDATE users SET nickname = 'since the backup'")  # what a restore would undo
    monkeypatch.setenv(ENV, pg.dsn(dbname))
    result = run_on_terminal(
        sandbox.config_path,
        "db-restore",
        "web",
        "--from",
        str(dump),
        "--reason",
        "x",
        typed="wbe\n",
    )
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line == "aborted: 'wbe' is not the service name 'web': nothing was changed"
    assert "REPLACED by the backup" in result.stdout  # the plan was shown, then asked
    assert set(pg.sql(dbname, "SELECT nickname FROM users")) == {("since the backup",)}
    assert not (sandbox.root / "rollback-history.md").exists()
    assert len(list((sandbox.root / "state" / "backups").glob("web-*.dump"))) == 1
