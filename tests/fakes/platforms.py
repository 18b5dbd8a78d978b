"""The platforms of the provider contract suite, each behind one small, uniform handle.

``platform`` (a fixture, parametrised over ``PLATFORMS``; import ``platform_fixture``,
``contract_sandbox`` and ``cloudrun_server`` to use it) brings one platform up
in its known state and yields a ``Platform``: the service's config, the same
service with its platform out of reach, a function reading what runs *from the
platform itself* (never through the provider under test), the ids of the live
revision, of the one a rollback goes to and of one that does not exist, and,
where the platform is reached over HTTP, a way to lose the answer to the
switch's write.  Every platform starts at v1.3.0 (the bad release) after
v1.2.9 and v1.2.8.

The servers are the ones the rest of the suite uses, imported, not copied:

``host``
    The demo sandbox (``console.demo``): real release folders, a real
    ``current`` symlink, a real process.  One sandbox folder (and port) per
    test module; each test rebuilds it (``build_sandbox`` over an existing
    sandbox is its reset: link back on v1.3.0) and starts its service.
``kubernetes``
    The fake API server (``tests.k8s_server``) with its controllers running.
    A fresh server per test: it starts in milliseconds, and resetting a shared
    one would leave its watch log ahead of its objects.
``ecs``
    moto's server (``tests.aws.moto_server``), one per test run, reset and
    built again for each test; ECS's scheduler is played by ``AutoScheduler``
    and the console reaches moto through ``AwsFaultProxy``, which starts the new
    deployment the moment moto answered UpdateService, as ECS does inside the
    call.
``cloudrun``
    The fake Cloud Run API (``tests.cloudrun_server``), one per test module;
    each test gives it a new store holding the runbook's service.
``alb``
    moto's server again (``tests.aws.elb``), reset and built for each test: a
    load balancer whose listener forwards to one of three target groups, each
    tagged with the version its targets run (v1.2.8, v1.2.9, v1.3.0, listed
    in that order), reached through ``AwsFaultProxy``.

A lost answer (``Platform.lose_answer``) is made on real sockets: the fault
proxy (``tests.faultproxy``, staged as in ``tests/e2e/test_faults_kubernetes.py``)
for Kubernetes and Cloud Run, whose writes are PATCHes it can tell from reads;
for ECS and the load balancer, whose every call is a POST to ``/``, the proxy
that knows AWS operations (``tests.aws.faults``), armed as in
``tests/e2e/test_faults_ecs.py``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.config import ServiceConfig, load_config
from console.demo import LIVE_RELEASE, DemoSandbox, build_sandbox
from tests.aws.elb import elb_world
from tests.aws.faults import AwsFaultProxy
from tests.aws.moto_server import AutoScheduler, aws_world
from tests.cloudrun_server import CloudRunServer
from tests.cloudrun_server.fixtures import CURRENT, PREVIOUS, runbook_service, service_config
from tests.cloudrun_server.store import CloudRunStore
from tests.e2e.test_faults_cloudrun import SERVICE_PATH
from tests.e2e.test_faults_kubernetes import DEPLOYMENT_PATH, StagedProxy
from tests.k8s_server import running
from tests.k8s_server.fixtures import DEPLOYMENT, NAMESPACE, deploy, service, start_server
from tests.providers.test_ecs import config as ecs_config
from tests.signals import free_port

#: Every platform of the contract, in the order the parametrised tests list them.
PLATFORMS = ("host", "kubernetes", "ecs", "cloudrun", "alb")
#: The releases every platform knows, oldest first; the last one is live.
VERSIONS = ("v1.2.8", "v1.2.9", "v1.3.0")


@dataclass(frozen=True)
class Platform:
    """One platform in its known state, as the contract suite sees it."""

    name: str
    #: The service on the platform, as the console's config has it.
    service: ServiceConfig
    #: The same service with its platform out of reach (a closed port, a missing folder).
    unreachable: ServiceConfig
    #: What the service runs now, read from the platform itself: the release's label
    #: (v1.3.0), which a Kubernetes rollback keeps while it renumbers the revision.
    live: Callable[[], str]
    #: The live revision's id, as ``--to`` takes it.
    current: str
    #: The id of the revision a plain rollback goes to (the one before the live one).
    previous: str
    #: An id no revision has.
    unknown: str
    #: The service, reached so that the answer to the switch's write is lost after the
    #: platform applied it and every read of the service fails from then on; None where
    #: the platform is not reached over a network.
    lose_answer: Callable[[], AbstractContextManager[ServiceConfig]] | None = None


# --------------------------------------------------------------------------- the fixtures


@pytest.fixture(scope="module")
def contract_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSandbox]:
    """One sandbox folder and port for a test module (built, not started)."""
    box = build_sandbox(tmp_path_factory.mktemp("contract") / "sandbox")
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture(scope="module")
def cloudrun_server() -> Iterator[CloudRunServer]:
    """One fake Cloud Run API for a test module."""
    with CloudRunServer() as server:
        yield server


@pytest.fixture(name="platform", params=PLATFORMS)
def platform_fixture(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    """The platform named by the parameter, in its known state for this test."""
    name = request.param
    made: AbstractContextManager[Platform]
    if name == "host":
        made = host_platform(request.getfixturevalue("contract_sandbox"), tmp_path)
    elif name == "kubernetes":
        made = kubernetes_platform(tmp_path)
    elif name == "ecs":
        made = ecs_platform(monkeypatch, tmp_path)
    elif name == "cloudrun":
        made = cloudrun_platform(request.getfixturevalue("cloudrun_server"))
    elif name == "alb":
        made = alb_platform(monkeypatch, tmp_path)
    else:
        raise ValueError(f"no such platform: {name!r}")
    with made as handle:
        yield handle


# --------------------------------------------------------------------------- the platforms


@contextmanager
def host_platform(box: DemoSandbox, tmp_path: Path) -> Iterator[Platform]:
    """The demo sandbox, rebuilt (v1.3.0 live) and started; stopped afterwards."""
    box = build_sandbox(box.root, box.port)
    box.start()
    try:
        svc = load_config(box.config_path).services[0]
        assert svc.host is not None
        missing = tmp_path / "no-such-host"
        unreachable = dataclasses.replace(
            svc,
            host=dataclasses.replace(
                svc.host,
                releases_dir=missing / "releases",
                current_link=missing / "current",
                pid_file=missing / "run" / "app.pid",
            ),
        )
        link = box.root / "current"

        def live() -> str:
            return (Path(os.path.realpath(link)) / "VERSION").read_text("utf-8").strip()

        yield Platform(
            name="host",
            service=svc,
            unreachable=unreachable,
            live=live,
            current=LIVE_RELEASE,
            previous="v1.2.9",
            unknown="v9.9.9",
        )
    finally:
        box.stop()


@contextmanager
def kubernetes_platform(tmp_path: Path) -> Iterator[Platform]:
    """A fresh fake API server, the Deployment rolled out three times, controllers running."""
    kube = start_server()
    try:
        deploy(kube, VERSIONS)
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
        port = int(kube.url.rsplit(":", 1)[1])

        def pointed_at(url: str, name: str) -> Path:
            path = tmp_path / name
            path.write_text(kubeconfig.read_text().replace(kube.url, url))
            return path

        def live() -> str:
            deployment = kube.cluster.get("deployments", NAMESPACE, DEPLOYMENT)
            image = str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])
            return image.rsplit(":", 1)[1]

        @contextmanager
        def lose_answer() -> Iterator[ServiceConfig]:
            with StagedProxy(("127.0.0.1", port)) as proxy:
                # The PATCH reaches the server; its answer is cut off (a reset, no byte);
                # from then on every read of the Deployment answers 503.
                proxy.drop_after(0, method="PATCH", count=1)
                proxy.after(
                    "PATCH", 1, lambda: proxy.respond(503, method="GET", path=DEPLOYMENT_PATH)
                )
                yield service(pointed_at(proxy.url(), "kubeconfig-proxied"))

        closed = pointed_at(f"http://127.0.0.1:{free_port()}", "kubeconfig-closed")
        with running(kube):
            yield Platform(
                name="kubernetes",
                service=service(kubeconfig),
                unreachable=service(closed),
                live=live,
                current="3",
                previous="2",
                unknown="99",
                lose_answer=lose_answer,
            )
    finally:
        kube.stop()


@contextmanager
def ecs_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Platform]:
    """moto reset and built again (web:3 live), its scheduler played, reached through a proxy."""
    world_body = aws_world(monkeypatch, tmp_path, rds=False)
    world = next(world_body)
    try:
        with (
            AwsFaultProxy(world.url) as api,
            AutoScheduler(world.scheduler) as scheduler,
        ):

            def schedule() -> None:
                # ECS starts the new deployment inside UpdateService, before it answers.
                api.after("UpdateService", scheduler.begin, count=None)

            def live() -> str:
                found = world.ecs.describe_task_definition(taskDefinition=world.live_key())
                containers = found["taskDefinition"]["containerDefinitions"]
                app = next(c for c in containers if c["name"] == "app")
                return str(app["image"]).rsplit(":", 1)[1]

            svc = ecs_config(world, url=api.url, rds_instance="")

            @contextmanager
            def lose_answer() -> Iterator[ServiceConfig]:
                # Every attempt of UpdateService reaches moto and loses its answer; from
                # the first one on, DescribeServices answers 503.
                api.lose_answer("UpdateService")
                unreadable = api.fail("DescribeServices", "ServiceUnavailable", status=503, count=0)
                api.after("UpdateService", lambda: setattr(unreadable, "count", None))
                try:
                    yield svc
                finally:
                    api.clear()
                    schedule()

            schedule()
            yield Platform(
                name="ecs",
                service=svc,
                unreachable=ecs_config(
                    world, url=f"http://127.0.0.1:{free_port()}", rds_instance=""
                ),
                live=live,
                current="web:3",
                previous="web:2",
                unknown="web:99",
                lose_answer=lose_answer,
            )
    finally:
        world_body.close()


@contextmanager
def cloudrun_platform(server: CloudRunServer) -> Iterator[Platform]:
    """The shared fake with a new store holding the runbook's service (v1.3.0 serves it all)."""
    server.store = CloudRunStore()
    server.requests.clear()
    scenario = runbook_service(server)

    def live() -> str:
        serving = max(scenario.served(), key=lambda status: status[1])[0]
        revision = server.store.revisions[f"{scenario.service_name}/revisions/{serving}"]
        return str(revision["containers"][0]["image"]).rsplit(":", 1)[1]

    @contextmanager
    def lose_answer() -> Iterator[ServiceConfig]:
        with StagedProxy(("127.0.0.1", server.port)) as proxy:
            # The update's PATCH is applied and its answer cut off; from then on every
            # read of the service answers 503.
            proxy.drop_after(0, method="PATCH", count=1)
            proxy.after("PATCH", 1, lambda: proxy.respond(503, method="GET", path=SERVICE_PATH))
            yield service_config(proxy.url())

    yield Platform(
        name="cloudrun",
        service=service_config(server.url),
        unreachable=service_config(f"http://127.0.0.1:{free_port()}"),
        live=live,
        current=CURRENT,
        previous=PREVIOUS,
        unknown="k-back-00099-zzz",
        lose_answer=lose_answer,
    )


@contextmanager
def alb_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Platform]:
    """moto reset, three target groups (v1.3.0's live), reached through a proxy."""
    groups = tuple((f"v{v.replace('.', '').removeprefix('v')}", v) for v in VERSIONS)
    world_body = elb_world(monkeypatch, tmp_path, groups=groups, live=groups[-1][0])
    elb = next(world_body)
    try:
        with AwsFaultProxy(elb.url) as api:

            def live() -> str:
                return elb.versions[elb.serving()]

            @contextmanager
            def lose_answer() -> Iterator[ServiceConfig]:
                # ModifyListener reaches moto and loses its answer; from then on the
                # listener cannot be read (503).
                api.lose_answer("ModifyListener")
                unreadable = api.fail(
                    "DescribeListeners", "ServiceUnavailable", status=503, count=0
                )
                api.after("ModifyListener", lambda: setattr(unreadable, "count", None))
                try:
                    yield elb.service(api.url)
                finally:
                    api.clear()

            yield Platform(
                name="alb",
                service=elb.service(api.url),
                unreachable=elb.service(f"http://127.0.0.1:{free_port()}"),
                live=live,
                current=groups[-1][0],
                previous=groups[-2][0],
                unknown="v999",
                lose_answer=lose_answer,
            )
    finally:
        world_body.close()
