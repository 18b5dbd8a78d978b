"""moto's AWS server in the test process, a known ECS world on it, and ECS's scheduler by hand.

One ``ThreadedMotoServer`` on 127.0.0.1 (a free port) serves the whole test
run; every test starts from ``POST /moto-api/reset``.  Clients reach it only
through ``endpoint_url``, with dummy credentials from the environment and
``~/.aws`` hidden, exactly as the console would reach a LocalStack-style
endpoint.

moto implements the ECS API calls but not the ECS *scheduler*: after
``update-service`` its deployment stays IN_PROGRESS with 0 running and no task
starts or stops.  ``EcsScheduler`` does by hand, on moto's in-process backend
(``moto.ecs.models.ecs_backends``), what the real scheduler does over a minute
or two: start a new PRIMARY deployment for the service's task definition, start
its tasks, stop the old ones with ECS's stopped reason, and mark the rollout
COMPLETED (or FAILED, as the circuit breaker does).  Tests say when they use it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import boto3
import pytest

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CLUSTER = "prod"
SERVICE = "web"
FAMILY = "web"
DB_INSTANCE = "appdb"
LOAD_BALANCER = "app/web-alb/50dc6c495c0c9188"
TARGET_GROUP = "targetgroup/web-tg/73e2d6bc24d8a067"
#: The releases of the world, oldest first: web:1, web:2, web:3 run these tags.
TAGS = ("v1.2.8", "v1.2.9", "v1.3.0")

_server: Any = None
_server_lock = threading.Lock()
#: The tests' own boto3 session (models loaded once for every test's clients).
_SESSION = boto3.session.Session()
_SESSION_LOCK = threading.Lock()


def moto_url() -> str:
    """The shared server's base URL, starting it on first use (stopped at exit)."""
    global _server
    with _server_lock:
        if _server is None:
            from moto.server import ThreadedMotoServer

            # One access-log line per request would bury a failing test's output.
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
            _list_moto_modules_once()
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            atexit.register(server.stop)
            _server = server
        host, port = _server.get_host_and_port()
    return f"http://{host}:{port}"


def _list_moto_modules_once() -> None:
    """Speed only: moto's server lists its own package folder (a stat per service) on
    every request to see whether the Host header names a service.  The folder does not
    change while the tests run, so it is listed once; behaviour is unchanged."""
    import moto.backends

    listing = getattr(moto.backends, "list_of_moto_modules", None)
    if listing is not None:
        modules = tuple(listing())
        moto.backends.list_of_moto_modules = lambda: modules


def reset(url: str) -> None:
    """Forget every resource, and keep moto's tasks RUNNING until a test stops them."""
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    from moto.moto_api import state_manager

    # moto advances a task RUNNING -> DEACTIVATING -> ... a step each time it is
    # described; real tasks run until stopped.
    state_manager.set_transition(
        model_name="ecs::task", transition={"progression": "manual", "times": 10**9}
    )


def isolate_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials, no ~/.aws, no instance metadata: only the test endpoint is reachable."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def ecs_backend() -> Any:
    from moto.ecs.models import ecs_backends

    return ecs_backends[ACCOUNT][REGION]


def key_of(ref: str) -> str:
    """``family:rev`` of an ARN or ``family:rev`` string."""
    return ref.rsplit("/", 1)[-1]


@dataclass
class World:
    """The known ECS world: a service on web:3 (v1.3.0, the bad release) with two earlier ones."""

    url: str
    region: str = REGION
    repo_uri: str = ""
    scheduler: EcsScheduler = field(init=False)
    _clients: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.scheduler = EcsScheduler(CLUSTER, SERVICE)
        self._clients: dict[str, Any] = {}

    def client(self, name: str) -> Any:
        """A boto3 client on the moto server (made once: making one costs more than a call)."""
        if name not in self._clients:
            with _SESSION_LOCK:
                self._clients[name] = _SESSION.client(
                    name, region_name=self.region, endpoint_url=self.url
                )
        return self._clients[name]

    @property
    def ecs(self) -> Any:
        return self.client("ecs")

    def image(self, tag: str) -> str:
        return f"{self.repo_uri}:{tag}"

    def build(self, *, rds: bool = True, desired: int = 2) -> World:
        ecr = self.client("ecr")
        self.repo_uri = ecr.create_repository(repositoryName=FAMILY)["repository"]["repositoryUri"]
        for i, tag in enumerate(TAGS):
            manifest = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": 100 + i,
                    "digest": f"sha256:{str(i) * 64}",
                },
                "layers": [],
            }
            ecr.put_image(repositoryName=FAMILY, imageManifest=json.dumps(manifest), imageTag=tag)
        ecs = self.ecs
        ecs.create_cluster(clusterName=CLUSTER)
        for tag in TAGS:
            self.register(tag)
        deployment_configuration = {
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        }
        ecs.create_service(
            cluster=CLUSTER,
            serviceName=SERVICE,
            taskDefinition=f"{FAMILY}:{len(TAGS)}",
            desiredCount=desired,
            launchType="EC2",
            deploymentConfiguration=deployment_configuration,
        )
        # moto gap, driven by hand: it accepts deploymentConfiguration but does not
        # keep it, so DescribeServices would not show the circuit breaker.
        ecs_backend().services[
            f"{CLUSTER}:{SERVICE}"
        ].deployment_configuration = deployment_configuration
        # The bad release is live and steady: its tasks run, one crashed earlier.
        self.scheduler.settle()
        self.scheduler.stopped_task(f"{FAMILY}:{len(TAGS)}", "Essential container in task exited")
        if rds:
            rds_client = self.client("rds")
            rds_client.create_db_parameter_group(
                DBParameterGroupName="appdb-params",
                DBParameterGroupFamily="postgres16",
                Description="the application's settings",
            )
            rds_client.create_db_instance(
                DBParameterGroupName="appdb-params",
                DBInstanceIdentifier=DB_INSTANCE,
                DBInstanceClass="db.t3.medium",
                Engine="postgres",
                MasterUsername="app",
                MasterUserPassword="not-a-secret-1",
                AllocatedStorage=20,
            )
            rds_client.create_db_snapshot(
                DBInstanceIdentifier=DB_INSTANCE, DBSnapshotIdentifier="before-v1-3-0"
            )
        return self

    def register(self, tag: str, **changes: Any) -> str:
        """Register the next revision of the family running ``tag``; its ``family:rev``."""
        containers = [
            {
                "name": "app",
                "image": self.image(tag),
                "memory": 256,
                "essential": True,
                "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
                "environment": [{"name": "RELEASE", "value": tag}],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": "/ecs/web",
                        "awslogs-region": REGION,
                        "awslogs-stream-prefix": "web",
                    },
                },
            },
            {
                "name": "log-router",
                "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.0",
                "memory": 64,
                "essential": False,
            },
        ]
        found = self.ecs.register_task_definition(
            family=FAMILY,
            containerDefinitions=containers,
            executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/web-exec",
            tags=[{"key": "team", "value": "payments"}],
            **changes,
        )
        key = key_of(found["taskDefinition"]["taskDefinitionArn"])
        # moto gap, driven by hand: real ECS records when a revision was registered.
        ecs_backend().describe_task_definition(key).registered_at = _now()
        return key

    def service(self) -> dict[str, Any]:
        found: dict[str, Any] = self.ecs.describe_services(cluster=CLUSTER, services=[SERVICE])[
            "services"
        ][0]
        return found

    def live_key(self) -> str:
        """The service's task definition as ``family:rev``, whichever form moto stored."""
        return key_of(str(self.service()["taskDefinition"]))

    def put_alb_traffic(
        self,
        requests: float,
        errors: float,
        latency_s: float = 0.08,
        at: datetime | None = None,
    ) -> None:
        """What the ALB would report for one minute of traffic to the target group."""
        when = at or datetime.now(UTC)
        dims = [
            {"Name": "LoadBalancer", "Value": LOAD_BALANCER},
            {"Name": "TargetGroup", "Value": TARGET_GROUP},
        ]
        self.client("cloudwatch").put_metric_data(
            Namespace="AWS/ApplicationELB",
            MetricData=[
                {
                    "MetricName": "RequestCount",
                    "Dimensions": dims,
                    "Timestamp": when,
                    "Value": requests,
                    "Unit": "Count",
                },
                {
                    "MetricName": "HTTPCode_Target_5XX_Count",
                    "Dimensions": dims,
                    "Timestamp": when,
                    "Value": errors,
                    "Unit": "Count",
                },
                {
                    "MetricName": "TargetResponseTime",
                    "Dimensions": dims,
                    "Timestamp": when,
                    "Value": latency_s,
                    "Unit": "Seconds",
                },
            ],
        )


class EcsScheduler:
    """What ECS's scheduler does after ``update-service``, done by hand on moto's backend."""

    def __init__(self, cluster: str, service: str) -> None:
        self.cluster = cluster
        self.service_name = service
        self._counter = 0
        self._settled_id = ""
        self._begun_id = ""

    def _service(self) -> Any:
        return ecs_backend().services[f"{self.cluster}:{self.service_name}"]

    def _target_arn(self) -> str:
        backend = ecs_backend()
        svc = self._service()
        return str(backend.describe_task_definition(key_of(str(svc.task_definition))).arn)

    def pending(self) -> bool:
        """Whether the service asks for something its deployments do not run yet."""
        svc = self._service()
        primary = svc.deployments[0] if svc.deployments else None
        if primary is None:
            return True
        return (
            key_of(str(primary["taskDefinition"])) != key_of(self._target_arn())
            or primary["id"] != self._settled_id
        )

    def _new_id(self) -> str:
        self._counter += 1
        return f"ecs-svc/{9000000000000000000 + self._counter}"

    def _event(self, message: str) -> None:
        self._counter += 1
        self._service().events.insert(
            0, {"id": f"ev-{self._counter}", "createdAt": _now(), "message": message}
        )

    def begin(self) -> str:
        """UpdateService's synchronous part: a new PRIMARY (IN_PROGRESS, 0 running), old ACTIVE."""
        svc = self._service()
        target = self._target_arn()
        primary = svc.deployments[0] if svc.deployments else None
        if (
            primary is not None
            and primary["id"] == self._begun_id
            and key_of(str(primary["taskDefinition"])) == key_of(target)
        ):
            return self._begun_id
        dep_id = self._new_id()
        now = _now()
        new = {
            "id": dep_id,
            "status": "PRIMARY",
            "taskDefinition": target,
            "desiredCount": svc.desired_count,
            "pendingCount": svc.desired_count,
            "runningCount": 0,
            "failedTasks": 0,
            "createdAt": now,
            "updatedAt": now,
            "launchType": "EC2",
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": f"ECS deployment {dep_id} in progress.",
        }
        old = [dict(primary, status="ACTIVE")] if primary is not None else []
        svc.deployments = [new, *old]
        self._begun_id = dep_id
        self._event(f"(service {self.service_name}) has begun deployment {dep_id}.")
        return dep_id

    def settle(self) -> str:
        """Finish the rollout: new tasks RUNNING, old ones STOPPED, one COMPLETED deployment."""
        dep_id = self.begin()
        svc = self._service()
        target = self._target_arn()
        now = _now()
        for task in self.tasks():
            if task.last_status == "RUNNING":
                self._stop(task, f"Scaling activity initiated by (deployment {dep_id})")
        for _ in range(svc.desired_count):
            self.start_task(target, dep_id)
        primary = dict(svc.deployments[0])
        primary.update(
            runningCount=svc.desired_count,
            pendingCount=0,
            rolloutState="COMPLETED",
            rolloutStateReason=f"ECS deployment {dep_id} completed.",
            updatedAt=now,
        )
        svc.deployments = [primary]
        svc.running_count = svc.desired_count
        svc.pending_count = 0
        self._settled_id = dep_id
        self._event(f"(service {self.service_name}) has reached a steady state.")
        return dep_id

    def fail_and_roll_back(self, to_key: str) -> None:
        """The circuit breaker: the new deployment FAILED, ECS went back to ``to_key``."""
        dep_id = self.begin()
        svc = self._service()
        backend = ecs_backend()
        failed_td = self._target_arn()
        for _ in range(2):
            task = self.start_task(failed_td, dep_id)
            self._stop(task, "Essential container in task exited")
        svc.task_definition = backend.describe_task_definition(to_key).arn
        back = self._new_id()
        now = _now()
        svc.deployments = [
            {
                "id": back,
                "status": "PRIMARY",
                "taskDefinition": svc.task_definition,
                "desiredCount": svc.desired_count,
                "pendingCount": 0,
                "runningCount": svc.desired_count,
                "failedTasks": 0,
                "createdAt": now,
                "updatedAt": now,
                "launchType": "EC2",
                "rolloutState": "COMPLETED",
                "rolloutStateReason": (
                    f"ECS deployment circuit breaker: rolled back to {key_of(to_key)} "
                    f"after deployment {dep_id} failed: tasks failed to start."
                ),
            }
        ]
        self._settled_id = back
        self._event(
            f"(service {self.service_name}) deployment {dep_id} deployment failed: "
            "tasks failed to start."
        )

    def mark_failed(self, reason: str) -> None:
        """The circuit breaker stopped the PRIMARY deployment without rolling back."""
        svc = self._service()
        primary = dict(svc.deployments[0])
        primary.update(rolloutState="FAILED", rolloutStateReason=reason, failedTasks=3)
        svc.deployments = [primary, *svc.deployments[1:]]

    def tasks(self) -> list[Any]:
        backend = ecs_backend()
        group = f"service:{self.service_name}"
        return [t for t in backend.tasks.get(self.cluster, {}).values() if t.group == group]

    def start_task(self, td_arn: str, started_by: str) -> Any:
        from moto.ecs.models import Task

        backend = ecs_backend()
        cluster = backend.clusters[self.cluster]
        td = backend.describe_task_definition(key_of(td_arn))
        task = Task(
            cluster,
            td,
            None,
            None,
            backend,
            group=f"service:{self.service_name}",
            launch_type="EC2",
            started_by=started_by,
        )
        task.last_status = "RUNNING"
        task.started_at = _now()  # moto keeps no start time; ECS does
        backend.tasks.setdefault(self.cluster, {})[task.task_arn] = task
        return task

    def _stop(self, task: Any, reason: str) -> None:
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stopped_reason = reason
        task.stopped_at = _now()

    def stopped_task(self, key: str, reason: str) -> Any:
        task = self.start_task(self._arn(key), "ecs-svc/earlier")
        self._stop(task, reason)
        return task

    @staticmethod
    def _arn(key: str) -> str:
        return str(ecs_backend().describe_task_definition(key).arn)


class Background:
    """A daemon thread running ``_run`` while a ``with`` block lasts (e2e helpers).

    ``_run`` returns once ``_stop`` is set; leaving the block sets it and waits
    (5 s at most) for the thread to end.
    """

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        raise NotImplementedError


class AutoScheduler(Background):
    """A thread playing ECS's scheduler for a console in another process (e2e tests).

    Whenever the service asks for something its deployments do not run (a new
    task definition, a forced deployment), it settles the rollout, as long as
    ``settling`` is set (``settle=True``, the default).  Cleared, it only starts
    the rollout (a new PRIMARY deployment, IN_PROGRESS, 0 running) and leaves it
    so: the state in which a console waits, until a test sets ``settling``.
    """

    def __init__(
        self, scheduler: EcsScheduler, interval_s: float = 0.05, *, settle: bool = True
    ) -> None:
        self.scheduler = scheduler
        self.interval_s = interval_s
        self.rollouts = 0
        self.settling = threading.Event()
        if settle:
            self.settling.set()
        self._lock = threading.Lock()
        super().__init__("ecs-scheduler")

    def begin(self) -> None:
        """What UpdateService does before it answers: the new PRIMARY deployment.

        For a callback run the moment moto answered UpdateService (from another thread).
        """
        with self._lock:
            self.scheduler.begin()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                try:
                    if self.scheduler.pending():
                        if self.settling.is_set():
                            self.scheduler.settle()
                            self.rollouts += 1
                        else:
                            self.scheduler.begin()
                except KeyError:
                    continue  # the world is being reset


class Traffic(Background):
    """A thread posting the ALB's per-second metrics while a console reads them (e2e)."""

    def __init__(self, world: World, requests: float, errors: float) -> None:
        self.world = world
        self.requests = requests
        self.errors = errors
        super().__init__("alb-traffic")

    def _run(self) -> None:
        while True:
            self.world.put_alb_traffic(self.requests, self.errors)
            if self._stop.wait(0.2):
                return


def aws_world(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, rds: bool = True
) -> Iterator[World]:
    """Fixture body: isolated env, a reset moto, the known world built on it."""
    isolate_env(monkeypatch, tmp_path)
    url = moto_url()
    reset(url)
    world = World(url).build(rds=rds)
    yield world


def minutes_ago(n: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=n)


def _now() -> datetime:
    """moto keeps deployment times as naive UTC datetimes."""
    return datetime.now(UTC).replace(tzinfo=None)
