"""Runbook steps of your own, end to end: `rollback` and `resume` as processes, on real parts.

The demo sandbox (real release folders, a real service process answering
HTTP) rolled back by ``python -m console.cli``, with ``[[services.steps]]``
that are real argv commands (a script logging which release was live when it
ran, one that fails, one that waits to be killed), a real HTTP flag service
standing in for flagd / Unleash (``tests/fakes/flags.py``) and, where the
machine has it, a real nginx whose config is restored from ``.backup``,
tested with ``nginx -t`` and reloaded (runbook 000).  Nothing is mocked: what
is asserted is the link, the served release, the script's log, the flag
service's state, nginx's answer, the journal and the history entry.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.config import load_config
from console.demo import DemoSandbox
from console.resume import open_incidents
from tests.e2e.test_headless_rollback import (
    edit_config,
    field,
    history_of,
    served_version,
)
from tests.e2e.test_resume import console, journal_events
from tests.fakes.flags import FlagService
from tests.signals import free_port

pytestmark = pytest.mark.e2e

TOKEN = "flag-tok-7Hq2-never-shown"
TOKEN_ENV = "E2E_STEPS_FLAG_TOKEN"

#: ``record.py NAME [EXIT]``: logs "NAME current=<release>", leaves NAME.done, exits EXIT.
RECORD = """
import os, pathlib, sys
name = sys.argv[1]
live = os.path.basename(os.readlink("current"))
with open("order.log", "a") as log:
    log.write(f"{name} current={live}\\n")
pathlib.Path(f"{name}.done").write_text(live)
for n in range(60):
    print(f"{name}: output line {n}")
code = int(sys.argv[2]) if len(sys.argv) > 2 else 0
sys.exit(code)
"""

#: ``gated.py NAME``: logs its run, leaves NAME.done (its effect), says it started, then
#: waits for the test's ``go`` file before it exits: the console is killed meanwhile.
GATED = """
import os, pathlib, sys, time
name = sys.argv[1]
with open("order.log", "a") as log:
    log.write(f"{name} ran\\n")
pathlib.Path(f"{name}.done").write_text("")
pathlib.Path("gated-started").write_text("")
while not pathlib.Path("go").exists():
    time.sleep(0.05)
"""


@pytest.fixture
def flags() -> Iterator[FlagService]:
    service = FlagService(TOKEN)
    try:
        yield service
    finally:
        service.close()


def env() -> dict[str, str]:
    return {**os.environ, TOKEN_ENV: f"Bearer {TOKEN}"}


def with_steps(box: DemoSandbox, steps: list[dict[str, Any]]) -> None:
    (box.root / "record.py").write_text(RECORD)
    (box.root / "gated.py").write_text(GATED)
    edit_config(box, lambda d: d["services"][0].__setitem__("steps", steps))


def record(name: str, code: int = 0) -> list[str]:
    return [sys.executable, "record.py", name, *([str(code)] if code else [])]


def order(box: DemoSandbox) -> list[str]:
    path = box.root / "order.log"
    return path.read_text().splitlines() if path.exists() else []


def run(box: DemoSandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        console(box, *args),
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env=env(),
    )


def kill_switch(flags: FlagService, enabled: bool) -> dict[str, Any]:
    return {
        "method": "PUT",
        "url": flags.url("new-checkout"),
        "headers_env": {"Authorization": TOKEN_ENV},
        "body": {"enabled": enabled},
    }


def every_file(box: DemoSandbox) -> str:
    found = [box.root / "rollback-history.md", *(box.root / "state").rglob("*")]
    return "\n".join(p.read_text(errors="replace") for p in found if p.is_file())


def test_steps_run_in_order_with_the_flag_switched_and_are_recorded(
    sandbox: DemoSandbox, flags: FlagService
) -> None:
    with_steps(
        sandbox,
        [
            {
                "id": "maint-on",
                "title": "Maintenance mode on",
                "when": "before",
                "run": record("maint-on"),
                "check": ["test", "-e", "maint-on.done"],
                "undo": ["rm", "-f", "maint-on.done"],
            },
            {
                "id": "kill-switch",
                "title": "Feature flag new-checkout off",
                "when": "before",
                "http": kill_switch(flags, False),
                "check": {
                    "url": flags.url("new-checkout"),
                    "headers_env": {"Authorization": TOKEN_ENV},
                    "expect_body": '"enabled":false',
                },
            },
            {
                "id": "maint-off",
                "title": "Maintenance mode off",
                "when": "after",
                "run": record("maint-off"),
            },
        ],
    )
    result = run(sandbox, "rollback", "web", "--yes", "--reason", "5xx", "--verify-window", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert order(sandbox) == ["maint-on current=v1.3.0", "maint-off current=v1.2.9"]
    assert "v1.2.9" in served_version(sandbox)
    assert flags.flags["new-checkout"] is False
    assert [r.method for r in flags.requests] == ["PUT", "GET"]
    # The plan showed each step with its command, the token by its variable only.
    assert f'-H "Authorization: ${TOKEN_ENV}"' in result.stdout
    assert "  1. Maintenance mode on" in result.stdout
    assert "  5. Maintenance mode off" in result.stdout

    entry = history_of(sandbox).read_text()
    assert field(entry, "Outcome") == "rolled back and verified"
    assert "- [x] Maintenance mode on (before the switch) — exited 0; check passed" in entry
    assert "- [x] Feature flag new-checkout off (before the switch) — HTTP 200 OK" in entry
    assert "- [x] Maintenance mode off (after the switch) — exited 0" in entry
    # The entry keeps the output trimmed: the first and last lines, the middle counted.
    assert "maint-on: output line 0" in entry and "maint-on: output line 59" in entry
    assert "maint-on: output line 30" not in entry
    assert "lines of output not shown" in entry
    # The flag service echoed the header back: masked in every output and file.
    assert TOKEN not in result.stdout + result.stderr + every_file(sandbox)
    assert '"by":"***"' in entry


def test_a_failing_check_stops_the_rollback_before_the_switch(
    sandbox: DemoSandbox, flags: FlagService
) -> None:
    with_steps(
        sandbox,
        [
            {
                "id": "kill-switch",
                "title": "Feature flag new-checkout off",
                "when": "before",
                "http": kill_switch(flags, False),
                "undo": kill_switch(flags, True),
            },
            {
                "id": "drain",
                "title": "Queue drained",
                "when": "before",
                "run": record("drain"),
                "check": ["test", "-e", "queue-empty"],
            },
            {"id": "after", "title": "After", "when": "after", "run": record("after")},
        ],
    )
    result = run(sandbox, "rollback", "web", "--yes", "--reason", "5xx", "--verify-window", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the check of step 'drain' did not pass" in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing was switched, nothing after the check ran, the flag was put back.
    assert (sandbox.root / "current").resolve().name == "v1.3.0"
    assert "v1.3.0" in served_version(sandbox)
    assert order(sandbox) == ["drain current=v1.3.0"]
    assert flags.flags["new-checkout"] is True
    assert [r.body for r in flags.changes()] == ['{"enabled":false}', '{"enabled":true}']
    entry = history_of(sandbox).read_text()
    assert field(entry, "Outcome") == "rollback failed"
    assert "- [!] Queue drained (before the switch) — failed: the check of step 'drain'" in entry
    assert "Feature flag new-checkout off' undone after a later step failed: HTTP 200 OK" in entry


def test_a_failing_step_after_the_switch_undoes_the_steps_before_it(
    sandbox: DemoSandbox, flags: FlagService
) -> None:
    with_steps(
        sandbox,
        [
            {
                "id": "maint-on",
                "title": "Maintenance mode on",
                "when": "before",
                "run": ["touch", "maintenance.flag"],
                "undo": ["rm", "-f", "maintenance.flag"],
            },
            {
                "id": "kill-switch",
                "title": "Feature flag new-checkout off",
                "when": "before",
                "http": kill_switch(flags, False),
                "undo": kill_switch(flags, True),
            },
            {"id": "warm", "title": "Warm the cache", "when": "after", "run": record("warm", 4)},
        ],
    )
    result = run(sandbox, "rollback", "web", "--yes", "--reason", "5xx", "--verify-window", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "step 'warm'" in result.stderr and "exited 4" in result.stderr
    # Undone, latest first, before the failure was reported.
    out = result.stdout
    flag_undo = out.index("undo of 'Feature flag new-checkout off'")
    maint_undo = out.index("undo of 'Maintenance mode on'")
    assert flag_undo < maint_undo
    assert flags.flags["new-checkout"] is True
    assert not (sandbox.root / "maintenance.flag").exists()
    # The switch itself took effect and is reported as it is, not "undone".
    assert (sandbox.root / "current").resolve().name == "v1.2.9"
    entry = history_of(sandbox).read_text()
    assert field(entry, "Outcome") == "rollback failed"
    assert "- [!] Warm the cache (after the switch) — failed: step 'warm'" in entry
    assert "Step 'Maintenance mode on' undone after a later step failed: exited 0" in entry


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_during_a_step_resume_settles_it_by_its_check_and_never_runs_it_twice(
    sandbox: DemoSandbox, when: str
) -> None:
    """Before the switch, resume plans again (the switch never happened); after it, resume
    runs what is left of the plan: either way the started step is settled by its check."""
    gated = {
        "id": "maint",
        "title": "Maintenance mode",
        "when": when,
        "run": [sys.executable, "gated.py", "maint"],
        "check": ["test", "-e", "maint.done"],
    }
    other = "after" if when == "before" else "before"
    with_steps(sandbox, [gated, {"id": other, "title": other, "when": other, "run": record(other)}])
    proc = subprocess.Popen(
        console(sandbox, "rollback", "web", "--yes", "--reason", "5xx"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env(),
    )
    try:
        for _ in range(1200):
            if (sandbox.root / "gated-started").exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert (sandbox.root / "gated-started").exists(), proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    kill_gated(sandbox)

    # The step had taken effect when the console died; the incident is open.
    index = 0 if when == "before" else 3  # after: the before step, the link, the restart
    live = "v1.3.0" if when == "before" else "v1.2.9"
    first = ["maint ran"] if when == "before" else ["before current=v1.3.0", "maint ran"]
    assert order(sandbox) == first
    assert (sandbox.root / "current").resolve().name == live
    pending = open_incidents(load_config(sandbox.config_path).console.state_dir)
    assert len(pending) == 1
    assert f"{index + 1}. Maintenance mode: started, not seen finishing" in pending[0].describe()

    (sandbox.root / "go").write_text("")  # were it run again, it would not even wait
    resumed = run(sandbox, "resume", "web", "--yes", "--verify-window", "2")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    last = ["after current=v1.2.9"] if when == "before" else []
    assert order(sandbox) == first + last  # not run twice, nor the other step
    assert "already in effect (its check passed): not run again" in resumed.stdout
    assert "v1.2.9" in served_version(sandbox)

    entry = history_of(sandbox).read_text()
    assert field(entry, "Outcome") == "rolled back and verified"
    assert f"Interrupted: the console stopped during step {index + 1} (Maintenance mode)" in entry
    assert f"- [x] Maintenance mode ({when} the switch) — in effect (its check passed" in entry
    steps = [e for e in journal_events(sandbox) if e["event"] == "step" and e["index"] == index]
    assert [e["status"] for e in steps] == ["started", "started", "skipped"]


def kill_gated(box: DemoSandbox) -> None:
    """The step runs in a process group of its own: end it as a dying bastion would."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if b"gated.py" in cmdline and cwd == str(box.root):
            os.kill(int(entry.name), signal.SIGKILL)


# --------------------------------------------------------------------------- nginx


def nginx_binary() -> str:
    """The nginx to run; a machine without one skips (CI, which installs it, fails)."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        reason = "nginx is not installed (Debian: apt-get install nginx)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the nginx test")
        pytest.skip(reason)
    return found


NGINX_CONF = """
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ {answer} }}
    }}
}}
"""


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[str, Path, int]]:
    """A real nginx of its own (prefix, pid and port in tmp_path), answering "good";
    its config is then broken by a bad edit (the ``.backup`` keeps the good one)."""
    binary = nginx_binary()
    root = tmp_path / "nginx"
    (root / "tmp").mkdir(parents=True)
    port = free_port()
    conf = root / "nginx.conf"
    good = NGINX_CONF.format(root=root, port=port, answer='return 200 "good\\n";')
    conf.write_text(good)
    (root / "nginx.conf.backup").write_text(good)
    subprocess.run([binary, "-c", str(conf), "-p", str(root)], check=True, timeout=30)
    try:
        wait_for(lambda: answer(port) == "good")
        conf.write_text(good.replace('return 200 "good\\n";', 'return 503 "bad edit\\n";'))
        subprocess.run([binary, "-c", str(conf), "-p", str(root), "-s", "reload"], check=True)
        wait_for(lambda: answer(port) == "bad edit")
        yield binary, root, port
    finally:
        subprocess.run(
            [binary, "-c", str(conf), "-p", str(root), "-s", "quit"], check=False, timeout=30
        )


def answer(port: int) -> str:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).text.strip()
    except httpx.HTTPError:
        return ""


def wait_for(condition: Any, limit_s: float = 15.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "nginx did not get there"
        time.sleep(0.1)


def test_nginx_config_restored_from_backup_tested_and_reloaded(
    sandbox: DemoSandbox, nginx: tuple[str, Path, int]
) -> None:
    binary, root, port = nginx
    conf, args = str(root / "nginx.conf"), ["-c", str(root / "nginx.conf"), "-p", str(root)]
    with_steps(
        sandbox,
        [
            {
                "id": "nginx-restore",
                "title": "Restore nginx.conf from .backup",
                "when": "after",
                "run": ["cp", f"{conf}.backup", conf],
                "check": [binary, "-t", *args],
            },
            {
                "id": "nginx-reload",
                "title": "Reload nginx",
                "when": "after",
                "run": [binary, *args, "-s", "reload"],
            },
        ],
    )
    result = run(sandbox, "rollback", "web", "--yes", "--reason", "5xx", "--verify-window", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"cp {conf}.backup {conf} && {binary} -t" in result.stdout
    wait_for(lambda: answer(port) == "good")
    entry = history_of(sandbox).read_text()
    assert "syntax is ok" in entry  # nginx -t's own words, in the step's output
    assert "- [x] Reload nginx (after the switch) — exited 0" in entry
