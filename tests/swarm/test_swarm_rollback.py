"""The Swarm provider on a real single-node Swarm (issue 17): rollback of a paused update
headless, verified by HTTP against every replica's host port; the docker CLI as the
oracle; the lock; a refused target; a target that never becomes healthy."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from console.config import load_config
from providers.base import InvalidTarget, LockHeld
from providers.swarm import SwarmProvider
from tests.console_cli import run_console, start_console
from tests.swarm.conftest import Front, Swarm, write_config


def provider(tmp_path: Path, sw: Swarm, service: str) -> SwarmProvider:
    cfg = load_config(write_config(tmp_path, sw, service, "http://127.0.0.1:9/health"))
    return SwarmProvider(cfg.services[0], poll_interval_s=0.3)


def test_paused_update_is_rolled_back_headless_and_verified(
    swarm: Swarm, service: str, tmp_path: Path
) -> None:
    swarm.paused_on_v3(service)
    front = Front(swarm, service)
    try:
        config = write_config(tmp_path, swarm, service, front.url)
        status = run_console(config, "status", service)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "ALERT: update paused: due to failure" in status.stdout, status.stdout
        assert "(default rollback: roll back the paused update to local/web:v2)" in status.stdout
        result = run_console(
            config, "rollback", service, "--yes", "--reason", "v3 exits 1",
            "--verify-window", "3",
        )  # fmt: skip
    finally:
        front.stop()
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Traceback" not in result.stderr
    assert f"service rollback {service}" in out
    assert swarm.image(service) == "local/web:v2"
    assert (swarm.inspect(service)["UpdateStatus"]["State"]) == "rollback_completed"
    assert swarm.versions(service) == ["v2", "v2"]  # every replica, over HTTP
    entry = (tmp_path / "rollback-history.md").read_text()
    assert "v3" in entry and "v2" in entry and "rolled back and verified" in entry
    # v3's failed tasks are Swarm's history, not units that are not ready: the units
    # item counts the two replicas only, and passes.
    assert "- [x] All processes / pods / tasks running — 2/2 ready" in entry, entry
    # The lock (a Swarm config object) was released.
    assert "rollback-console-lock" not in swarm.docker("config", "ls")


def test_the_docker_cli_is_the_oracle(swarm: Swarm, service: str, tmp_path: Path) -> None:
    """From one start, the console leaves the live spec image `docker service rollback` does."""
    oracle = service + "o"
    try:
        swarm.paused_on_v3(service, oracle)
        swarm.docker("service", "rollback", "-d", oracle)
        p = provider(tmp_path, swarm, service)
        plan = p.plan(None)
        assert plan.steps[0].op == "swarm.rollback"
        list(p.execute(plan))
        ready = p.wait_ready(plan, 60)
        assert ready.ready, ready.message
        assert swarm.image(service) == swarm.image(oracle) == "local/web:v2"
        # Swarm swapped the specs: PreviousSpec is v3 now; the plan stays anchored.
        assert p.part.took_effect(plan.steps[0], plan) is True
        again = list(p.execute(plan))
        assert swarm.image(service) == "local/web:v2", again
    finally:
        swarm.docker("service", "rm", oracle, check=False)


def test_older_image_and_the_lock(swarm: Swarm, service: str, tmp_path: Path) -> None:
    swarm.paused_on_v3(service)
    p = provider(tmp_path, swarm, service)
    (tmp_path / "b").mkdir()
    other = provider(tmp_path / "b", swarm, service)
    assert p.acquire_lock("alice", "bastion-1", 60) == ""
    with pytest.raises(LockHeld, match="alice"):
        other.acquire_lock("bob", "bastion-2", 60)
    # A second console (the real CLI) at the same time: refused, exit 3, nothing changed.
    config = write_config(tmp_path / "b", swarm, service, "http://127.0.0.1:9/health")
    second = run_console(config, "rollback", service, "--yes", "--reason", "me too")
    assert second.returncode == 3, second.stdout + second.stderr
    assert "alice" in second.stderr and "bastion-1" in second.stderr, second.stderr
    assert "Traceback" not in second.stderr
    assert swarm.image(service) == "local/web:v3"
    p.release_lock("alice", "bastion-1")
    assert other.acquire_lock("bob", "bastion-2", 60) == ""
    other.release_lock("bob", "bastion-2")
    # The lock never touched the service: PreviousSpec is still v2, the update still paused.
    svc = swarm.inspect(service)
    assert svc["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "local/web:v2"
    assert svc["UpdateStatus"]["State"] == "paused"
    # A failed v3 task's logs (Enter on the unit): what the task printed before exit 1.
    snap = p.snapshot()
    failed = next(u for u in snap.units if u.state == "failed" and u.revision.endswith("v3"))
    assert "task: non-zero exit (1)" in failed.detail
    assert "v3 is broken" in p.logs(failed.name)
    plan = p.plan("v1")
    assert plan.steps[0].op == "swarm.update_image"
    assert "--image local/web:v1 --no-resolve-image" in plan.steps[0].command
    assert [d.line() for d in p.differences(plan.from_revision, plan.to_revision)] == [
        "image: local/web:v3 → local/web:v1"
    ]
    list(p.execute(plan))
    ready = p.wait_ready(plan, 60)
    assert ready.ready, ready.message
    assert swarm.versions(service) == ["v1", "v1"]
    # Restart = `docker service update --force`: every task replaced, same image, ready.
    before = {u.name for u in p.snapshot().units if u.ready}
    restart = p.plan_action("restart", None)
    assert restart.steps[0].command.endswith(f"service update --force {service}")
    list(p.execute(restart))
    assert p.switch_took_effect(restart) is True
    ready = p.wait_ready(restart, 60)
    assert ready.ready, ready.message
    after = {u.name for u in p.snapshot().units if u.ready}
    assert len(after) == 2 and not after & before
    assert swarm.versions(service) == ["v1", "v1"]


def test_one_image_and_no_previous_spec_is_refused(
    swarm: Swarm, service: str, tmp_path: Path
) -> None:
    swarm.create(service, "local/web:v1")
    p = provider(tmp_path, swarm, service)
    with pytest.raises(InvalidTarget, match="no PreviousSpec and one image only"):
        p.plan(None)
    # The short history is explained with the Swarm's own task history retention.
    swarm.docker("swarm", "update", "--task-history-limit", "7")
    try:
        notes = provider(tmp_path, swarm, service).snapshot().notes
    finally:
        swarm.docker("swarm", "update", "--task-history-limit", "5")
    assert any("PreviousSpec and 7 tasks per slot" in note for note in notes), notes


def test_a_target_that_never_becomes_healthy_is_not_verified(
    swarm: Swarm, service: str, tmp_path: Path
) -> None:
    swarm.create(service, "local/web:v3")
    swarm.update_image(service, "local/web:v2")
    swarm.wait(service, swarm.running(service, "local/web:v2"))
    front = Front(swarm, service)
    try:
        config = write_config(tmp_path, swarm, service, front.url, ready_s=8)
        result = run_console(config, "rollback", service, "--yes", "--reason", "try v3")
    finally:
        front.stop()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    entry = (tmp_path / "rollback-history.md").read_text()
    assert "rolled back and verified" not in entry
    assert "not verified" in entry or "not ready" in entry, entry


def test_killed_mid_rollback_resume_ends_on_the_target_never_forward(
    swarm: Swarm, service: str, tmp_path: Path
) -> None:
    """SIGKILL as the switch starts; resume reads the live spec (image, Version.Index) and
    ends on v2, never a second `service rollback` (which would go forward to v3)."""
    swarm.paused_on_v3(service)
    front = Front(swarm, service)
    try:
        config = write_config(tmp_path, swarm, service, front.url)
        proc = start_console(config, "rollback", service, "--yes", "--reason", "v3 exits 1")
        journal = tmp_path / "state" / "journal"

        def switch_started() -> bool:
            for f in journal.glob("*.jsonl") if journal.exists() else ():
                for line in f.read_text().splitlines():
                    e = json.loads(line) if line.strip() else {}
                    if e.get("event") == "step" and e.get("status") == "started":
                        return True
            return False

        end = time.monotonic() + 120
        while not switch_started():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < end, "the switch never started"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        resume = run_console(config, "resume", service, "--yes", "--verify-window", "3")
    finally:
        front.stop()
    out = resume.stdout + resume.stderr
    assert resume.returncode == 0, out
    assert "Traceback" not in resume.stderr
    assert swarm.image(service) == "local/web:v2"
    assert swarm.versions(service) == ["v2", "v2"]
    entry = (tmp_path / "rollback-history.md").read_text()
    assert "rolled back and verified" in entry and "Interrupted" in entry, entry
