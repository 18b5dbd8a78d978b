"""The host's details (``e``) and logs (Enter on a unit), read from the real machine.

The demo sandbox's service is a real process listening on a real port and
writing a real log file; ``/proc``, ``statvfs`` and the folder walk are the
machine's own.  Sockets the test opens itself prove the port matching
(IPv4 and IPv6, listening or not).  systemd cannot run on this machine (it
is not PID 1): the real ``systemctl`` is asked and its refusal is what the
fact shows; the answer of a running systemd (``systemctl show``'s
``Key=Value`` lines) and journalctl's arguments come from stand-ins on PATH
that print exactly that format.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.config import load_config
from console.demo import DemoSandbox
from console.errors import NotFound, Unavailable
from providers import load_provider
from providers.base import SupportsDetails, SupportsLogs, SupportsLogSource
from providers.host import facts, logs
from providers.host.provider import HostProvider


def provider_of(box: DemoSandbox, **host_changes: object) -> HostProvider:
    service = load_config(box.config_path).services[0]
    assert service.host is not None
    host = dataclasses.replace(service.host, **host_changes)  # type: ignore[arg-type]
    provider = load_provider(dataclasses.replace(service, host=host))
    assert isinstance(provider, HostProvider)
    return provider


def demo_pid(box: DemoSandbox) -> int:
    return int(box.pid_file.read_text().strip())


def fact(found: tuple[tuple[str, str], ...] | list[tuple[str, str]], label: str) -> str:
    values = [value for name, value in found if name.strip() == label]
    assert values, f"no fact {label!r} in {found}"
    return values[0]


# --------------------------------------------------------------------------- details


def test_details_show_the_demo_process_its_port_and_the_release_folder(
    sandbox: DemoSandbox,
) -> None:
    provider = provider_of(sandbox)
    assert isinstance(provider, SupportsDetails)
    found = provider.details()
    pid = demo_pid(sandbox)
    process = fact(found, f"process {pid}")
    assert f"user {pwd.getpwuid(os.getuid()).pw_name}" in process
    assert "RSS " in process and " MB" in process
    assert "started " in process and " ago)" in process
    command = fact(found, "command")
    assert "releases/v1.3.0/app.py" in command and f"--port {sandbox.port}" in command
    assert fact(found, "listening") == f"127.0.0.1:{sandbox.port}"
    folder = fact(found, "release v1.3.0")
    assert folder.startswith(f"{sandbox.root / 'releases' / 'v1.3.0'}, ")
    assert " kB" in folder or " B" in folder
    room = fact(found, "filesystem")
    assert " free of " in room and "% used) on /" in room


def test_details_without_pid_file_or_match_say_how_to_find_the_processes(
    sandbox: DemoSandbox,
) -> None:
    found = provider_of(sandbox, pid_file=None).details()
    assert "configure pid_file or process_match" in fact(found, "processes")
    assert fact(found, "release v1.3.0")


def test_details_follow_the_switch_to_the_new_live_release(sandbox: DemoSandbox) -> None:
    provider = provider_of(sandbox)
    link = sandbox.root / "current"
    temp = sandbox.root / "current.tmp"
    os.symlink(sandbox.root / "releases" / "v1.2.9", temp)
    os.replace(temp, link)
    assert fact(provider.details(), "release v1.2.9")


def test_a_process_match_with_several_processes_gives_each_its_facts(
    sandbox: DemoSandbox,
) -> None:
    """The demo process and a child of ours holding a listening socket, found by one regex."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        own_port = sock.getsockname()[1]
        marker = f"details-test-{own_port}"
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)", marker],
            pass_fds=[sock.fileno()],
        )
        try:
            # This sandbox's app.py only: other tests run demos of their own meanwhile.
            mine = re.escape(str(sandbox.root)) + r"\S*app\.py"
            provider = provider_of(sandbox, pid_file=None, process_match=f"{marker}|{mine}")
            wanted = {f"process {child.pid}"}

            def read() -> list[tuple[str, str]]:
                wanted.add(f"process {demo_pid(sandbox)}")  # as the pid file says now
                return list(provider.details())

            # /proc is read while other tests start and stop processes: read again (bounded)
            # until both are seen, then hold the facts to the same assertions.
            found = read()
            for _ in range(50):
                if wanted <= {name for name, _ in found}:
                    break
                time.sleep(0.2)
                found = read()
            labels = [name for name, _ in found]
            assert f"process {demo_pid(sandbox)}" in labels, found
            assert f"process {child.pid}" in labels, found
            listening = [value for name, value in found if name.strip() == "listening"]
            assert f"127.0.0.1:{sandbox.port}" in listening
            assert f"127.0.0.1:{own_port}" in listening  # the child's, passed to it
        finally:
            child.kill()
            child.wait()


def test_listening_ports_match_the_process_sockets_ipv4_and_ipv6() -> None:
    with (
        socket.socket() as v4,
        socket.socket(socket.AF_INET6) as v6,
        socket.socket() as idle,
    ):
        v4.bind(("127.0.0.1", 0))
        v4.listen()
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        v6.bind(("::1", 0))
        v6.listen()
        idle.bind(("127.0.0.1", 0))  # bound, not listening: not a port anyone can reach
        ports = facts.listening_ports(os.getpid())
        v4_port = v4.getsockname()[1]
        assert f"127.0.0.1:{v4_port}" in ports
        assert f"[::1]:{v6.getsockname()[1]}" in ports
        assert not any(p.endswith(f":{idle.getsockname()[1]}") for p in ports)
    assert not any(p.endswith(f":{v4_port}") for p in facts.listening_ports(os.getpid()))


def test_a_process_that_is_gone_is_said_so() -> None:
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    assert facts.process_facts([gone.pid]) == [
        (f"process {gone.pid}", "exited while it was being read")
    ]


def test_folder_size_counts_each_file_once_and_follows_no_link(tmp_path: Path) -> None:
    folder = tmp_path / "release"
    (folder / "sub").mkdir(parents=True)
    (folder / "big").write_bytes(b"x" * 100_000)
    os.link(folder / "big", folder / "sub" / "same-file")
    os.symlink("/usr", folder / "usr-link")
    size, complete = facts.folder_size(folder)
    assert complete
    assert 100_000 <= size < 200_000


def test_describe_unit_in_words() -> None:
    props = {
        "Id": "app.service",
        "LoadState": "loaded",
        "ActiveState": "active",
        "SubState": "running",
        "StateChangeTimestamp": "Tue 2026-01-27 02:05:00 UTC",
        "MainPID": "4242",
        "NRestarts": "1",
        "Result": "success",
    }
    assert facts.describe_unit(props) == (
        "active (running) since Tue 2026-01-27 02:05:00 UTC, main pid 4242, 1 restart"
    )
    failed = {**props, "ActiveState": "failed", "SubState": "failed", "Result": "exit-code"}
    assert "last result exit-code" in facts.describe_unit(failed)
    assert facts.describe_unit({"LoadState": "not-found"}).startswith("not found")


# --------------------------------------------------------------------------- systemd


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder put first on PATH for stand-ins of systemctl / journalctl."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    yield folder


def stand_in(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_systemd_unit_state_from_systemctl_show(sandbox: DemoSandbox, bin_dir: Path) -> None:
    args = bin_dir / "args"
    stand_in(
        bin_dir,
        "systemctl",
        f'printf "%s\\n" "$@" > {args}\n'
        "echo Id=app.service\necho LoadState=loaded\necho ActiveState=active\n"
        "echo SubState=running\necho 'StateChangeTimestamp=Tue 2026-01-27 02:05:00 UTC'\n"
        "echo MainPID=4242\necho NRestarts=0",
    )
    found = provider_of(sandbox, systemd_unit="app.service").details()
    assert fact(found, "systemd unit app.service") == (
        "active (running) since Tue 2026-01-27 02:05:00 UTC, main pid 4242, 0 restarts"
    )
    argv = args.read_text().split("\n")
    assert argv[0] == "show" and argv[-2] == "app.service"
    assert "--property=" + ",".join(facts.UNIT_PROPERTIES) in argv


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="no systemctl on this machine")
def test_systemctl_that_cannot_reach_systemd_is_shown_as_such(sandbox: DemoSandbox) -> None:
    """This machine's real systemctl: systemd is not PID 1 here, so it answers with an error."""
    found = provider_of(sandbox, systemd_unit="app.service").details()
    value = fact(found, "systemd unit app.service")
    assert value.startswith("not read: "), value
    assert len(value) > len("not read: ")


def test_no_systemctl_says_so(sandbox: DemoSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(sandbox.root))  # no systemctl there
    found = provider_of(sandbox, systemd_unit="app.service").details()
    assert fact(found, "systemd unit app.service") == (
        "not read: systemctl is not installed on this machine"
    )


# --------------------------------------------------------------------------- logs


def test_logs_are_the_end_of_the_demo_log_file(sandbox: DemoSandbox) -> None:
    provider = provider_of(sandbox)  # the demo's own config sets log_file
    assert isinstance(provider, SupportsLogs) and isinstance(provider, SupportsLogSource)
    log_file = sandbox.root / "run" / "app.log"
    assert provider.log_source("pid 1") == str(log_file)
    with open(log_file, "a") as fh:  # nothing else writes: no traffic in this test
        fh.writelines(f"marker {i}\n" for i in range(60))
    lines = provider.logs("pid 1", 50)
    assert list(lines) == log_file.read_text().splitlines()[-50:]
    assert lines[-1] == "marker 59" and lines[0] == "marker 10"


def test_tail_reads_the_end_of_a_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    with open(path, "w") as fh:
        for i in range(200_000):  # about 4.5 MB
            fh.write(f"line {i} {'x' * 12}\n")
    assert logs.tail_lines(path, 50) == tuple(
        f"line {i} {'x' * 12}" for i in range(199_950, 200_000)
    )
    path.write_text("one\ntwo\nthree")  # no newline at the end
    assert logs.tail_lines(path, 2) == ("two", "three")
    path.write_text("")
    assert logs.tail_lines(path, 50) == ()


def test_tail_cuts_a_giant_line_and_reads_at_most_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "one-line.log"
    path.write_bytes(b"y" * (logs.MAX_TAIL_BYTES + 10_000) + b"\nlast\n")
    found = logs.tail_lines(path, 50)
    assert found[-1] == "last"
    assert all(len(line) <= logs.MAX_LINE_CHARS for line in found)
    assert len(found) == 2 and found[0].startswith("…y") and found[0].endswith("y…")


def test_log_file_problems_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"log file .*missing\.log does not exist"):
        logs.tail_lines(tmp_path / "missing.log", 50)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(Unavailable, match="not a regular file"):
        logs.tail_lines(fifo, 50)  # never waits for a writer
    with pytest.raises(Unavailable, match="not a regular file"):
        logs.tail_lines(tmp_path, 50)


def test_no_log_source_names_the_keys(sandbox: DemoSandbox) -> None:
    provider = provider_of(sandbox, log_file=None, systemd_unit="")
    assert provider.log_source("pid 1") == ""
    with pytest.raises(NotFound, match=r"web \(demo\) has no log source: set log_file"):
        provider.logs("pid 1")


def test_journal_of_the_unit_when_no_log_file(sandbox: DemoSandbox, bin_dir: Path) -> None:
    args = bin_dir / "args"
    stand_in(bin_dir, "journalctl", f'printf "%s\\n" "$@" > {args}\necho "Jan 27 app[1]: hello"')
    provider = provider_of(sandbox, log_file=None, systemd_unit="app.service")
    assert provider.log_source("pid 1") == "journalctl -u app.service"
    assert provider.logs("pid 1", 50) == ("Jan 27 app[1]: hello",)
    assert args.read_text().split() == ["-u", "app.service", "-n", "50", "--no-pager"]


def test_journalctl_failing_or_missing_is_unavailable(
    sandbox: DemoSandbox, bin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in(bin_dir, "journalctl", "echo 'Failed to open journal' >&2\nexit 1")
    provider = provider_of(sandbox, log_file=None, systemd_unit="app.service")
    with pytest.raises(Unavailable, match="exited 1: Failed to open journal"):
        provider.logs("pid 1")
    monkeypatch.setenv("PATH", str(sandbox.root))
    with pytest.raises(Unavailable, match="journalctl is not installed"):
        provider.logs("pid 1")
