"""Faults around a host rollback, through real processes and real sockets.

The console runs ``rollback`` headless on the demo sandbox (a real service, real
release folders, a real restart command) while things go wrong: the restart
command hangs past its time limit (with a grandchild of its own), exits
non-zero, or floods its output; the health URL sits behind the fault proxy
(``tests/faultproxy.py``), which resets connections, answers 503 or hangs once
the restart is done, i.e. during verification; the Prometheus error-rate source
is unreachable.  Each time: the exit code of the contract, a truthful message,
no traceback, one truthful history entry, and a journal that is closed.

The last part puts the HTTP sources themselves (health checks, the probe,
Prometheus) behind the proxy: every fault is one clear line, never an
exception from the depths of httpx.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from console.config import HealthCheck, load_config
from console.demo import DemoSandbox, restart_argv
from console.history import read_entries
from console.resume import open_incidents
from console.signals.base import SignalError
from console.signals.health import check_health
from console.signals.probe import ProbeSource
from providers.host import read_process
from tests.e2e.test_headless_rollback import edit_config, field, history_of, served_version
from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.e2e


def console(box: DemoSandbox, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args, "--config", str(box.config_path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def rollback(box: DemoSandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return console(box, "rollback", "web", "--yes", "--reason", "5xx after v1.3.0", *args)


def set_host(box: DemoSandbox, **values: Any) -> None:
    edit_config(box, lambda d: d["services"][0]["host"].update(values))


def one_entry(box: DemoSandbox) -> str:
    """The history file's only entry (asserting there is exactly one, and it is complete)."""
    entries = read_entries(history_of(box))
    assert len(entries) == 1, [e.id for e in entries]
    assert entries[0].note == "", entries[0].note
    return entries[0].raw


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: int = 1) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "unexpected" not in result.stderr


def assert_journal_closed(box: DemoSandbox) -> None:
    assert open_incidents(load_config(box.config_path).console.state_dir) == []


def script(box: DemoSandbox, name: str, source: str) -> list[str]:
    path = box.root / name
    path.write_text(source)
    return [sys.executable, str(path), str(box.root)]


# --------------------------------------------------------------------------- restart command

HANGING_RESTART = """
import os, subprocess, sys, time, pathlib
root = pathlib.Path(sys.argv[1])
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
(root / "hung-pids").write_text(f"{os.getpid()} {child.pid}")
print("stopping app ... waiting for connections to drain", flush=True)
time.sleep(600)
"""


def test_restart_hanging_past_its_time_limit_is_stopped_with_its_whole_group(
    sandbox: DemoSandbox,
) -> None:
    set_host(sandbox, restart=script(sandbox, "hang.py", HANGING_RESTART), command_timeout_s=2)
    result = rollback(sandbox, "--verify-window", "1")

    assert_clean_failure(result)
    assert "ran past its time limit of 2 s" in result.stderr
    assert "process group was killed" in result.stderr
    # The command and the grandchild it started are gone, not left running.
    pids = [int(p) for p in (sandbox.root / "hung-pids").read_text().split()]
    for pid in pids:
        info = read_process(pid)
        assert info is None or not info.alive, f"pid {pid} still {info.state}"

    entry = one_entry(sandbox)
    assert field(entry, "Outcome") == "rollback failed"
    assert field(entry, "Time to recover").startswith("not recovered")
    assert "ran past its time limit" in entry
    assert "waiting for connections to drain" in entry  # what it said before it hung
    assert_journal_closed(sandbox)


def test_restart_exiting_non_zero_says_why_and_records_it(sandbox: DemoSandbox) -> None:
    failing = "import sys\nprint('bind: address 127.0.0.1:8080 already in use', file=sys.stderr)\n"
    failing += "sys.exit(3)\n"
    set_host(sandbox, restart=script(sandbox, "fail.py", failing))
    result = rollback(sandbox, "--verify-window", "1")

    assert_clean_failure(result)
    assert "exited 3: bind: address 127.0.0.1:8080 already in use" in result.stderr
    entry = one_entry(sandbox)
    assert field(entry, "Outcome") == "rollback failed"
    assert "exited 3" in entry
    # The link was switched before the restart failed; the old process still serves.
    assert (sandbox.root / "current").resolve().name == "v1.2.9"
    assert "v1.3.0" in served_version(sandbox)
    assert_journal_closed(sandbox)


FLOODING_RESTART = """
import os, sys
out = sys.stdout.buffer
for i in range(20000):
    out.write(b"compiling asset %06d of 20000 ........................................\\n" % i)
out.write(b"\\xff\\xfe not UTF-8 \\x80\\n")
out.write(b"x" * 300000)  # one endless line without a newline
out.write(b"\\nrestarting for real\\n")
out.flush()
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


def test_restart_flooding_its_output_still_rolls_back_and_keeps_the_record_readable(
    sandbox: DemoSandbox,
) -> None:
    flood = script(sandbox, "flood.py", FLOODING_RESTART)
    set_host(sandbox, restart=[*flood, *restart_argv(sandbox.root)[1:]])
    result = rollback(sandbox, "--verify-window", "1")

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "Traceback" not in result.stderr
    assert "compiling asset 019999 of 20000" in result.stdout  # streamed to the operator
    assert "v1.2.9" in served_version(sandbox)

    entry = one_entry(sandbox)
    assert field(entry, "Outcome") == "rolled back and verified"
    assert "restarting for real" in entry  # the end of the output is kept
    assert "compiling asset 000000" in entry  # and its beginning
    assert "lines of output not shown" in entry
    # Neither the entry nor the journal grew with the output.
    assert len(entry) < 100_000
    journal = next((sandbox.root / "state" / "journal").glob("*.jsonl"))
    assert journal.stat().st_size < 200_000
    assert_journal_closed(sandbox)


# ------------------------------------------------------------------- health behind the proxy

#: A restart that does the real restart, then says so in a file (the cue for the fault).
CUED_RESTART = """
import pathlib, subprocess, sys
code = subprocess.call(sys.argv[2:])
(pathlib.Path(sys.argv[1]) / "restarted").write_text(str(code))
sys.exit(code)
"""


@pytest.fixture
def proxied(sandbox: DemoSandbox) -> Iterator[tuple[DemoSandbox, FaultProxy]]:
    """The sandbox with its health URL (and so the probe) behind a fault proxy."""
    with FaultProxy(("127.0.0.1", sandbox.port)) as proxy:

        def change(d: dict[str, Any]) -> None:
            service = d["services"][0]
            service["health"] = [{"url": proxy.url("/health"), "timeout_s": 1}]
            service["error_rate"]["timeout_s"] = 1
            service["host"]["restart"] = [
                *script(sandbox, "cued.py", CUED_RESTART),
                *restart_argv(sandbox.root),
            ]

        edit_config(sandbox, change)
        yield sandbox, proxy


def when_restarted(box: DemoSandbox, fault: Callable[[], object]) -> threading.Thread:
    """Apply ``fault`` as soon as the restart command finished (verification follows)."""
    cue = box.root / "restarted"

    def watch() -> None:
        for _ in range(6000):
            if cue.exists():
                fault()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("reset", "reset by peer"),
        ("503", "503"),
        ("hang", "no response within 1 s"),
    ],
)
def test_health_failing_during_verification_is_not_verified_and_says_so(
    proxied: tuple[DemoSandbox, FaultProxy], fault: str, words: str
) -> None:
    box, proxy = proxied
    apply = {
        "reset": lambda: proxy.reset(),
        "503": lambda: proxy.respond(503),
        "hang": lambda: proxy.hang(),
    }[fault]
    watcher = when_restarted(box, apply)
    result = rollback(box, "--verify-window", "1")
    watcher.join(5)
    proxy.release_hung()

    assert_clean_failure(result)
    assert "NOT VERIFIED" in result.stdout
    assert "outcome: rolled back, not verified" in result.stdout
    assert any(s.action != "forward" for s in proxy.seen), "the fault never fired"
    # Truthful: the rollback itself happened, only its verification failed.
    assert (box.root / "current").resolve().name == "v1.2.9"
    proxy.clear()
    assert "v1.2.9" in httpx.get(proxy.url("/version"), timeout=5).text

    entry = one_entry(box)
    assert field(entry, "Outcome") == "rolled back, not verified"
    assert field(entry, "Time to recover").startswith("not recovered")
    assert words in entry, entry
    assert_journal_closed(box)


def test_health_healthy_through_the_proxy_verifies(
    proxied: tuple[DemoSandbox, FaultProxy],
) -> None:
    """The control case: the proxy itself changes nothing."""
    box, proxy = proxied
    result = rollback(box, "--verify-window", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert field(one_entry(box), "Outcome") == "rolled back and verified"
    assert {s.action for s in proxy.seen} == {"forward"}


def test_prometheus_unreachable_is_no_data_not_a_crash(sandbox: DemoSandbox) -> None:
    """The error-rate source answers 503 throughout: the rollback goes on, unverified."""
    with FaultProxy(("127.0.0.1", sandbox.port)) as proxy:
        proxy.respond(503, "Service Unavailable", content_type="text/plain")

        def change(d: dict[str, Any]) -> None:
            d["services"][0]["error_rate"] = {
                "source": "prometheus",
                "url": proxy.url(),
                "query": "sum(rate(errors[$window])) / sum(rate(requests[$window]))",
                "timeout_s": 1,
                "interval_s": 0.2,
                "window_s": 1,
            }

        edit_config(sandbox, change)
        result = rollback(sandbox, "--verify-window", "1")

    assert_clean_failure(result)
    assert "503" in result.stdout + result.stderr
    assert (sandbox.root / "current").resolve().name == "v1.2.9"
    entry = one_entry(sandbox)
    assert field(entry, "Outcome") == "rolled back, not verified"
    assert field(entry, "Error rate before") == "not measured"
    assert_journal_closed(sandbox)


# ------------------------------------------------------------------- sources behind the proxy


@pytest.fixture
def service_proxy() -> Iterator[FaultProxy]:
    """A proxy in front of a tiny healthy HTTP service."""
    from tests.signals import FlipServer

    server = FlipServer()
    try:
        with FaultProxy(("127.0.0.1", server.port)) as proxy:
            yield proxy
    finally:
        server.close()


FAULTS: dict[str, Callable[[FaultProxy], object]] = {
    "reset": lambda p: p.reset(),
    "503": lambda p: p.respond(503),
    "hang": lambda p: p.hang(),
    "cut": lambda p: p.drop_after(20),
    "refused": lambda p: p.down(),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_health_check_turns_every_fault_into_one_line(
    service_proxy: FaultProxy, fault: str
) -> None:
    check = HealthCheck(url=service_proxy.url("/health"), timeout_s=0.5)
    (ok,) = check_health([check])
    assert ok.ok, ok.error
    FAULTS[fault](service_proxy)
    (result,) = check_health([check])
    service_proxy.release_hung()
    assert not result.ok
    message = result.error or f"HTTP {result.status_code}"
    assert message and "\n" not in message
    assert f"127.0.0.1:{service_proxy.port}" in message or result.status_code == 503


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_probe_counts_every_fault_as_an_error(service_proxy: FaultProxy, fault: str) -> None:
    FAULTS[fault](service_proxy)
    probe = ProbeSource([service_proxy.url("/health")], interval_s=0.05, window_s=30, timeout_s=0.3)
    probe.start()
    try:
        assert probe.wait_for_data(30)
        sample = probe.sample()
    finally:
        probe.stop()
        service_proxy.release_hung()
    assert sample.error_rate == 1.0
    assert probe.last_error and "\n" not in probe.last_error


def test_probe_sees_a_fault_come_and_go(service_proxy: FaultProxy) -> None:
    probe = ProbeSource([service_proxy.url("/health")], interval_s=0.05, window_s=30, timeout_s=1)
    probe.start()
    try:
        assert probe.wait_for_data(30)
        rule = service_proxy.respond(503, count=5)
        assert service_proxy.wait_for(lambda: rule.hits == 5)
        mark = service_proxy.requests
        assert service_proxy.wait_for(lambda: service_proxy.requests >= mark + 5)
        sample = probe.sample()
    finally:
        probe.stop()
    assert sample.error_rate is not None and 0 < sample.error_rate < 1


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.prometheus_fixture import PrometheusServer

    server = PrometheusServer(tmp_path_factory.mktemp("prometheus")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_prometheus_source_turns_every_fault_into_a_signal_error(
    prometheus: str, fault: str
) -> None:
    from console.signals.prometheus import PrometheusSource

    with FaultProxy(prometheus) as proxy:
        source = PrometheusSource(proxy.url(), "vector(0.25)", timeout_s=0.5)
        source.start()
        try:
            assert source.sample().error_rate == 0.25  # through the proxy, untouched
            FAULTS[fault](proxy)
            with pytest.raises(SignalError) as caught:
                source.sample()
        finally:
            source.stop()
            proxy.release_hung()
    message = str(caught.value)
    assert message and "\n" not in message
    assert source.last_error


def test_prometheus_answer_cut_mid_body_is_a_signal_error(prometheus: str) -> None:
    from console.signals.prometheus import PrometheusSource

    body = httpx.get(f"{prometheus}/api/v1/query", params={"query": "vector(1)"}).content
    assert json.loads(body)["status"] == "success"
    with FaultProxy(prometheus) as proxy:
        head = httpx.get(proxy.url("/api/v1/query"), params={"query": "vector(1)"})
        proxy.drop_after(len(head.content) // 2 + 150, rst=False)  # inside the JSON
        source = PrometheusSource(proxy.url(), "vector(1)", timeout_s=1)
        with source, pytest.raises(SignalError):
            source.sample()
