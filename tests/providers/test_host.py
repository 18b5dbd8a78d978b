"""The host provider on real files, real processes and real git repositories.

No mocks: release folders and the ``current`` symlink are made in tmp_path,
commands are real programs, units are real processes (the demo sandbox's
service), and the git strategy runs against a real repository.  The shell is
the oracle: every command a plan displays (``ln -sfn ...``, ``git ...``, the
restart argv) is run with ``shell=True`` in a copy of the same start state, and
must leave the state the provider left.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w

from console.config import ServiceConfig, load_config
from console.demo import DemoSandbox, build_sandbox
from console.model import Plan, ProgressEvent, ProgressStatus, StepKind
from providers import load_provider
from providers.base import (
    CommandFailed,
    Conflict,
    InvalidTarget,
    NotFound,
    ProviderError,
    TimedOut,
)
from providers.host import HostProvider

RELEASES = ("v1.2.8", "v1.2.9", "v1.3.0")  # oldest first

# A restart command that leaves a trace: which release `current` named when it ran.
RECORD_RESTART = [
    sys.executable,
    "-c",
    "import os, pathlib; target = os.readlink('current'); "
    "pathlib.Path('restarted.txt').write_text(target); print('restarted from', target)",
]


# --------------------------------------------------------------------------- helpers


def make_site(root: Path, releases: tuple[str, ...] = RELEASES, live: str = "v1.3.0") -> Path:
    """Release folders with increasing mtimes (oldest first) and current -> live."""
    now = time.time()
    for age, name in enumerate(reversed(releases)):
        folder = root / "releases" / name
        folder.mkdir(parents=True)
        (folder / "app.txt").write_text(f"app {name}\n")
        stamp = now - 3600 * (age + 1)
        os.utime(folder, (stamp, stamp))
    os.symlink(root / "releases" / live, root / "current")
    return root


def service_for(root: Path, **host: Any) -> ServiceConfig:
    """Write a real config file for ``root`` and load it the way the console does."""
    table: dict[str, Any] = {
        "strategy": "symlink",
        "releases_dir": str(root / "releases"),
        "current_link": str(root / "current"),
        "command_timeout_s": 20,
    }
    table.update(host)
    config = {
        "console": {"history_file": "history.md", "state_dir": "state"},
        "services": [
            {
                "name": "web",
                "environment": "production",
                "provider": "host",
                "host": table,
                "health": [{"url": "http://127.0.0.1:9/health"}],
            }
        ],
    }
    path = root / "config.toml"
    path.write_text(tomli_w.dumps(config))
    return load_config(path).service("web")


def provider_for(root: Path, **host: Any) -> HostProvider:
    provider = load_provider(service_for(root, **host))
    assert isinstance(provider, HostProvider)
    return provider


def run_plan(provider: HostProvider, plan: Plan) -> list[ProgressEvent]:
    return list(provider.execute(plan))


def run_until_error(
    provider: HostProvider, plan: Plan
) -> tuple[list[ProgressEvent], ProviderError]:
    """Run the plan, expecting a ProviderError: the events seen until then, and the error."""
    events: list[ProgressEvent] = []
    try:
        for event in provider.execute(plan):
            events.append(event)
    except ProviderError as err:
        return events, err
    raise AssertionError(f"the plan ran to the end: {statuses(events)}")


def statuses(events: list[ProgressEvent]) -> list[tuple[int, ProgressStatus]]:
    return [(e.step, e.status) for e in events if e.status is not ProgressStatus.OUTPUT]


def alive(pid: int) -> bool:
    """Exists and has not exited (a zombie has exited; PID 1 here may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] not in ("Z", "X")


def shell(command: str, cwd: Path) -> None:
    """Run a displayed command the way an operator pasting it would."""
    subprocess.run(command, shell=True, check=True, cwd=cwd, timeout=60, capture_output=True)


def link_of(root: Path) -> str:
    """Where ``current`` points, relative to the site, so two sites compare equal."""
    return os.readlink(root / "current").replace(str(root), "ROOT")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_site(tmp_path / "site")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoSandbox]:
    box = build_sandbox(tmp_path / "demo")
    box.start()
    try:
        yield box
    finally:
        box.stop()
    assert not box.is_running()


def demo_provider(box: DemoSandbox) -> HostProvider:
    provider = load_provider(load_config(box.config_path).service("web"))
    assert isinstance(provider, HostProvider)
    return provider


# --------------------------------------------------------------------------- snapshot


def test_snapshot_lists_releases_newest_first_with_the_live_one(site: Path) -> None:
    folder = site / "releases" / "v1.2.8"
    stamp = folder.stat().st_mtime
    (folder / "VERSION").write_text("1.2.8-hotfix2\n")
    os.utime(folder, (stamp, stamp))  # as deployed: the file came with the release
    snap = provider_for(site).snapshot()

    assert [r.id for r in snap.revisions] == ["v1.3.0", "v1.2.9", "v1.2.8"]
    assert snap.current is not None and snap.current.id == "v1.3.0"
    assert [r.current for r in snap.revisions] == [True, False, False]
    assert snap.revisions[2].version == "1.2.8-hotfix2"  # the VERSION file wins
    assert snap.revisions[1].version == "v1.2.9"
    assert snap.revisions[1].detail == str(site / "releases" / "v1.2.9")
    created = snap.revisions[1].created
    assert created is not None and created.tzinfo == UTC
    mtime = (site / "releases" / "v1.2.9").stat().st_mtime
    assert created.timestamp() == pytest.approx(mtime)
    previous = snap.previous()
    assert previous is not None and previous.id == "v1.2.9"
    assert (snap.service, snap.environment, snap.provider) == ("web", "production", "host")
    assert snap.notes == ()
    assert snap.units == ()


def test_equal_mtimes_fall_back_to_natural_version_order(tmp_path: Path) -> None:
    root = tmp_path / "site"
    for name in ("v1.9.0", "v1.10.0", "v1.2.0"):
        (root / "releases" / name).mkdir(parents=True)
        os.utime(root / "releases" / name, (1_700_000_000, 1_700_000_000))
    os.symlink(root / "releases" / "v1.10.0", root / "current")
    snap = provider_for(root).snapshot()
    assert [r.id for r in snap.revisions] == ["v1.10.0", "v1.9.0", "v1.2.0"]


def test_relative_current_link_in_config_is_the_link_not_its_target(site: Path) -> None:
    path = site / "config.toml"
    service_for(site)  # writes a config; rewrite it with paths relative to the file
    path.write_text(
        path.read_text()
        .replace(str(site / "releases"), "releases")
        .replace(str(site / "current"), "current")
    )
    service = load_config(path).service("web")
    assert service.host is not None and service.host.current_link == site / "current"
    snap = HostProvider(service).snapshot()
    assert snap.current is not None and snap.current.id == "v1.3.0"


@pytest.mark.parametrize("case", ["missing", "outside", "dangling", "not-a-link"])
def test_unusable_current_link_is_a_note_not_an_error(site: Path, case: str) -> None:
    link = site / "current"
    link.unlink()
    if case == "outside":
        (site / "elsewhere").mkdir()
        os.symlink(site / "elsewhere", link)
    elif case == "dangling":
        os.symlink(site / "releases" / "v9.9.9", link)
    elif case == "not-a-link":
        link.mkdir()
    snap = provider_for(site).snapshot()
    assert snap.current is None
    assert not any(r.current for r in snap.revisions)
    assert len(snap.notes) == 1 and str(link) in snap.notes[0]


def test_pid_file_missing_or_dead_gives_no_units_and_a_note(site: Path) -> None:
    pid_file = site / "app.pid"
    provider = provider_for(site, pid_file=str(pid_file))
    snap = provider.snapshot()
    assert snap.units == ()
    assert any("not found" in note for note in snap.notes)

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    pid_file.write_text(f"{dead.pid}\n")
    snap = provider.snapshot()
    assert snap.units == ()
    assert any(f"pid {dead.pid}" in note and "not running" in note for note in snap.notes)


def test_units_from_pid_file_run_from_the_live_release(demo: DemoSandbox) -> None:
    snap = demo_provider(demo).snapshot()
    pid = int(demo.pid_file.read_text())
    assert len(snap.units) == 1
    unit = snap.units[0]
    assert unit.name == f"pid {pid}"
    assert unit.ready
    assert unit.state in ("running", "sleeping")
    assert unit.revision == "v1.3.0"
    assert unit.started is not None and unit.started.tzinfo == UTC
    assert "app.py" in unit.detail
    assert snap.current is not None and snap.current.id == "v1.3.0"


def test_units_found_by_process_match(demo: DemoSandbox) -> None:
    pattern = re.escape(f"{demo.root}/releases/") + r".*/app\.py"
    service = load_config(demo.config_path).service("web")
    assert service.host is not None
    host = replace(service.host, pid_file=None, process_match=pattern)
    snap = HostProvider(replace(service, host=host)).snapshot()
    pid = int(demo.pid_file.read_text())
    assert [u.name for u in snap.units] == [f"pid {pid}"]
    assert snap.units[0].revision == "v1.3.0"


# --------------------------------------------------------------------------- plan


def test_plan_defaults_to_the_previous_release_and_shows_every_command(site: Path) -> None:
    provider = provider_for(
        site,
        reload_check=["nginx", "-t"],
        restart=["systemctl", "restart", "app"],
        reload=["systemctl", "reload", "nginx"],
    )
    plan = provider.plan(None, dry_run=True)
    assert plan.dry_run
    assert plan.from_revision is not None and plan.from_revision.id == "v1.3.0"
    assert plan.to_revision.id == "v1.2.9"
    assert plan.summary == "Roll back web (production) from v1.3.0 to v1.2.9"
    assert [s.kind for s in plan.steps] == [
        StepKind.SWITCH,
        StepKind.RELOAD,
        StepKind.RESTART,
        StepKind.RELOAD,
    ]
    assert plan.steps[0].title == "Point current at releases/v1.2.9"
    assert plan.steps[0].command == f"ln -sfn {site}/releases/v1.2.9 {site}/current"
    assert [s.command for s in plan.steps[1:]] == [
        "nginx -t",
        "systemctl restart app",
        "systemctl reload nginx",
    ]
    assert all(s.timeout_s == 20 for s in plan.steps)
    assert plan.warnings == (
        "Neither pid_file nor process_match is configured: readiness is judged by the "
        "switch alone, not by the processes.",
    )


def test_plan_to_a_chosen_older_release_warns_what_is_skipped(site: Path) -> None:
    plan = provider_for(site, restart=["true"]).plan("v1.2.8")
    assert plan.to_revision.id == "v1.2.8"
    assert any("not the release right before v1.3.0 (that is v1.2.9)" in w for w in plan.warnings)


def test_plan_without_restart_warns(site: Path) -> None:
    plan = provider_for(site).plan(None)
    assert [s.kind for s in plan.steps] == [StepKind.SWITCH]
    assert any("No restart command is configured" in w for w in plan.warnings)


def test_plan_unknown_release_is_not_found_and_lists_the_known_ones(site: Path) -> None:
    with pytest.raises(NotFound) as info:
        provider_for(site).plan("v0.0.1")
    message = str(info.value)
    assert "'v0.0.1'" in message
    assert "available: v1.3.0 (current), v1.2.9, v1.2.8" in message
    assert info.value.exit_code == 2


def test_plan_to_the_live_release_is_invalid(site: Path) -> None:
    with pytest.raises(InvalidTarget, match=re.escape("v1.3.0 is already the live release of web")):
        provider_for(site).plan("v1.3.0")


def test_plan_with_nothing_older_is_invalid(site: Path) -> None:
    (site / "current").unlink()
    os.symlink(site / "releases" / "v1.2.8", site / "current")
    with pytest.raises(InvalidTarget, match=re.escape("no release before v1.2.8")):
        provider_for(site).plan(None)


def test_dry_run_plan_is_never_executed(site: Path) -> None:
    provider = provider_for(site)
    plan = provider.plan(None, dry_run=True)
    with pytest.raises(InvalidTarget):
        list(provider.execute(plan))
    assert link_of(site) == "ROOT/releases/v1.3.0"


# --------------------------------------------------------------------------- execute


def test_execute_leaves_the_state_the_displayed_shell_commands_leave(tmp_path: Path) -> None:
    # Spaces in the path prove the displayed commands are quoted for a shell.
    ours = make_site(tmp_path / "site one")
    theirs = make_site(tmp_path / "site two")
    provider = provider_for(ours, restart=RECORD_RESTART)
    plan = provider.plan(None)

    events = run_plan(provider, plan)
    assert statuses(events) == [
        (0, ProgressStatus.STARTED),
        (0, ProgressStatus.FINISHED),
        (1, ProgressStatus.STARTED),
        (1, ProgressStatus.FINISHED),
    ]
    assert events[0].message == plan.steps[0].command
    output = [e.message for e in events if e.status is ProgressStatus.OUTPUT and e.step == 1]
    assert output == [f"restarted from {ours}/releases/v1.2.9"]
    assert (ours / "current").is_symlink()
    assert sorted(p.name for p in ours.iterdir() if p.name.startswith(".")) == []

    for step in provider_for(theirs, restart=RECORD_RESTART).plan(None).steps:
        shell(step.command, cwd=theirs)  # workdir: the config file's folder

    assert link_of(ours) == link_of(theirs) == "ROOT/releases/v1.2.9"
    recorded = [
        (root / "restarted.txt").read_text().replace(str(root), "ROOT") for root in (ours, theirs)
    ]
    assert recorded == ["ROOT/releases/v1.2.9"] * 2
    snap = provider.snapshot()
    assert snap.current is not None and snap.current.id == "v1.2.9"
    ready = provider.wait_ready(plan, 5)
    assert ready.ready, ready.message


def test_steps_run_in_order_each_with_its_own_output(site: Path) -> None:
    def say(text: str) -> list[str]:
        return [sys.executable, "-c", f"print({text!r})"]

    provider = provider_for(
        site, reload_check=say("config ok"), restart=say("restarted"), reload=say("reloaded")
    )
    events = run_plan(provider, provider.plan(None))
    output = [(e.step, e.message) for e in events if e.status is ProgressStatus.OUTPUT]
    assert output[1:] == [(1, "config ok"), (2, "restarted"), (3, "reloaded")]
    assert statuses(events)[-1] == (3, ProgressStatus.FINISHED)


def test_a_restart_that_leaves_a_child_holding_its_output_still_finishes(site: Path) -> None:
    # A careless restart script: its daemon inherits stdout and keeps the pipe open.
    restart = ["sh", "-c", "sleep 300 & echo $! > child.pid; echo restarted"]
    provider = provider_for(site, restart=restart, command_timeout_s=20)
    try:
        events = run_plan(provider, provider.plan(None))
    finally:
        child = int((site / "child.pid").read_text())
        os.kill(child, signal.SIGKILL)
    assert statuses(events)[-1] == (1, ProgressStatus.FINISHED)
    assert "restarted" in [e.message for e in events]


def test_pid_file_with_garbage_is_a_note(site: Path) -> None:
    (site / "app.pid").write_text("not-a-pid\n")
    snap = provider_for(site, pid_file=str(site / "app.pid")).snapshot()
    assert snap.units == ()
    assert any("not a process id" in note for note in snap.notes)


def test_failing_restart_is_command_failed_with_its_last_output_line(site: Path) -> None:
    restart = [
        sys.executable,
        "-c",
        "import sys; print('restarting app'); print('unit failed'); sys.exit(3)",
    ]
    provider = provider_for(site, restart=restart)
    events, error = run_until_error(provider, provider.plan(None))
    assert isinstance(error, CommandFailed)
    assert str(error) == f"`{shlex.join(restart)}` exited 3: unit failed"
    assert statuses(events)[-1] == (1, ProgressStatus.FAILED)
    assert events[-1].message == str(error)
    assert [e.message for e in events if e.status is ProgressStatus.OUTPUT][-2:] == [
        "restarting app",
        "unit failed",
    ]
    # The switch did happen, and is reported as such; only the restart failed.
    assert (0, ProgressStatus.FINISHED) in statuses(events)
    assert link_of(site) == "ROOT/releases/v1.2.9"


def test_hanging_command_times_out_and_its_whole_process_group_is_gone(site: Path) -> None:
    restart = ["sh", "-c", "echo $$ > sh.pid; sleep 300 & echo $! > child.pid; echo waiting; wait"]
    provider = provider_for(site, restart=restart, command_timeout_s=1)
    events, error = run_until_error(provider, provider.plan(None))
    assert isinstance(error, TimedOut)
    assert shlex.join(restart) in str(error)
    assert "time limit of 1 s" in str(error)
    assert statuses(events)[-1] == (1, ProgressStatus.FAILED)
    assert "waiting" in [e.message for e in events if e.status is ProgressStatus.OUTPUT]
    for name in ("sh.pid", "child.pid"):
        pid = int((site / name).read_text())
        assert not alive(pid), f"{name} {pid} still alive"


def test_missing_command_is_command_failed_naming_it(site: Path) -> None:
    provider = provider_for(site, restart=["no-such-restart-tool", "app"])
    events, error = run_until_error(provider, provider.plan(None))
    assert isinstance(error, CommandFailed)
    assert str(error) == "`no-such-restart-tool app` cannot run: no-such-restart-tool not found"
    assert statuses(events)[-2:] == [(1, ProgressStatus.STARTED), (1, ProgressStatus.FAILED)]


def test_link_changed_since_the_plan_is_a_conflict_and_nothing_runs(site: Path) -> None:
    provider = provider_for(site, restart=RECORD_RESTART)
    plan = provider.plan(None)
    shell(f"ln -sfn {site}/releases/v1.2.8 {site}/current", cwd=site)  # a colleague, meanwhile
    events, error = run_until_error(provider, plan)
    assert isinstance(error, Conflict)
    assert "v1.2.8" in str(error) and "v1.3.0" in str(error)
    assert statuses(events) == [(0, ProgressStatus.STARTED), (0, ProgressStatus.FAILED)]
    assert link_of(site) == "ROOT/releases/v1.2.8"
    assert not (site / "restarted.txt").exists()


def test_execute_rolls_back_the_demo_and_the_restart_serves_the_old_release(
    demo: DemoSandbox,
) -> None:
    provider = demo_provider(demo)
    old_pid = int(demo.pid_file.read_text())
    plan = provider.plan(None)
    assert plan.to_revision.id == "v1.2.9"
    assert [s.kind for s in plan.steps] == [StepKind.SWITCH, StepKind.RESTART]

    events = run_plan(provider, plan)
    assert [s for s in statuses(events) if s[1] is ProgressStatus.FAILED] == []
    ready = provider.wait_ready(plan, 15)
    assert ready.ready, ready.message

    new_pid = int(demo.pid_file.read_text())
    assert new_pid != old_pid
    assert not alive(old_pid)
    assert Path(os.readlink(f"/proc/{new_pid}/cwd")) == demo.root / "releases" / "v1.2.9"
    base = demo.health_url.removesuffix("/health")
    assert httpx.get(f"{base}/version", timeout=5).text.strip() == "v1.2.9"
    assert [httpx.get(demo.health_url, timeout=5).status_code for _ in range(10)] == [200] * 10
    units = provider.snapshot().units
    assert [(u.name, u.revision, u.ready) for u in units] == [(f"pid {new_pid}", "v1.2.9", True)]


def test_wait_ready_is_not_ready_while_the_process_runs_the_old_release(
    demo: DemoSandbox,
) -> None:
    provider = demo_provider(demo)
    plan = provider.plan(None)
    shell(plan.steps[0].command, cwd=demo.root)  # switched by hand, never restarted
    result = provider.wait_ready(plan, 0.5)
    assert not result.ready
    assert "v1.3.0" in result.message and "no process runs v1.2.9" in result.message


# --------------------------------------------------------------------------- git strategy


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, timeout=30
    )
    return result.stdout.strip()


def make_repo(path: Path) -> dict[str, str]:
    """main: v1.0.0 -> v1.1.0 (annotated tag) -> v1.2.0 (HEAD); returns tag -> sha."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Release Bot")
    git(path, "config", "user.email", "release@example.invalid")
    shas: dict[str, str] = {}
    for version in ("v1.0.0", "v1.1.0", "v1.2.0"):
        (path / "app.txt").write_text(f"app {version}\n")
        (path / f"{version}.txt").write_text("added in this release\n")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", f"release {version}")
        if version == "v1.1.0":
            git(path, "tag", "-a", version, "-m", f"annotated {version}")
        else:
            git(path, "tag", version)
        shas[version] = git(path, "rev-parse", "HEAD")
    return shas


def git_provider(repo: Path, mode: str) -> HostProvider:
    return provider_for(repo.parent, strategy="git", repo=str(repo), git_mode=mode)


def tree_files(repo: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(repo.iterdir()) if p.is_file()}


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """Two identical repositories: one for the provider, one for the shell oracle."""
    ours = tmp_path / "ours" / "app repo"
    shas = make_repo(ours)
    theirs = tmp_path / "theirs" / "app repo"
    theirs.parent.mkdir()
    shutil.copytree(ours, theirs, symlinks=True)
    return ours, theirs, shas


def test_git_snapshot_lists_commits_newest_first_labelled_by_tags(
    repos: tuple[Path, Path, dict[str, str]],
) -> None:
    ours, _, shas = repos
    snap = git_provider(ours, "checkout").snapshot()
    assert [r.version for r in snap.revisions] == ["v1.2.0", "v1.1.0", "v1.0.0"]
    assert [r.id for r in snap.revisions] == [shas["v1.2.0"], shas["v1.1.0"], shas["v1.0.0"]]
    assert snap.current is not None and snap.current.version == "v1.2.0"
    assert snap.revisions[1].change_cause == "release v1.1.0"
    assert snap.revisions[1].created is not None
    assert snap.notes == ()


def test_git_checkout_rollback_matches_the_shell_and_keeps_newer_commits_listed(
    repos: tuple[Path, Path, dict[str, str]],
) -> None:
    ours, theirs, shas = repos
    provider = git_provider(ours, "checkout")
    plan = provider.plan(None)
    assert plan.to_revision.version == "v1.1.0"
    assert plan.steps[0].command == shlex.join(
        ["git", "-C", str(ours), "checkout", "--detach", shas["v1.1.0"]]
    )
    assert any("HEAD will be detached" in w for w in plan.warnings)
    events = run_plan(provider, plan)
    assert statuses(events) == [(0, ProgressStatus.STARTED), (0, ProgressStatus.FINISHED)]
    assert provider.wait_ready(plan, 5).ready

    for step in git_provider(theirs, "checkout").plan(None).steps:
        shell(step.command, cwd=theirs.parent)

    for repo in (ours, theirs):
        assert git(repo, "rev-parse", "HEAD") == shas["v1.1.0"]
        assert subprocess.run(["git", "-C", str(repo), "symbolic-ref", "-q", "HEAD"]).returncode
        assert git(repo, "rev-parse", "main") == shas["v1.2.0"]
    assert tree_files(ours) == tree_files(theirs)
    assert (ours / "app.txt").read_text() == "app v1.1.0\n"
    assert not (ours / "v1.2.0.txt").exists()

    # Detached behind main, the newer commit is still shown, and the live one marked.
    snap = provider.snapshot()
    assert [r.version for r in snap.revisions] == ["v1.2.0", "v1.1.0", "v1.0.0"]
    assert snap.current is not None and snap.current.version == "v1.1.0"
    assert any("listed from branch main" in note for note in snap.notes)
    # ...and a plain "roll back" from there goes one further back.
    assert provider.plan(None).to_revision.version == "v1.0.0"


def test_git_revert_rollback_matches_the_shell_and_moves_the_branch_forward(
    repos: tuple[Path, Path, dict[str, str]],
) -> None:
    ours, theirs, shas = repos
    provider = git_provider(ours, "revert")
    plan = provider.plan("v1.0.0")
    assert plan.steps[0].command == shlex.join(
        ["git", "-C", str(ours), "revert", "--no-edit", f"{shas['v1.0.0']}..HEAD"]
    )
    assert "Revert the 2 commit(s) after v1.0.0" in plan.steps[0].title
    run_plan(provider, plan)
    assert provider.wait_ready(plan, 5).ready

    for step in git_provider(theirs, "revert").plan("v1.0.0").steps:
        shell(step.command, cwd=theirs.parent)

    for repo in (ours, theirs):
        assert git(repo, "symbolic-ref", "--short", "HEAD") == "main"
        assert git(repo, "rev-parse", "HEAD^{tree}") == git(repo, "rev-parse", "v1.0.0^{tree}")
        assert git(repo, "rev-list", "--count", "HEAD") == "5"
    subjects = [git(repo, "log", "--format=%s", "-n2") for repo in (ours, theirs)]
    assert subjects[0] == subjects[1]
    assert subjects[0].splitlines() == ['Revert "release v1.1.0"', 'Revert "release v1.2.0"']
    assert tree_files(ours) == tree_files(theirs)
    assert (ours / "app.txt").read_text() == "app v1.0.0\n"

    snap = provider.snapshot()
    assert snap.current is not None and snap.current.id == git(ours, "rev-parse", "HEAD")
    assert snap.revisions[0].current
    with pytest.raises(InvalidTarget, match=re.escape("same files as v1.0.0")):
        provider.plan("v1.0.0")


def test_git_unknown_target_lists_commits_and_a_hash_prefix_is_accepted(
    repos: tuple[Path, Path, dict[str, str]],
) -> None:
    ours, _, shas = repos
    provider = git_provider(ours, "checkout")
    with pytest.raises(NotFound, match=r"available: v1\.2\.0 \(current\), v1\.1\.0, v1\.0\.0"):
        provider.plan("v0.9.0")
    assert provider.plan(shas["v1.0.0"][:8]).to_revision.version == "v1.0.0"


def test_git_head_moved_since_the_plan_is_a_conflict(
    repos: tuple[Path, Path, dict[str, str]],
) -> None:
    ours, _, shas = repos
    provider = git_provider(ours, "checkout")
    plan = provider.plan(None)
    git(ours, "checkout", "-q", "--detach", shas["v1.0.0"])
    events, error = run_until_error(provider, plan)
    assert isinstance(error, Conflict)
    assert statuses(events) == [(0, ProgressStatus.STARTED), (0, ProgressStatus.FAILED)]
    assert git(ours, "rev-parse", "HEAD") == shas["v1.0.0"]


# --------------------------------------------------------------------------- typed steps


def owner(provider: HostProvider, op: str) -> Any:
    return next(part for part in provider.parts() if op in part.ops)


def test_symlink_switch_took_effect_is_false_before_and_true_after(site: Path) -> None:
    provider = provider_for(site, restart=RECORD_RESTART)
    plan = provider.plan(None)
    switch, restart = plan.steps
    assert (switch.op, switch.argv) == ("host.symlink", ())
    assert switch.params == {
        "link": str(site / "current"),
        "releases_dir": str(site / "releases"),
        "release": "v1.2.9",
        "from_release": "v1.3.0",
    }
    assert (restart.op, restart.params["argv"], restart.params["kind"]) == (
        "host.run",
        RECORD_RESTART,
        "restart",
    )
    part = owner(provider, "host.symlink")
    assert part.took_effect(switch, plan) is False
    run_plan(provider, plan)
    assert part.took_effect(switch, plan) is True
    assert owner(provider, "host.run").took_effect(restart, plan) is None  # cannot be read back
    shell(f"ln -sfn {site}/releases/v1.3.0 {site}/current", cwd=site)  # undone by someone
    assert part.took_effect(switch, plan) is False


@pytest.mark.parametrize("mode", ["checkout", "revert"])
def test_git_switch_took_effect_is_false_before_and_true_after(
    repos: tuple[Path, Path, dict[str, str]], mode: str
) -> None:
    ours, _, shas = repos
    provider = git_provider(ours, mode)
    plan = provider.plan("v1.0.0")
    (switch,) = plan.steps
    assert (switch.op, switch.argv) == ("host.git", ())
    assert switch.params["mode"] == mode and switch.params["target"] == shas["v1.0.0"]
    assert switch.params["from"] == shas["v1.2.0"]
    part = owner(provider, "host.git")
    assert part.took_effect(switch, plan) is False
    run_plan(provider, plan)
    assert part.took_effect(switch, plan) is True
    git(ours, "checkout", "-q", "main" if mode == "checkout" else "HEAD~2")
    assert part.took_effect(switch, plan) is False


def test_release_folder_is_the_release_with_symlinks_and_none_with_git(
    site: Path, repos: tuple[Path, Path, dict[str, str]]
) -> None:
    assert provider_for(site).release_folder("v1.2.9") == site / "releases" / "v1.2.9"
    assert git_provider(repos[0], "checkout").release_folder(repos[2]["v1.0.0"]) is None
