"""`action web pitr --arg TIME` on an ECS service with an RDS database, against moto's server.

The RDS route of point-in-time recovery (runbook 003, issue 16): restore the
instance to a moment into a NEW instance, wait until it is available, run the
checks beside the live database, switch the Secrets Manager secret the tasks
read, force a new deployment and verify it.  The console runs as its own
process; the test process plays what moto does not (said where used):

* ECS's scheduler (``AutoScheduler``): a forced deployment is carried out.
* The load balancer (``ALB`` with no bad revision): the data was corrupted,
  the release itself answers fine, so verification passes.
* RDS taking minutes to restore (the SIGKILL test only): moto makes a restored
  instance ``available`` at once; the test holds it ``creating`` on moto's
  in-process backend until the console was killed.

moto has no database behind an instance (its endpoint does not resolve), so
the checks truthfully say they could not run, on both sides.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from tests.aws.alb import ALB
from tests.aws.alb import write_config as write_alb_config
from tests.aws.moto_server import ACCOUNT, DB_INSTANCE, REGION, AutoScheduler, World, aws_world
from tests.console_cli import run_console as console
from tests.console_cli import start_console

pytestmark = pytest.mark.e2e

ENV = "APP_DATABASE_URL"
PASSWORD = "not-a-secret-1"
LIVE_DSN = f"postgresql://app:{PASSWORD}@appdb.aaaaaaaaaa.{REGION}.rds.amazonaws.com:5432/app"
SECRET = "web/database"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    monkeypatch.setenv(ENV, LIVE_DSN)  # the console's own view of the live database
    yield from aws_world(monkeypatch, tmp_path)


def write_config(world: World, root: Path, **rds: Any) -> Path:
    path = write_alb_config(root, endpoint=world.url, verify_window_s=1, ready_timeout_s=60)
    data = tomllib.loads(path.read_text())
    data["services"][0]["database"] = {
        "dsn_env": ENV,
        "migrations": "none",
        # require_backup left at its default (true): a pitr never writes to the live
        # database, so no pg_dump of it is demanded (moto has no database to dump).
        "checks": [{"name": "orders", "sql": "SELECT count(*) FROM orders"}],
        "pitr": {
            "rds": {
                "db_instance": DB_INSTANCE,
                "secret_id": SECRET,
                "secret_key": "url",
                "timeout_s": 60,
                **rds,
            }
        },
    }
    path.write_text(tomli_w.dumps(data))
    return path


def make_secret(world: World) -> None:
    body = {"url": LIVE_DSN, "pool": "10"}
    world.client("secretsmanager").create_secret(Name=SECRET, SecretString=json.dumps(body))


def secret(world: World) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        world.client("secretsmanager").get_secret_value(SecretId=SECRET)["SecretString"]
    )
    return found


def restorable_moment(world: World) -> datetime:
    """A whole second after the instance was created (so inside the window), once it passed."""
    created = world.client("rds").describe_db_instances(DBInstanceIdentifier=DB_INSTANCE)[
        "DBInstances"
    ][0]["InstanceCreateTime"]
    when = created.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=2)
    time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds() + 0.3))
    return when


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def restored(world: World) -> list[dict[str, Any]]:
    found = world.client("rds").describe_db_instances()["DBInstances"]
    return [d for d in found if d["DBInstanceIdentifier"].startswith("web-pitr-")]


def test_pitr_restores_into_a_new_instance_switches_the_secret_and_redeploys(
    aws: World, tmp_path: Path
) -> None:
    make_secret(aws)
    config = write_config(aws, tmp_path)
    when = restorable_moment(aws)
    deployment_before = aws.service()["deployments"][0]["id"]
    version_before = aws.client("secretsmanager").get_secret_value(SecretId=SECRET)["VersionId"]
    listed = console(config, "action", "web", "--list")
    assert "pitr" in listed.stdout and "Restore the database to a point in time" in listed.stdout
    with ALB(aws, bad=""), AutoScheduler(aws.scheduler) as scheduler:
        done = console(
            config,
            "action",
            "web",
            "pitr",
            "--arg",
            stamp(when),
            "--yes",
            "--reason",
            "orders corrupted by v1.3.0",
            "--verify-window",
            "1",
        )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Traceback" not in out

    # A new instance, named after the time, restored to it (the tag RDS keeps says so).
    name = f"web-pitr-{when:%Y%m%dt%H%M%Sz}"
    [new] = restored(aws)
    assert new["DBInstanceIdentifier"] == name
    assert new["DBInstanceClass"] == "db.t3.medium"  # placed as the live one
    tags = {t["Key"]: t["Value"] for t in new.get("TagList", [])}
    assert tags["rollback-console:restore-time"] == stamp(when)
    live = aws.client("rds").describe_db_instances(DBInstanceIdentifier=DB_INSTANCE)
    assert live["DBInstances"][0]["DBInstanceStatus"] == "available"  # kept as it was
    assert (
        f"aws rds restore-db-instance-to-point-in-time --source-db-instance-identifier "
        f"appdb --target-db-instance-identifier {name} --restore-time {stamp(when)}" in out
    )

    # The secret's key points at the new endpoint, same credentials; other keys kept.
    body = secret(aws)
    host = new["Endpoint"]["Address"]
    assert body == {"url": f"postgresql://app:{PASSWORD}@{host}:5432/app", "pool": "10"}
    versions = aws.client("secretsmanager").list_secret_version_ids(SecretId=SECRET)["Versions"]
    assert sorted(s for v in versions for s in v["VersionStages"]) == ["AWSCURRENT", "AWSPREVIOUS"]
    assert "aws secretsmanager update-secret-version-stage --secret-id web/database" in out

    # A new deployment was forced and settled; the checks said truthfully they could not run.
    assert scheduler.rollouts == 1
    assert aws.service()["deployments"][0]["id"] != deployment_before
    assert "aws ecs update-service --cluster prod --service web --force-new-deployment" in out
    assert "checks could not run" in out and "check orders: live" not in out
    assert PASSWORD not in out

    history = (tmp_path / "rollback-history.md").read_text()
    assert "DATA LOSS: writes between" in history
    assert "database restored to a point in time" in history
    assert name in history and PASSWORD not in history
    assert "checks could not run" in history  # recorded as it was, no value made up
    assert f"--move-to-version-id {version_before}" in history  # the way back


def test_pitr_outside_the_window_in_the_future_or_without_backups_exits_2(
    aws: World, tmp_path: Path
) -> None:
    make_secret(aws)
    config = write_config(aws, tmp_path)
    early = stamp(datetime.now(UTC) - timedelta(hours=1))
    future = stamp(datetime.now(UTC) + timedelta(hours=1))
    with ALB(aws, bad=""):  # traffic, so the console's first assessment does not wait
        for when, words in (
            (early, "is before the creation of appdb"),
            (future, "in the future"),
        ):
            done = console(config, "action", "web", "pitr", "--arg", when, "--yes", "--reason", "x")
            assert done.returncode == 2, done.stdout + done.stderr
            assert words in done.stderr and "Traceback" not in done.stderr
            assert len(done.stderr.strip().splitlines()) == 1
        aws.client("rds").modify_db_instance(
            DBInstanceIdentifier=DB_INSTANCE, BackupRetentionPeriod=0, ApplyImmediately=True
        )
        when = stamp(restorable_moment(aws))
        done = console(config, "action", "web", "pitr", "--arg", when, "--yes", "--reason", "x")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "keeps no automated backups" in done.stderr
    assert restored(aws) == [] and secret(aws)["url"] == LIVE_DSN  # nothing made or switched


class SlowRestore:
    """RDS's minutes of restoring: a ``web-pitr-*`` instance is held ``creating`` until
    ``finish`` (moto's backend, in this process, makes it ``available`` at once).

    The restore call itself is wrapped (moto's server side, not the SDK under test), so
    the instance is ``creating`` before moto answers: no poll can see it available
    first, however loaded the machine is."""

    def __init__(self) -> None:
        self.seen = threading.Event()
        self.done = threading.Event()
        self._original: Any = None

    @staticmethod
    def _backend_class() -> Any:
        from moto.rds.models import RDSBackend

        return RDSBackend

    def _backend(self) -> Any:
        from moto.rds.models import rds_backends

        return rds_backends[ACCOUNT][REGION]

    def __enter__(self) -> SlowRestore:
        cls = self._backend_class()
        self._original = original = cls.restore_db_instance_to_point_in_time
        slow = self

        def restore(backend: Any, *args: Any, **kwargs: Any) -> Any:
            db = original(backend, *args, **kwargs)
            if not slow.done.is_set():
                db.status = "creating"
                slow.seen.set()
            return db

        cls.restore_db_instance_to_point_in_time = restore
        return self

    def finish(self) -> None:
        self.done.set()
        if self._original is not None:
            self._backend_class().restore_db_instance_to_point_in_time = self._original
            self._original = None
        for name, db in self._backend().databases.items():
            if name.startswith("web-pitr-"):
                db.status = "available"

    def __exit__(self, *exc: object) -> None:
        self.finish()


def test_a_console_killed_after_the_restore_call_resumes_without_a_second_instance(
    aws: World, tmp_path: Path
) -> None:
    make_secret(aws)
    config = write_config(aws, tmp_path)
    when = restorable_moment(aws)
    with ALB(aws, bad=""), AutoScheduler(aws.scheduler) as scheduler:
        with SlowRestore() as slow:
            proc = start_console(
                config, "action", "web", "pitr", "--arg", stamp(when), "--yes", "--reason", "x"
            )
            try:
                assert slow.seen.wait(60), "the restore was never called"
                time.sleep(1.0)  # the console is waiting for the instance now
            finally:
                os.kill(proc.pid, signal.SIGKILL)
                proc.communicate(timeout=30)
            assert secret(aws)["url"] == LIVE_DSN  # killed before the switch
            slow.finish()  # RDS finished restoring meanwhile
        resumed = console(config, "resume", "web", "--yes", "--verify-window", "1")
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out
    assert "not restored again" in out
    [new] = restored(aws)  # one instance, never a second
    assert secret(aws)["url"].startswith(
        f"postgresql://app:{PASSWORD}@{new['Endpoint']['Address']}"
    )
    assert scheduler.rollouts == 1
    assert PASSWORD not in out
    history = (tmp_path / "rollback-history.md").read_text()
    assert "DATA LOSS: writes between" in history and new["DBInstanceIdentifier"] in history


def provider_for(config: Path) -> Any:
    from console.config import load_config
    from providers.ecs.provider import EcsProvider

    return EcsProvider(load_config(config).services[0])


def test_the_window_ends_at_the_backup_retention_and_a_wrong_instance_names_its_key(
    aws: World, tmp_path: Path
) -> None:
    from moto.rds.models import rds_backends

    from console.errors import InvalidTarget, NotFound

    make_secret(aws)
    aws.client("rds").modify_db_instance(
        DBInstanceIdentifier=DB_INSTANCE, BackupRetentionPeriod=7, ApplyImmediately=True
    )
    # An instance older than its retention (moto: created now; RDS keeps its creation time).
    db = rds_backends[ACCOUNT][REGION].databases[DB_INSTANCE]
    db.instance_create_time = (datetime.now(UTC) - timedelta(days=30)).replace(tzinfo=None)
    provider = provider_for(write_config(aws, tmp_path))
    eight_days = stamp(datetime.now(UTC) - timedelta(days=8))
    with pytest.raises(InvalidTarget) as info:
        provider.plan_action("pitr", eight_days, dry_run=True)
    assert "before the backup retention of appdb (7 days)" in str(info.value)

    six_days = datetime.now(UTC).replace(microsecond=0) - timedelta(days=6)
    plan = provider.plan_action("pitr", stamp(six_days), dry_run=True)
    assert [s.op for s in plan.steps] == [
        "pitr.rds.restore",
        "pitr.rds.wait",
        "pitr.rds.checks",
        "pitr.secret.switch",
        "ecs.update_service",
        "ecs.wait_stable",
    ]
    assert plan.steps[0].params["RestoreTime"] == stamp(six_days)
    assert plan.steps[0].params["UseLatestRestorableTime"] is False
    assert any("about 144 h" in w for w in plan.warnings)  # the loss window, six days
    assert restored(aws) == []  # a dry run made nothing

    (tmp_path / "other").mkdir()
    other = provider_for(write_config(aws, tmp_path / "other", db_instance="nope"))
    with pytest.raises(NotFound) as missing:
        other.plan_action("pitr", stamp(six_days), dry_run=True)
    assert "db_instance in [services.database.pitr.rds]" in str(missing.value)


def test_a_whole_string_secret_is_replaced_by_the_dsn_and_without_checks_none_run(
    aws: World, tmp_path: Path
) -> None:
    aws.client("secretsmanager").create_secret(Name=SECRET, SecretString=LIVE_DSN)
    config = write_config(aws, tmp_path, secret_key="")
    data = tomllib.loads(config.read_text())
    del data["services"][0]["database"]["checks"]
    del data["services"][0]["database"]["pitr"]["rds"]["secret_key"]
    config.write_text(tomli_w.dumps(data))
    when = restorable_moment(aws)
    with ALB(aws, bad=""), AutoScheduler(aws.scheduler):
        done = console(
            config, "action", "web", "pitr", "--arg", stamp(when), "--yes", "--reason", "x"
        )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    [new] = restored(aws)
    value = aws.client("secretsmanager").get_secret_value(SecretId=SECRET)["SecretString"]
    assert value == f"postgresql://app:{PASSWORD}@{new['Endpoint']['Address']}:5432/app"
    assert "Checks on the live database" not in out and PASSWORD not in out


def test_a_secret_of_fields_gets_the_new_endpoint_and_keeps_every_other_key(
    aws: World, tmp_path: Path
) -> None:
    """Runbook 003's secret: ``{"host": "new-endpoint", ...}``, fields rather than a DSN."""
    fields = {
        "engine": "postgres",
        "username": "app",
        "password": PASSWORD,
        "host": f"appdb.aaaaaaaaaa.{REGION}.rds.amazonaws.com",
        "port": 5432,
        "dbname": "app",
    }
    sm = aws.client("secretsmanager")
    sm.create_secret(Name=SECRET, SecretString=json.dumps(fields))
    version_before = sm.get_secret_value(SecretId=SECRET)["VersionId"]
    config = write_config(aws, tmp_path, secret_key="")
    data = tomllib.loads(config.read_text())
    rds = data["services"][0]["database"]["pitr"]["rds"]
    del rds["secret_key"]
    rds.update(secret_host_key="host", secret_port_key="port")
    config.write_text(tomli_w.dumps(data))
    when = restorable_moment(aws)
    with ALB(aws, bad=""), AutoScheduler(aws.scheduler) as scheduler:
        done = console(
            config, "action", "web", "pitr", "--arg", stamp(when), "--yes", "--reason", "x"
        )
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        [new] = restored(aws)
        body = secret(aws)
        # The endpoint's address and port, the port still a number; every other key kept.
        assert body == {
            **fields,
            "host": new["Endpoint"]["Address"],
            "port": new["Endpoint"]["Port"],
        }
        assert body["host"] != fields["host"]
        assert "keys host, port of secret web/database" in out
        assert '"host": "<the endpoint of web-pitr-' in out
        assert f"--move-to-version-id {version_before}" in out  # the way back
        assert PASSWORD not in out
        assert scheduler.rollouts == 1

        # Run again: the instance is found, the secret already points at it: no new version.
        versions = len(sm.list_secret_version_ids(SecretId=SECRET)["Versions"])
        again = console(
            config, "action", "web", "pitr", "--arg", stamp(when), "--yes", "--reason", "x"
        )
    out = again.stdout + again.stderr
    assert again.returncode == 0, out
    assert "points at web-pitr-" in out and "already" in out
    assert len(sm.list_secret_version_ids(SecretId=SECRET)["Versions"]) == versions
    assert secret(aws) == body


def test_secret_field_keys_are_checked_in_the_config(aws: World, tmp_path: Path) -> None:
    for rds, words in (
        ({"secret_port_key": "port"}, "secret_port_key: needs secret_host_key"),
        ({"secret_host_key": "url"}, "is also secret_key"),
        ({"secret_host_key": "host", "secret_port_key": "host"}, "used for another field"),
    ):
        config = write_config(aws, tmp_path, **rds)
        done = console(config, "action", "web", "--list")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "pitr.rds." in done.stderr and words in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
