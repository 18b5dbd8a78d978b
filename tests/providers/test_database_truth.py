"""What the database side says is what the database holds (runbooks 000 and 004).

A real PostgreSQL server (``tests.pg_fixture``), real ``pg_dump`` /
``pg_restore`` / Alembic runs, and the demo sandbox whose releases each
carry their Alembic project (v1.2.9 ships migrations up to 0002, v1.3.0 up
to 0004):

- the schema-mismatch warning also appears when ``alembic_ini`` goes through
  the ``current`` link, as config.example.toml writes it;
- the plan names the revision its downgrade step runs to ("-1" is not what runs);
- a failed downgrade is read back and says where it left the database;
- a backup's header date, and its entry count in ``db-status``, are read right;
- a restore is recorded as "restored", and restoring a backup newer than the
  running release's migrations warns first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.demo import DemoSandbox
from console.model import Revision, SchemaTarget
from providers.base import CommandFailed
from providers.database import DatabaseProvider
from tests.fakes.demo import running
from tests.pg_fixture import (
    ALEMBIC_INI,
    PgServer,
    add_database,
    database_at_head,
    migrate,
    shared_server,
)
from tests.providers.test_database import ENV as PROVIDER_ENV
from tests.providers.test_database import columns, drain, provider, service, tables
from tests.providers.test_database_flow import ENV, cli, revision

pytestmark = pytest.mark.e2e


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


def through_current_link(box: DemoSandbox) -> None:
    """``alembic_ini`` as config.example.toml writes it: absolute, via the ``current`` link."""
    text = box.config_path.read_text()
    direct = str(box.root / "releases" / "v1.3.0" / "db" / "alembic.ini")
    assert direct in text
    box.config_path.write_text(text.replace(direct, str(box.root / "current/db/alembic.ini")))


def switch_current(box: DemoSandbox, release: str) -> None:
    link = box.root / "current"
    temp = box.root / ".current.test"
    os.symlink(box.root / "releases" / release, temp)
    os.replace(temp, link)


def failing_project(tmp_path: Path) -> Path:
    """The test Alembic project with 0003's downgrade failing half-way (after 0004's ran)."""
    folder = tmp_path / "failing"
    shutil.copytree(ALEMBIC_INI.parent, folder, ignore=shutil.ignore_patterns("__pycache__"))
    script = folder / "versions" / "0003_add_users_nickname.py"
    text = script.read_text()
    script.write_text(
        text.replace(
            "def downgrade() -> None:\n",
            "def downgrade() -> None:\n    op.execute('SELECT no_such_column FROM users')\n",
        )
    )
    return folder / "alembic.ini"


# --------------------------------------------------------------------------- the plan


def test_alembic_ini_through_the_current_link_still_knows_each_release_s_schema(
    sandbox: DemoSandbox, pg: PgServer
) -> None:
    through_current_link(sandbox)
    dsn = pg.dsn(database_at_head(pg))

    # No schema change chosen: the mismatch with the target release is said.
    plain = cli(sandbox, "rollback", "web", "--dry-run", "--reason", "look", dsn=dsn)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert (
        "SCHEMA MISMATCH: v1.2.9 ships migrations up to 0002 but the database is at 0004"
        in plain.stdout
    )

    # One step down: the plan names the revision the step runs to, and that it is not
    # where v1.2.9's scripts end.
    one = cli(sandbox, "rollback", "web", "--dry-run", "--reason", "x", "--db-steps", "1", dsn=dsn)
    assert one.returncode == 0, one.stdout + one.stderr
    ini = sandbox.root / "current" / "db" / "alembic.ini"
    assert f"$ alembic -c {ini} downgrade 0003\n" in one.stdout
    assert "downgrade -1" not in one.stdout
    assert re.search(r"from 0004 to 0003 \(add users\.nickname.*\) \(1 step\)", one.stdout)
    assert (
        "v1.2.9 ships migrations up to 0002, but the schema step leaves the database at 0003"
        in one.stdout
    )


def test_the_downgrade_that_runs_is_the_one_the_plan_showed(
    sandbox: DemoSandbox, pg: PgServer
) -> None:
    dbname = database_at_head(pg)
    result = cli(
        sandbox,
        "rollback",
        "web",
        "--yes",
        "--reason",
        "x",
        "--db-steps",
        "2",
        "--verify-window",
        "1",
        dsn=pg.dsn(dbname),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shown = re.findall(r"\$ (alembic -c \S+ downgrade \S+)\n", result.stdout)
    assert [cmd.rsplit(" ", 1)[1] for cmd in shown] == ["0002"]
    assert revision(pg, dbname) == [("0002",)]
    history = (sandbox.root / "rollback-history.md").read_text()
    assert f"Database schema: the database now records 0002 (was 0004) ({shown[0]})" in history


# --------------------------------------------------------------------------- a failed downgrade


def test_a_failed_downgrade_is_read_back_and_says_nothing_was_downgraded(
    pg: PgServer, tmp_path: Path
) -> None:
    dbname = database_at_head(pg)
    svc = service(pg)
    assert svc.database is not None
    import dataclasses

    broken = dataclasses.replace(
        svc, database=dataclasses.replace(svc.database, alembic_ini=failing_project(tmp_path))
    )
    db = DatabaseProvider(broken, environ={**os.environ, PROVIDER_ENV: pg.dsn(dbname)})
    (step,) = db.plan_schema(SchemaTarget("revision", revision="0002")).steps
    with pytest.raises(CommandFailed) as failed:
        drain(db.run_step(step))
    message = str(failed.value)
    assert "exited 1" in message
    assert message.endswith(
        "nothing was downgraded: the database still records 0004 "
        "(audit_log, users.nickname are still there)"
    ), message
    # And so it is: one transaction, rolled back whole.
    assert db.current() == ("0004",)
    assert "audit_log" in tables(pg, dbname) and "nickname" in columns(pg, dbname, "users")
    assert pg.password not in message


def test_a_downgrade_left_half_way_names_what_ran_and_what_did_not(pg: PgServer) -> None:
    """Where the database is when a run of downgrades stopped after the first (0004)."""
    dbname = pg.create_database()
    migrate(pg, dbname, "0003")
    db = provider(pg, dbname)
    left = db._left_after_failure("0004", "0002")
    assert left == (
        "part of the downgrade ran: the database now records 0003 (was 0004, planned 0002); "
        "dropped: audit_log; users.nickname is still there"
    )


def test_a_failed_downgrade_in_a_rollback_states_the_revision_in_message_checklist_and_entry(
    sandbox: DemoSandbox, pg: PgServer
) -> None:
    dbname = database_at_head(pg)
    script = sandbox.root / "releases/v1.3.0/db/versions/0003_add_users_nickname.py"
    script.write_text(
        script.read_text().replace(
            "def downgrade() -> None:\n",
            "def downgrade() -> None:\n    op.execute('SELECT no_such_column FROM users')\n",
        )
    )
    result = cli(
        sandbox, "rollback", "web", "--yes", "--reason", "x", "--db-to", "0002", dsn=pg.dsn(dbname)
    )
    assert result.returncode == 1, result.stdout + result.stderr
    said = "nothing was downgraded: the database still records 0004"
    assert re.search(rf"^rollback failed: .*{said}", result.stderr, re.MULTILINE), result.stderr
    assert revision(pg, dbname) == [("0004",)]
    assert (sandbox.root / "current").resolve().name == "v1.3.0"  # the app step never ran
    history = (sandbox.root / "rollback-history.md").read_text()
    checklist = re.search(
        r"^- \[!\] Database schema at the planned revision — failed: (.*)$", history, re.MULTILINE
    )
    assert checklist and said in checklist.group(1), history
    assert re.search(rf"^- Database schema step failed: .*{said}", history, re.MULTILINE)


# --------------------------------------------------------------------------- backups


def test_a_backup_s_creation_date_and_entry_count_are_read_right(
    pg: PgServer, tmp_path: Path
) -> None:
    dbname = pg.create_database()
    pg.sql(dbname, "CREATE TABLE t (x int)")
    backups = tmp_path / "backups"
    db = provider(pg, dbname, backup_dir=backups)
    _lines, info = drain(db.backup(db.new_backup_path(backups)))
    assert info.entries == 2, info  # type: ignore[attr-defined]  # TABLE t and its TABLE DATA

    listed = db.verify_backup(Path(info.path))  # type: ignore[attr-defined]
    assert re.fullmatch(r"archive created at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+", listed.message), (
        listed.message
    )

    last = db.status(backup_dir=backups).last_backup
    assert last is not None and last.entries == 2, last
    assert last.summary.endswith(", verified (2 entries)"), last.summary


def take_backup(box: DemoSandbox, dsn: str) -> Path:
    taken = cli(box, "db-backup", "web", dsn=dsn)
    assert taken.returncode == 0, taken.stdout + taken.stderr
    (backup,) = (box.root / "state" / "backups").glob("web-*.dump")
    return backup


def test_db_status_counts_the_last_backup_s_entries(sandbox: DemoSandbox, pg: PgServer) -> None:
    dsn = pg.dsn(database_at_head(pg))
    take_backup(sandbox, dsn)
    status = cli(sandbox, "db-status", "web", dsn=dsn)
    entries = re.search(r"last backup: .*, verified \((\d+) entries\)", status.stdout)
    assert entries and int(entries.group(1)) > 10, status.stdout
    data = json.loads(cli(sandbox, "db-status", "web", "--json", dsn=dsn).stdout)
    assert data["last_backup"]["entries"] == int(entries.group(1))


def test_restoring_a_backup_newer_than_the_running_release_warns_before_anything(
    sandbox: DemoSandbox, pg: PgServer
) -> None:
    dbname = database_at_head(pg)
    dsn = pg.dsn(dbname)
    backup = take_backup(sandbox, dsn)
    # The app went back to v1.2.9 (migrations up to 0002); the backup holds 0004.
    switch_current(sandbox, "v1.2.9")
    pg.sql(dbname, "DROP TABLE audit_log; UPDATE alembic_version SET version_num = '0003'")
    plan = cli(sandbox, "db-restore", "web", "--from", str(backup), "--reason", "drill", dsn=dsn)
    assert plan.returncode == 2, plan.stdout + plan.stderr  # no terminal to confirm on
    assert (
        "warning: NEWER SCHEMA: the backup records schema revision 0004, which the running "
        "release v1.2.9 does not know (its migrations end at 0002)"
    ) in plan.stdout
    assert re.search(r"entries, archive created at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", plan.stdout)
    assert "created at ed at" not in plan.stdout
    assert revision(pg, dbname) == [("0003",)]  # nothing restored

    # Back on v1.3.0, whose migrations end at 0004: no warning about the schema.
    switch_current(sandbox, "v1.3.0")
    again = cli(sandbox, "db-restore", "web", "--from", str(backup), "--reason", "x", dsn=dsn)
    assert "SCHEMA" not in again.stdout, again.stdout


def test_a_restore_is_recorded_as_restored(sandbox: DemoSandbox, pg: PgServer) -> None:
    dbname = database_at_head(pg)
    dsn = pg.dsn(dbname)
    backup = take_backup(sandbox, dsn)
    pg.sql(dbname, "DROP TABLE audit_log; UPDATE alembic_version SET version_num = '0003'")
    restore = cli(
        sandbox, "db-restore", "web", "--from", str(backup), "--yes", "--reason", "drill", dsn=dsn
    )
    out = restore.stdout
    assert restore.returncode == 0, out + restore.stderr
    assert "\noutcome: restored\n" in out
    assert revision(pg, dbname) == [("0004",)]

    entry = (sandbox.root / "rollback-history.md").read_text()
    [headline] = [line for line in entry.splitlines() if line.startswith("## ")]
    assert headline.endswith(f"restored (schema 0003 → backup {backup.name})"), headline
    assert "| Outcome | restored |" in entry
    assert "rolled back" not in entry
    assert "\n- not verified\n" not in entry
    assert re.search(
        r"^- restored \S+ from \S+ in [\d.]+ s; the database now records 0004 ",
        entry,
        re.MULTILINE,
    ), entry
    assert (
        "- [x] Database schema at the planned revision — the database now records 0004, "
        "as the backup does"
    ) in entry
    listed = json.loads(cli(sandbox, "history", "--json", dsn=dsn).stdout)["entries"]
    assert (listed[-1]["outcome"], listed[-1]["time_to_recover_s"]) == ("restored", None)


def test_the_release_heads_use_resolved_paths(pg: PgServer, sandbox: DemoSandbox) -> None:
    through_current_link(sandbox)
    from console.config import load_config

    svc = load_config(sandbox.config_path).service("web")
    db = DatabaseProvider(svc)
    releases = sandbox.root / "releases"
    assert db.heads_for_release(releases, Revision("v1.2.9", "v1.2.9")) == ("0002",)
    assert db.heads_for_release(releases, Revision("v1.2.8", "v1.2.8")) == ("0001",)


async def test_the_restore_dialog_warns_of_a_backup_newer_than_the_running_release(
    sandbox: DemoSandbox, pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.app import App
    from textual.widgets import OptionList, Static

    from console.config import load_config
    from screens.db_restore import DatabaseRestoreScreen
    from tests.providers.test_database_panel import wait_until

    dsn = pg.dsn(database_at_head(pg))
    take_backup(sandbox, dsn)
    switch_current(sandbox, "v1.2.9")
    monkeypatch.setenv(ENV, dsn)
    config = load_config(sandbox.config_path)
    dialog = DatabaseRestoreScreen(config, config.service("web"))

    class DialogApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(dialog)

    async with DialogApp().run_test(size=(120, 40)) as pilot:
        files = dialog.query_one("#restore-files", OptionList)
        await wait_until(pilot, lambda: files.option_count == 1, "the backup list")
        files.highlighted = 0
        await wait_until(pilot, lambda: dialog.chosen is not None, "the verification")
        shown = str(dialog.query_one("#restore-plan", Static).render())
        assert "warning: NEWER SCHEMA: the backup records schema revision 0004" in shown, shown
        assert dialog.query_one("#restore-go").disabled  # nothing confirmed yet
