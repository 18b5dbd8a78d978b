"""The demo sandbox: real release folders, a real background service, real HTTP.

Every test that starts the service stops it in a finalizer and checks that no
process of the sandbox is left.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console.config import load_config
from console.demo import DemoBadRoot, DemoError, DemoSandbox, build_sandbox


def sandbox_pids(root: Path) -> list[int]:
    """Live processes running one of this sandbox's releases (zombies have exited)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = (
                Path(f"/proc/{entry}/cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(
                    "utf-8",
                    errors="replace",  # any process's argv, not only ours: not always UTF-8
                )
            )
            stat = Path(f"/proc/{entry}/stat").read_bytes().decode("utf-8", errors="replace")
        except OSError:
            continue
        state = stat[stat.rfind(")") + 2 :].split()[0]
        if f"{root}/releases/" in cmdline and state not in ("Z", "X"):
            found.append(int(entry))
    return found


def run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@pytest.fixture
def box(tmp_path: Path) -> Iterator[DemoSandbox]:
    sandbox = build_sandbox(tmp_path / "sandbox")
    try:
        yield sandbox
    finally:
        sandbox.stop()
        assert sandbox_pids(sandbox.root) == []


def test_build_writes_three_releases_and_a_config_the_console_loads(box: DemoSandbox) -> None:
    root = box.root
    releases = root / "releases"
    assert sorted(p.name for p in releases.iterdir()) == ["v1.2.8", "v1.2.9", "v1.3.0"]
    by_age = sorted(releases.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    assert [p.name for p in by_age] == ["v1.3.0", "v1.2.9", "v1.2.8"]
    for folder in releases.iterdir():
        assert (folder / "VERSION").read_text().strip() == folder.name
        assert (folder / "app.py").is_file()
    assert os.readlink(root / "current") == str(releases / "v1.3.0")
    assert not box.is_running()

    config = load_config(box.config_path)
    assert config.console.history_file == root / "rollback-history.md"
    assert config.console.state_dir == root / "state"
    web = config.service("web")
    assert (web.environment, web.provider) == ("demo", "host")
    assert (web.verify_window_s, web.ready_timeout_s) == (10, 30)
    assert web.host is not None
    assert web.host.releases_dir == releases
    assert web.host.current_link == root / "current"
    assert web.host.restart == (sys.executable, "-m", "console.demo", "restart", str(root))
    assert web.host.pid_file == box.pid_file
    assert [h.url for h in web.health] == [box.health_url]
    assert box.health_url == f"http://127.0.0.1:{box.port}/health"
    assert (web.error_rate.source, web.error_rate.interval_s, web.error_rate.window_s) == (
        "probe",
        0.1,
        10,
    )
    assert web.thresholds.baseline_p95_ms == 20


def test_broken_release_then_restart_after_switching_serves_v129_healthy(
    box: DemoSandbox,
) -> None:
    box.start()
    assert box.is_running()
    first_pid = int(box.pid_file.read_text())
    base = box.health_url.removesuffix("/health")
    assert httpx.get(f"{base}/version", timeout=5).text.strip() == "v1.3.0"
    answers = [httpx.get(box.health_url, timeout=5) for _ in range(8)]
    codes = [a.status_code for a in answers]
    assert 500 in codes and 200 in codes
    assert all(a.json()["version"] == "v1.3.0" for a in answers)
    assert httpx.get(f"{base}/nope", timeout=5).status_code == 404

    # What an operator does by hand: switch the link, run the configured restart.
    subprocess.run(
        ["ln", "-sfn", str(box.root / "releases" / "v1.2.9"), str(box.root / "current")], check=True
    )
    result = run(box.restart_argv)
    assert result.returncode == 0, result.stderr
    assert f"stopped pid {first_pid}" in result.stdout
    assert "v1.2.9" in result.stdout and "HTTP 200" in result.stdout

    pid = int(box.pid_file.read_text())
    assert pid != first_pid
    assert sandbox_pids(box.root) == [pid]
    assert Path(os.readlink(f"/proc/{pid}/cwd")) == box.root / "releases" / "v1.2.9"
    answers = [httpx.get(box.health_url, timeout=5) for _ in range(20)]
    assert [a.status_code for a in answers] == [200] * 20
    assert answers[0].json() == {"status": "ok", "version": "v1.2.9"}

    box.stop()
    assert not box.is_running()
    assert sandbox_pids(box.root) == []
    assert not box.pid_file.exists()


def test_stop_command_line_stops_the_service(box: DemoSandbox) -> None:
    box.start()
    pid = int(box.pid_file.read_text())
    result = run([sys.executable, "-m", "console.demo", "stop", str(box.root)])
    assert result.returncode == 0, result.stderr
    assert f"stopped pid {pid}" in result.stdout
    assert sandbox_pids(box.root) == []
    again = run([sys.executable, "-m", "console.demo", "stop", str(box.root)])
    assert again.returncode == 0
    assert "nothing" in again.stdout


def test_restart_fails_clearly_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        sandbox = build_sandbox(tmp_path / "sandbox", port=taken.getsockname()[1])
        try:
            result = run(sandbox.restart_argv)
            with pytest.raises(DemoError, match=r"did not start: v1\.3\.0 exited with 1") as info:
                sandbox.start()
        finally:
            sandbox.stop()
    assert info.value.exit_code == 1
    assert result.returncode == 1
    assert result.stderr.startswith("error: v1.3.0 exited with 1 before answering")
    assert "cannot listen" in result.stderr
    assert "Traceback" not in result.stderr
    assert sandbox_pids(sandbox.root) == []


def test_restart_gives_up_at_its_time_limit_and_leaves_nothing_running(box: DemoSandbox) -> None:
    app = box.root / "releases" / "v1.3.0" / "app.py"
    app.write_text("import time\ntime.sleep(300)\n")  # a release that never listens
    result = run([*box.restart_argv, "--timeout", "1"])
    assert result.returncode == 1
    assert "did not answer" in result.stderr and "within 1 s" in result.stderr
    assert sandbox_pids(box.root) == []


def test_rebuilding_stops_the_old_service_and_resets_the_broken_release(box: DemoSandbox) -> None:
    box.start()
    subprocess.run(
        ["ln", "-sfn", str(box.root / "releases" / "v1.2.8"), str(box.root / "current")], check=True
    )
    (box.root / "rollback-history.md").write_text("# kept\n")
    again = build_sandbox(box.root)
    assert sandbox_pids(box.root) == []
    assert os.readlink(again.root / "current") == str(again.root / "releases" / "v1.3.0")
    assert (again.root / "rollback-history.md").read_text() == "# kept\n"


def test_a_folder_that_is_not_a_sandbox_is_refused(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("do not touch")
    with pytest.raises(DemoBadRoot, match="not empty and is not a demo sandbox"):
        build_sandbox(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


@pytest.mark.parametrize("signame", ["SIGHUP", "SIGTERM"])
def test_demo_stops_its_service_when_the_terminal_goes_away(tmp_path: Path, signame: str) -> None:
    """An SSH session dropping (SIGHUP) or a kill (SIGTERM) must not leave the demo running."""
    from tests.signals import free_port

    root, port = tmp_path / "demo", free_port()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the console, in a terminal of its own
        os.execv(
            sys.executable,
            [sys.executable, "-m", "console.cli", "demo", "--dir", str(root), "--port", str(port)],
        )
    try:
        up = False
        for _ in range(600):  # until the demo serves, reading the screen so it never blocks
            if select.select([fd], [], [], 0.05)[0]:
                with contextlib.suppress(OSError):
                    os.read(fd, 65536)
            if sandbox_pids(root):
                up = True
                break
        assert up, "the demo service never started"
        os.kill(pid, getattr(signal, signame))
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == getattr(signal, signame)
        for _ in range(100):
            if not sandbox_pids(root):
                break
            time.sleep(0.05)
        assert sandbox_pids(root) == []
    finally:
        os.close(fd)
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        for leftover in sandbox_pids(root):
            os.kill(leftover, signal.SIGKILL)
