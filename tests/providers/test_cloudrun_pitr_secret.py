"""End to end: ``action k-back pitr`` on Cloud Run when the DSN comes from Secret Manager.

The live revision reads ``DATABASE_URL`` through ``valueSource.secretKeyRef``
``{secret, version}``.  The console runs as its own process against three
fakes: the Cloud Run Admin API, the Cloud SQL Admin API (the clone) and the
Secret Manager API v1 (``tests/secretmanager_server``).  The switch must add
ONE version of the secret holding the live DSN pointed at the clone, roll a
new revision referencing that version by number (when the live one pinned a
number) or ``latest``, and never print the DSN; the answer of ``addVersion``
lost, or the action run again, makes no second version.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cloudrun_server import CloudRunServer
from tests.cloudrun_server.fixtures import IMAGE, PROJECT, REGION, SERVICE
from tests.console_cli import run_console, start_console
from tests.providers import test_cloudrun_pitr as base
from tests.providers.test_cloudrun_pitr import (
    PASSWORD,
    Platform,
    everything_written,
    new_revision,
    stamp,
)
from tests.secretmanager_server import SecretManagerServer

pytestmark = pytest.mark.e2e

#: The fixtures of the Cloud Run restore tests (the fakes, the config), shared.
run, platform, config = base.run, base.platform_fixture, base.config

SECRET = "db-url"
LIVE = "k-back-00043-sec"


@pytest.fixture
def secrets() -> Iterator[SecretManagerServer]:
    with SecretManagerServer() as server:
        yield server


def read_from_secret(
    config: Path, run: CloudRunServer, secrets: SecretManagerServer, platform: Platform, pin: str
) -> None:
    """The live revision reads DATABASE_URL from version 1 (or latest) of the secret."""
    secrets.store.add_secret(PROJECT, SECRET, platform.live_dsn, number="204718833")
    text = config.read_text()
    config.write_text(
        text.replace(
            "[services.cloudrun]\n",
            f'[services.cloudrun]\nsecret_manager_endpoint = "{secrets.url}"\n',
        )
    )
    ref = {"secretKeyRef": {"secret": SECRET, "version": pin}}
    template = {
        "containers": [{"name": "app", "env": [{"name": "DATABASE_URL", "valueSource": ref}]}]
    }
    name = f"projects/{PROJECT}/locations/{REGION}/services/{SERVICE}"
    run.store.deploy(name, f"{IMAGE}:v1.3.1", revision=LIVE, template=template)


def secret_ref(run: CloudRunServer, revision: str) -> dict[str, str]:
    rev = run.store.revisions[
        f"projects/{PROJECT}/locations/{REGION}/services/{SERVICE}/revisions/{revision}"
    ]
    (app,) = rev["containers"]
    (env,) = [e for e in app["env"] if e["name"] == "DATABASE_URL"]
    assert "value" not in env or not env["value"]  # the DSN is not in the plain environment
    return dict(env["valueSource"]["secretKeyRef"])


@pytest.mark.parametrize("platform", ["cloudsql"], indirect=True)
@pytest.mark.parametrize("pin", ["1", "latest"])
def test_the_switch_adds_one_secret_version_and_a_revision_reading_it(
    config: Path,
    run: CloudRunServer,
    platform: Platform,
    secrets: SecretManagerServer,
    tmp_path: Path,
    pin: str,
) -> None:
    from providers.database.pg import read_dsn

    read_from_secret(config, run, secrets, platform, pin)
    secrets.lose_answers("POST", r":addVersion$")  # carried out, its answer lost
    when = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    args = ("action", SERVICE, "pitr", "--arg", stamp(when), "--yes", "--reason", "corrupt")
    done = run_console(config, *args, "--verify-window", "1")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out

    # One new version, holding the live DSN pointed at the clone.
    assert len(secrets.store.added) == 2  # the live version, then the switch's
    assert len(secrets.received("POST", ":addVersion")) == 1  # found again, not resent
    dsn = secrets.store.value(PROJECT, SECRET, "2")
    params = read_dsn("X", {"X": dsn}).params
    name = f"{SERVICE}-pitr-{when:%Y%m%dt%H%M%Sz}"
    assert params["host"] == platform.new_host(name) and params["password"] == PASSWORD
    assert secrets.store.value(PROJECT, SECRET, "1") == platform.live_dsn  # kept

    # The new revision references it (by number when the live one pinned one) and serves.
    revision = new_revision(when)
    assert secret_ref(run, revision) == {"secret": SECRET, "version": "2" if pin == "1" else pin}
    assert secret_ref(run, LIVE) == {"secret": SECRET, "version": pin}  # left as it was
    svc = run.store.public_service(f"projects/{PROJECT}/locations/{REGION}/services/{SERVICE}")
    assert svc["latestReadyRevision"].endswith(f"/revisions/{revision}")

    # Shown: the gcloud commands and the way back, never the DSN.
    assert f"gcloud secrets versions add {SECRET} --project {PROJECT}" in out
    assert "version 2 of secret db-url holds" in out
    if pin == "1":
        assert f"--to-revisions {LIVE}=100" in out and "still reads version 1" in out
    else:
        assert f"gcloud secrets versions disable 2 --secret {SECRET} --project {PROJECT}" in out
        assert f"--update-secrets DATABASE_URL={SECRET}:1" in out
    assert PASSWORD not in out and PASSWORD not in everything_written(tmp_path)

    # Run again: the clone and the revision exist, the version is found: nothing twice.
    again = run_console(config, *args, "--verify-window", "1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(secrets.store.added) == 2
    assert sum(1 for r in run.store.revisions if r.endswith(revision)) == 1
    assert "not made twice" in again.stdout + again.stderr


@pytest.mark.parametrize("platform", ["cloudsql"], indirect=True)
def test_a_missing_secret_is_one_line_and_nothing_is_restored(
    config: Path,
    run: CloudRunServer,
    platform: Platform,
    secrets: SecretManagerServer,
) -> None:
    read_from_secret(config, run, secrets, platform, "1")
    secrets.store.secrets.clear()
    when = stamp(datetime.now(UTC) - timedelta(minutes=5))
    done = run_console(config, "action", SERVICE, "pitr", "--arg", when, "--yes", "--reason", "x")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "secret db-url" in done.stderr and "not found" in done.stderr
    assert "Traceback" not in done.stderr
    assert platform.made() == []


@pytest.mark.parametrize("platform", ["cloudsql"], indirect=True)
def test_a_console_killed_after_adding_the_version_resumes_without_a_second(
    config: Path,
    run: CloudRunServer,
    platform: Platform,
    secrets: SecretManagerServer,
) -> None:
    """Killed once the version is added, while Cloud Run holds the revision's update (it
    never takes it): resumed, the switch finds its version by its payload and adds none."""
    from tests.cloudrun_server.store import ApiError

    read_from_secret(config, run, secrets, platform, "1")
    arrived, killed = threading.Event(), threading.Event()

    def hold(name: str) -> None:
        arrived.set()
        killed.wait(30)
        raise ApiError(503, "UNAVAILABLE", "the caller went away")

    run.store.before_update.append(hold)
    when = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    args = ("action", SERVICE, "pitr", "--arg", stamp(when), "--yes", "--reason", "corrupt")
    console = start_console(config, *args, "--verify-window", "1")
    try:
        assert arrived.wait(60), console.communicate()
        assert len(secrets.store.added) == 2  # the version was added before the update
        console.send_signal(signal.SIGKILL)
        console.wait()
    finally:
        if console.poll() is None:
            console.kill()
        run.store.before_update.clear()
        killed.set()
    assert not any(r.endswith(new_revision(when)) for r in run.store.revisions)
    resumed = run_console(config, "resume", SERVICE, "--yes", "--verify-window", "1")
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out
    assert len(secrets.store.added) == 2  # not a second version
    assert len(secrets.received("POST", ":addVersion")) == 1
    assert "version 2 of secret db-url holds" in out and "not added twice" in out
    assert secret_ref(run, new_revision(when)) == {"secret": SECRET, "version": "2"}
    assert sum(1 for r in run.store.revisions if r.endswith(new_revision(when))) == 1
    assert PASSWORD not in out
