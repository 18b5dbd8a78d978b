"""End to end: ``action web pitr --arg TIME`` on a Kubernetes Deployment, Cloud SQL or Neon.

The console runs as its own process against the fake Kubernetes API server
(``tests/k8s_server``, its controllers running) and the database platform's
fake (``tests/pitr_platforms``).  The Deployment reads ``DATABASE_URL`` from
Secret ``web-db`` (``secretKeyRef``).  A restore must make exactly one new
instance or branch at the chosen time, copy the key's old value into Secret
``web-db-before-INSTANCE``, patch the key to the live DSN pointed at the new
host (decoded from the fake, and read by real kubectl), restart the
Deployment (a ``restartedAt`` annotation), verify it, and write the entry
with the loss window; the DSN appears in no output, journal or entry.
"""

from __future__ import annotations

import base64
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from providers.kubernetes import rollout as ro
from tests.console_cli import run_console, start_console
from tests.k8s_server import FakeKubeServer, running
from tests.k8s_server.fixtures import (
    DEPLOYMENT,
    IMAGE,
    NAMESPACE,
    Kubectl,
    deploy,
    need_binary,
    start_server,
)
from tests.pitr_platforms import (
    NEON_KEY,
    PASSWORD,
    Platform,
    everything_written,
    made_at,
    platform_fixture,  # noqa: F401 - fixture "platform"
    stamp,
)
from tests.signals import FlipServer, healthy

pytestmark = pytest.mark.e2e

SECRET = "web-db"
KEY = "DATABASE_URL"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def kube(platform: Platform) -> Iterator[FakeKubeServer]:
    """The cluster: web at v1.3.0 reading DATABASE_URL from Secret web-db; controllers on."""
    server = start_server()
    containers = [
        {
            "name": "web",
            "image": f"{IMAGE}:v1.2.9",
            "env": [
                {"name": KEY, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": KEY}}},
                {"name": "MODE", "value": "prod"},
            ],
        }
    ]
    secret = {"metadata": {"name": SECRET}, "type": "Opaque", "data": {KEY: b64(platform.live_dsn)}}
    server.cluster.create("secrets", NAMESPACE, {"apiVersion": "v1", "kind": "Secret", **secret})
    deploy(server, ["v1.2.9", "v1.3.0"], containers=containers)
    try:
        with running(server):
            yield server
    finally:
        server.stop()


@pytest.fixture
def config(
    tmp_path: Path, kube: FakeKubeServer, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    health = FlipServer(healthy)
    monkeypatch.setenv(KEY, platform.live_dsn)
    monkeypatch.setenv("NEON_API_KEY", NEON_KEY)
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
    service = {
        "name": "web",
        "environment": "production",
        "provider": "kubernetes",
        "ready_timeout_s": 60,
        "verify_window_s": 0.5,
        "kubernetes": {
            "deployment": DEPLOYMENT,
            "namespace": NAMESPACE,
            "kubeconfig": str(kubeconfig),
        },
        "health": [{"url": health.url, "timeout_s": 1}],
        "error_rate": {"source": "probe", "interval_s": 0.05, "window_s": 2, "timeout_s": 1},
        "database": {"dsn_env": KEY, "migrations": "none", "require_backup": False},
    }
    console = {
        "operator": "alice",
        "history_file": str(tmp_path / "rollback-history.md"),
        "state_dir": str(tmp_path / "state"),
    }
    path = tmp_path / "config.toml"
    text = tomli_w.dumps({"console": console, "services": [service]})
    path.write_text(text + platform.toml, encoding="utf-8")
    yield path
    health.close()


def instance(when: datetime) -> str:
    return f"web-pitr-{when:%Y%m%dt%H%M%Sz}"


def secret(kube: FakeKubeServer, name: str = SECRET) -> dict[str, Any]:
    return kube.cluster.get("secrets", NAMESPACE, name)


def value(kube: FakeKubeServer, name: str = SECRET) -> str:
    return base64.b64decode(secret(kube, name)["data"][KEY]).decode()


def restarted_at(kube: FakeKubeServer) -> str | None:
    return ro.restarted_at(kube.cluster.get("deployments", NAMESPACE, DEPLOYMENT))


def assert_switched(kube: FakeKubeServer, platform: Platform, when: datetime) -> None:
    from providers.database.pg import read_dsn

    params = read_dsn("X", {"X": value(kube)}).params
    assert params["host"] == platform.new_host(instance(when))
    assert (params["user"], params["password"], params["dbname"]) == ("app", PASSWORD, "appdb")
    assert value(kube, f"{SECRET}-before-{instance(when)}") == platform.live_dsn
    assert restarted_at(kube)


def pitr(config: Path, when: datetime, *extra: str) -> tuple[int, str]:
    result = run_console(
        config, "action", "web", "pitr", "--arg", stamp(when), "--reason", "orders corrupted",
        *extra,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def test_pitr_restores_switches_the_secret_and_restarts(
    config: Path, kube: FakeKubeServer, platform: Platform, tmp_path: Path
) -> None:
    listed = run_console(config, "action", "web", "--list")
    assert "pitr" in listed.stdout, listed.stdout + listed.stderr
    when = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)
    code, out = pitr(config, when, "--yes")
    assert code == 0, out
    made_at(platform, instance(when), when)
    assert_switched(kube, platform, when)
    assert "<new DSN: host " in out and "db appdb>" in out
    entries = (tmp_path / "rollback-history.md").read_text()
    assert "DATA LOSS: writes between" in entries
    assert "database restored to a point in time" in entries
    assert f"{SECRET}-before-{instance(when)}" in entries  # how to go back
    assert PASSWORD not in out and PASSWORD not in everything_written(tmp_path)
    assert NEON_KEY not in everything_written(tmp_path)


@pytest.mark.parametrize("platform", ["cloudsql"], indirect=True)
def test_kubectl_reads_the_new_dsn_and_the_way_back_works(
    config: Path, kube: FakeKubeServer, platform: Platform, tmp_path: Path
) -> None:
    kubectl = Kubectl(
        Path(config.parent / "kubeconfig"),
        tmp_path / "home",
        need_binary("kubectl", "real kubectl reads the Secret back"),
    )
    (tmp_path / "home").mkdir()
    when = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)
    code, out = pitr(config, when, "--yes")
    assert code == 0, out
    got = kubectl.run(
        "get", "secret", SECRET, "-n", NAMESPACE, "-o", f"jsonpath={{.data.{KEY}}}", check=True
    )
    assert base64.b64decode(got.stdout).decode() == value(kube) != platform.live_dsn
    # The way back the plan and the switch print, pasted as it is: the old DSN returns.
    back = next(line for line in out.splitlines() if "to go back: " in line and "patch" in line)
    command = back.split("to go back: ", 1)[1].strip()
    if "(Secret" in command:
        command = command.split(" (Secret", 1)[0]
    before = restarted_at(kube)
    result = kubectl.shell(command)
    assert result.returncode == 0, result.stderr
    assert value(kube) == platform.live_dsn and restarted_at(kube) != before


def test_no_switch_leaves_the_secret_and_the_deployment_alone(
    config: Path, kube: FakeKubeServer, platform: Platform
) -> None:
    before = secret(kube)["metadata"]["resourceVersion"]
    when = (datetime.now(UTC) - timedelta(minutes=15)).replace(microsecond=0)
    code, out = pitr(config, when, "--yes", "--no-switch")
    assert code == 0, out
    assert len(platform.made()) == 1
    assert secret(kube)["metadata"]["resourceVersion"] == before
    assert value(kube) == platform.live_dsn and not restarted_at(kube)
    assert (NAMESPACE, f"{SECRET}-before-{instance(when)}") not in kube.cluster.objects["secrets"]


@pytest.mark.parametrize("platform", ["neon"], indirect=True)
def test_killed_after_the_restore_call_resumes_without_a_second_one(
    config: Path, kube: FakeKubeServer, platform: Platform, tmp_path: Path
) -> None:
    platform.slow_down()
    when = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    args = ("action", "web", "pitr", "--arg", stamp(when), "--yes", "--reason", "corrupt")
    console = start_console(config, *args)
    try:
        for _ in range(600):
            if platform.made() or console.poll() is not None:
                break
            time.sleep(0.05)
        assert platform.made(), console.communicate()
        time.sleep(0.3)
        console.send_signal(signal.SIGKILL)
        console.wait()
    finally:
        if console.poll() is None:
            console.kill()
    assert value(kube) == platform.live_dsn
    resumed = run_console(config, "resume", "web", "--yes")
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out
    assert len(platform.made()) == 1
    assert_switched(kube, platform, when)
    assert PASSWORD not in out and PASSWORD not in everything_written(tmp_path)


@pytest.mark.parametrize("platform", ["cloudsql"], indirect=True)
def test_a_dsn_in_the_plain_pod_template_is_refused(
    config: Path, kube: FakeKubeServer, platform: Platform
) -> None:
    kube.cluster.patch(
        "deployments",
        NAMESPACE,
        DEPLOYMENT,
        "application/json-patch+json",
        [
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/env/0",
                "value": {"name": KEY, "value": "postgresql://x@y/z"},
            }
        ],
    )
    when = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    code, out = pitr(config, when, "--yes")
    assert code == 2, out
    assert "plain value in the pod template" in out and "Traceback" not in out
    assert platform.made() == []


def with_kubernetes_keys(config: Path, keys: str) -> None:
    """``keys`` (TOML lines) added to the service's ``[services.kubernetes]`` table."""
    text = config.read_text()
    table = "[services.kubernetes]\n"
    config.write_text(text.replace(table, table + keys, 1))


@pytest.mark.parametrize("platform", ["cloudsql"], indirect=True)
@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ('dsn_secret = "Web DB"\n', "kubernetes.dsn_secret"),
        ('dsn_secret = "web-db"\ndsn_secret_key = "a key"\n', "kubernetes.dsn_secret_key"),
    ],
)
def test_bad_secret_keys_are_named_in_one_line(
    config: Path, platform: Platform, keys: str, named: str
) -> None:
    assert run_console(config, "check-config").returncode == 0  # cloudsql on kubernetes: fine
    with_kubernetes_keys(config, keys)
    result = run_console(config, "check-config")
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("platform", ["cloudsql"], indirect=True)
def test_a_configured_secret_the_pods_do_not_read_is_refused(
    config: Path, kube: FakeKubeServer, platform: Platform
) -> None:
    other = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "other-db"}}
    kube.cluster.create("secrets", NAMESPACE, {**other, "data": {KEY: b64("x")}})
    with_kubernetes_keys(config, 'dsn_secret = "other-db"\n')
    when = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    code, out = pitr(config, when, "--yes")
    assert code == 2, out
    assert "does not read Secret other-db" in out and platform.made() == []
    # Named explicitly and read by the pods, it is the one switched.
    with_kubernetes_keys(config, "")
    config.write_text(config.read_text().replace('"other-db"', f'"{SECRET}"'))
    code, out = pitr(config, when, "--yes")
    assert code == 0, out
    assert_switched(kube, platform, when)


@pytest.mark.parametrize("platform", ["cloudsql"], indirect=True)
def test_a_refused_write_is_said_and_running_again_switches_once(
    config: Path, kube: FakeKubeServer, platform: Platform
) -> None:
    """A Secret written by someone else meanwhile (409) is not overwritten; run again, the
    switch is made; run once more, the Secret is not switched twice nor its copy replaced."""
    when = (datetime.now(UTC) - timedelta(minutes=25)).replace(microsecond=0)
    copy = f"{SECRET}-before-{instance(when)}"
    secret_path = rf"^/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET}(\?|$)"
    kube.fail(secret_path, 409, method="PATCH", message="the object has been modified")
    code, out = pitr(config, when, "--yes")
    assert code != 0, out
    assert "nothing was written" in out and value(kube) == platform.live_dsn
    assert value(kube, copy) == platform.live_dsn and not restarted_at(kube)

    code, out = pitr(config, when, "--yes")
    assert code == 0, out
    assert "an earlier attempt's copy" in out
    assert_switched(kube, platform, when)
    switched_rv = secret(kube)["metadata"]["resourceVersion"]

    code, out = pitr(config, when, "--yes")
    assert code == 0, out
    assert "not switched twice" in out and "not restored again" in out
    assert secret(kube)["metadata"]["resourceVersion"] == switched_rv
    assert len(platform.made()) == 1
    assert_switched(kube, platform, when)  # the copy still holds the value before
    assert PASSWORD not in out


@pytest.mark.parametrize("platform", ["cloudsql"], indirect=True)
def test_pods_behind_a_cloud_sql_proxy_are_not_switched(
    config: Path, kube: FakeKubeServer, platform: Platform
) -> None:
    proxied = f"postgresql://app:{PASSWORD}@127.0.0.1:5432/appdb"
    kube.cluster.patch(
        "secrets",
        NAMESPACE,
        SECRET,
        "application/merge-patch+json",
        {"data": {KEY: b64(proxied)}},
    )
    when = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    code, out = pitr(config, when, "--yes")
    assert code == 2, out
    assert "Auth Proxy" in out and PASSWORD not in out and platform.made() == []
