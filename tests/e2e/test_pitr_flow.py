"""Point-in-time recovery as an operator runs it on the real PostgreSQL (issue 16).

An archiving server of its own (``tests/providers/test_database_pitr.World``):
rows 1-3, a base backup, rows 4-6, two known moments, rows 7-9.  Then, with
``action web pitr`` as a process: ``--no-switch`` stops after the checks (the
application untouched, the entry says so with the command that switches, the
checks live | restored in ``history --json``) and that command switches later;
on a terminal the time is proposed and the switch asked apart; and a run
SIGKILLed once its restore started is finished by ``resume``: one data
directory, one server, exactly the rows before the time, one entry.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from console.demo import DemoSandbox
from providers.database.pitr_wal import MARKER
from tests.console_cli import run_on_terminal
from tests.fakes.demo import running
from tests.pg_fixture import _free_port
from tests.providers.test_database_pitr import (
    ENV,
    World,
    cli,
    configure,
    pitr_config,
    seeded_world,
    stamp,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """Rows 1-6 before ``target`` .. ``target + 3 s``; rows 7-9 after (each test restores to
    a moment of its own: an instance is named after its moment and has its test's port)."""
    yield from seeded_world(4.5)


@pytest.fixture
def sandbox(tmp_path: Path, world: World) -> Iterator[DemoSandbox]:
    env_file = tmp_path / "app.env"
    env_file.write_text(f"APP_MODE=prod\n{ENV}={world.pg.dsn()}\n")
    port = _free_port()
    with running(tmp_path / "sandbox", lambda box: configure(box, world, port, env_file)) as box:
        yield box


def rolled_back_first(box: DemoSandbox, w: World) -> None:
    """The live release is the broken one: roll it back, so "verified" is about the app."""
    first = cli(box, w, "rollback", "web", "--yes", "--reason", "bad", "--verify-window", "1")
    assert first.returncode == 0, first.stdout + first.stderr


def rows_on(w: World, port: int) -> list[int]:
    with psycopg.connect(w.pg.dsn().replace(str(w.pg.port), str(port))) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM orders ORDER BY id").fetchall()]


def history_json(box: DemoSandbox, w: World) -> list[dict[str, object]]:
    shown = cli(box, w, "history", "--json")
    assert shown.returncode == 0, shown.stderr
    entries: list[dict[str, object]] = json.loads(shown.stdout)["entries"]
    return entries


def test_no_switch_stops_after_the_checks_and_the_printed_command_switches_later(
    sandbox: DemoSandbox, world: World
) -> None:
    rolled_back_first(sandbox, world)
    cfg = pitr_config(sandbox)
    env_file, port = Path(str(cfg["env_file"])), int(str(cfg["port"]))
    before = env_file.read_text()
    when = stamp(world.target)
    held = cli(
        sandbox,
        world,
        "action",
        "web",
        "pitr",
        "--arg",
        when,
        "--yes",
        "--no-switch",
        "--reason",
        "compare first",
    )
    out = held.stdout + held.stderr
    assert held.returncode == 0, out
    assert "--no-switch: stopping before: Point" in out
    command = f"rollback-console action web pitr --arg {when} --reason TEXT"
    assert f"switch the application to it later: {command}" in out
    assert env_file.read_text() == before  # the application was not switched
    assert rows_on(world, port) == [1, 2, 3, 4, 5, 6]  # restored, running, checked

    entry = history_json(sandbox, world)[-1]
    assert entry["outcome"] == "restored"
    assert entry["result"] == "database restored to a point in time, application not switched"
    assert entry["checks"] == [{"name": "orders", "live": "9", "restored": "6"}]
    markdown = sandbox.root.joinpath("rollback-history.md").read_text()
    assert f"To switch: {command}" in markdown
    assert "| orders | 9 | 6 |" in markdown

    # The command it printed does the switch: the same restored server, nothing twice.
    switched = cli(
        sandbox, world, *command.split()[1:-2], "--reason", "compared", "--yes",
        "--verify-window", "1",
    )  # fmt: skip
    assert switched.returncode == 0, switched.stdout + switched.stderr
    assert "not copied again" in switched.stdout and "not started twice" in switched.stdout
    assert f"@127.0.0.1:{port}/postgres" in env_file.read_text()
    last = history_json(sandbox, world)[-1]
    assert last["result"] == "database restored to a point in time and verified"
    assert last["checks"] == [{"name": "orders", "live": "9", "restored": "6"}]


def test_on_a_terminal_the_time_is_proposed_and_the_switch_asked_apart(
    sandbox: DemoSandbox, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, world.pg.dsn())
    cfg = pitr_config(sandbox)
    env_file = Path(str(cfg["env_file"]))
    before = env_file.read_text()
    # Each test its own moment: a restored instance is named after it, with its own port.
    when = stamp(world.target + timedelta(seconds=1))
    # The proposed time is replaced by one typed (then accepted), the name typed, and at
    # the switch's own question the operator answers something else: not switched.
    result = run_on_terminal(
        sandbox.config_path,
        "action",
        "web",
        "pitr",
        "--reason",
        "compare",
        "--verify-window",
        "1",
        typed=f"{when}\n\nweb\nno\n",
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "restorable: " in out and "DATA LOSS: writes between " in out
    assert f"restore to {when} (typed)" in out
    assert "checks: live database (before) | restored database (after)" in out
    assert "  orders: 9 | 6" in out
    assert "Switch the application to the restored database?" in out
    assert "switch not done" in out
    assert env_file.read_text() == before

    # With --yes and no --arg nothing is chosen for the operator: exit 2, before sampling.
    refused = cli(sandbox, world, "action", "web", "pitr", "--yes", "--reason", "x")
    assert refused.returncode == 2
    assert "pitr needs --arg TIME" in refused.stderr and "Traceback" not in refused.stderr


def journal_files(box: DemoSandbox) -> list[Path]:
    return sorted(box.root.rglob("journal/*.jsonl"))


def test_a_restore_sigkilled_once_started_is_finished_by_resume_never_twice(
    sandbox: DemoSandbox, world: World
) -> None:
    rolled_back_first(sandbox, world)
    cfg = pitr_config(sandbox)
    port, restores = int(str(cfg["port"])), Path(str(cfg["restore_dir"]))
    when = world.target + timedelta(seconds=2)
    name = f"web-pitr-{when:%Y%m%dT%H%M%SZ}"
    env = dict(os.environ, **{ENV: world.pg.dsn()})
    argv = [sys.executable, "-m", "console.cli", "action", "--config", str(sandbox.config_path)]
    argv += ["web", "pitr", "--arg", stamp(when), "--yes", "--reason", "orders corrupted"]
    argv += ["--verify-window", "1"]
    old = journal_files(sandbox)  # the rollback's, recorded
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    copying = restores / f"{name}.copying"
    try:
        # Killed once the copy into the new data directory is under way (it is made as
        # NAME.copying and renamed into place when complete).
        deadline = time.monotonic() + 120
        while not (copying.exists() or (restores / name).exists()):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the restore never started"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    (journal,) = set(journal_files(sandbox)) - set(old)  # this incident's, open
    incident = journal.stem

    resumed = cli(sandbox, world, "resume", "web", "--yes", "--verify-window", "1")
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out
    assert "Traceback" not in out
    # The resume says what it found: the interrupted copy moved aside (never removed) and
    # made again, or (the kill landed just after the rename) a complete one not copied again.
    assert "an interrupted copy was moved aside" in out or "not copied again" in out

    # One complete data directory and one server for the time; an interrupted copy, if
    # the kill landed in it, moved aside (never removed, never a second server).
    mine = [p for p in restores.iterdir() if p.name.startswith(name) and p.is_dir()]
    complete = [p for p in mine if (p / MARKER).is_file()]
    assert complete == [restores / name], mine
    serving = [p for p in mine if (p / "postmaster.pid").is_file()]
    assert serving == [restores / name], mine
    assert rows_on(world, port) == [1, 2, 3, 4, 5, 6]
    assert f"@127.0.0.1:{port}/postgres" in Path(str(cfg["env_file"])).read_text()

    # The entry, once: the pitr incident recorded a single time, with its checks.
    history = sandbox.root.joinpath("rollback-history.md").read_text()
    assert history.count(f"id={incident}") == 1
    pitr_entries = [e for e in history_json(sandbox, world) if str(e["action"]).startswith("pitr")]
    assert len(pitr_entries) == 1
    assert pitr_entries[0]["result"] == "database restored to a point in time and verified"
    assert pitr_entries[0]["checks"] == [{"name": "orders", "live": "9", "restored": "6"}]
    again = cli(sandbox, world, "resume", "web", "--yes")
    assert again.returncode == 0 and "no interrupted rollback" in again.stdout


def test_an_incident_left_at_the_switch_question_is_resumed_later_to_switch(
    sandbox: DemoSandbox, world: World
) -> None:
    rolled_back_first(sandbox, world)
    cfg = pitr_config(sandbox)
    port, env_file = int(str(cfg["port"])), Path(str(cfg["env_file"]))
    before = env_file.read_text()
    when = stamp(world.target + timedelta(seconds=3))
    old = journal_files(sandbox)
    leader, follower = os.openpty()
    # The time and the name typed ahead; the switch question is never answered: the
    # console is killed while it waits there, after the checks.
    os.write(leader, f"{when}\n\nweb\n".encode())
    env = dict(os.environ, **{ENV: world.pg.dsn()})
    argv = [sys.executable, "-m", "console.cli", "action", "--config", str(sandbox.config_path)]
    argv += ["web", "pitr", "--reason", "orders corrupted", "--verify-window", "1"]
    process = subprocess.Popen(
        argv, stdin=follower, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    os.close(follower)
    try:
        deadline = time.monotonic() + 180
        while not checks_done(sandbox, old):
            assert process.poll() is None, f"exited {process.returncode}"
            assert time.monotonic() < deadline, "the checks never finished"
            time.sleep(0.05)
        time.sleep(0.5)  # at the question now: nothing more is done without an answer
        assert process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        os.close(leader)
    assert env_file.read_text() == before  # not switched

    resumed = cli(sandbox, world, "resume", "web", "--yes", "--verify-window", "1")
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out
    assert "not copied again" in out and "not started twice" in out
    assert f"@127.0.0.1:{port}/postgres" in env_file.read_text()
    assert rows_on(world, port) == [1, 2, 3, 4, 5, 6]
    (entry,) = [e for e in history_json(sandbox, world) if e["action"] == f"pitr {when}"]
    assert entry["result"] == "database restored to a point in time and verified"
    assert entry["checks"] == [{"name": "orders", "live": "9", "restored": "6"}]


def checks_done(box: DemoSandbox, old: list[Path]) -> bool:
    """A new incident's journal says its checks step (the fourth) finished."""
    for path in set(journal_files(box)) - set(old):
        for line in path.read_text(errors="replace").splitlines():
            if '"event":"step"' in line and '"index":3' in line and '"status":"finished"' in line:
                return True
    return False
