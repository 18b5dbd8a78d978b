"""ECS "What changes": ``EcsProvider.differences`` on task definitions registered in moto.

The world (``tests.aws.moto_server.World``) plus two more revisions of the
family: ``web:4`` (the good release the rollback goes back to) and ``web:5``
(the bad one, made live), differing in every field the diff reads.  The
secrets they name are real Secrets Manager secrets and SSM parameters in moto,
holding values that must never reach a ``Difference``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.model import Difference, Revision
from providers.base import NotFound, SupportsDiff
from providers.ecs import EcsProvider
from providers.ecs.diff import secret_source
from tests.aws.moto_server import ACCOUNT, CLUSTER, FAMILY, REGION, SERVICE, World, aws_world
from tests.providers.test_ecs import provider

DB_PASSWORD = "hunter2-db-password-value"
API_KEY = "ssm-api-key-value-0042"
PLAIN_TOKEN_LIVE = "plain-token-live-77777"
PLAIN_TOKEN_TARGET = "plain-token-target-88888"
URL_PASSWORD = "url-pw-in-a-plain-value"
SECRET_VALUES = (DB_PASSWORD, API_KEY, PLAIN_TOKEN_LIVE, PLAIN_TOKEN_TARGET, URL_PASSWORD)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    yield from aws_world(monkeypatch, tmp_path, rds=False)


def register(world: World, containers: list[dict[str, Any]], **task: Any) -> str:
    found = world.ecs.register_task_definition(
        family=FAMILY, containerDefinitions=containers, **task
    )
    return str(found["taskDefinition"]["taskDefinitionArn"]).rsplit("/", 1)[-1]


def secrets_in_moto(world: World) -> tuple[str, str]:
    """A Secrets Manager secret and an SSM SecureString holding real values; their ARNs."""
    secret_arn = str(
        world.client("secretsmanager").create_secret(
            Name="prod/db", SecretString=f'{{"password": "{DB_PASSWORD}"}}'
        )["ARN"]
    )
    world.client("ssm").put_parameter(Name="/prod/api-key", Value=API_KEY, Type="SecureString")
    return secret_arn, f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/prod/api-key"


def two_releases(world: World) -> tuple[str, str, str]:
    """``web:4`` (good) and ``web:5`` (bad, made live); the Secrets Manager ARN."""
    secret_arn, ssm_arn = secrets_in_moto(world)
    good = register(
        world,
        [
            {
                "name": "app",
                "image": world.image("v1.2.9"),
                "cpu": 256,
                "memory": 512,
                "essential": True,
                "command": ["gunicorn", "app:app", "--workers", "2"],
                "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
                "environment": [
                    {"name": "LOG_LEVEL", "value": "info"},
                    {"name": "RELEASE", "value": "v1.2.9"},
                    {"name": "API_TOKEN", "value": PLAIN_TOKEN_TARGET},
                    {"name": "CACHE_URL", "value": f"redis://cache:{URL_PASSWORD}@cache:6379/0"},
                ],
                "secrets": [
                    {"name": "DB_PASSWORD", "valueFrom": f"{secret_arn}:password::"},
                    {"name": "API_KEY", "valueFrom": ssm_arn},
                ],
            },
            {"name": "log-router", "image": "fluent-bit:2.32.0", "memory": 64, "essential": False},
        ],
        cpu="512",
        memory="1024",
    )
    bad = register(
        world,
        [
            {
                "name": "app",
                "image": world.image("v1.3.0"),
                "cpu": 512,
                "memory": 1024,
                "essential": True,
                "entryPoint": ["/docker-entrypoint.sh"],
                "command": ["gunicorn", "app:app", "--workers", "4"],
                "portMappings": [
                    {"containerPort": 8080, "hostPort": 0, "protocol": "tcp"},
                    {"containerPort": 9090, "hostPort": 9090, "protocol": "tcp"},
                ],
                "environment": [
                    {"name": "LOG_LEVEL", "value": "debug"},
                    {"name": "RELEASE", "value": "v1.2.9"},
                    {"name": "NEW_CHECKOUT", "value": "on"},
                    {"name": "API_TOKEN", "value": PLAIN_TOKEN_LIVE},
                    {"name": "CACHE_URL", "value": f"redis://cache:{URL_PASSWORD}@cache:6380/0"},
                ],
                "secrets": [
                    {"name": "DB_PASSWORD", "valueFrom": f"{secret_arn}:password:AWSPREVIOUS:"},
                    {"name": "API_KEY", "valueFrom": ssm_arn},
                    {"name": "STRIPE_KEY", "valueFrom": "prod/stripe-key"},
                ],
            },
            {"name": "tracer", "image": "otel/collector:0.98.0", "memory": 128, "essential": False},
        ],
        cpu="1024",
        memory="2048",
    )
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=bad)
    return good, bad, secret_arn


def triples(found: tuple[Difference, ...]) -> list[tuple[str, str, str]]:
    return [(d.what, d.live, d.target) for d in found]


def assert_nothing_secret(found: tuple[Difference, ...]) -> None:
    text = repr(found) + "\n".join(d.line() for d in found)
    for value in SECRET_VALUES:
        assert value not in text
    for d in found:
        assert "{" not in d.line() and '"' not in d.line() and "\n" not in d.line()


def test_differences_between_the_live_task_definition_and_the_target(aws: World) -> None:
    good, bad, secret_arn = two_releases(aws)
    p = provider(aws)
    assert isinstance(p, SupportsDiff)
    snap = p.snapshot()
    assert snap.current is not None and snap.current.id == bad
    target = next(r for r in snap.revisions if r.id == good)

    found = p.differences(snap.current, target)

    secret_name = secret_arn.split(":")[6]
    assert triples(found) == [
        ("cpu", "1024", "512"),
        ("memory", "2048 MiB", "1024 MiB"),
        ("image app", "web:v1.3.0", "web:v1.2.9"),
        ("entrypoint app", "/docker-entrypoint.sh", ""),
        ("command app", "gunicorn app:app --workers 4", "gunicorn app:app --workers 2"),
        ("env app API_TOKEN", "***", "***"),
        ("env app CACHE_URL", "redis://cache:***@cache:6380/0", "redis://cache:***@cache:6379/0"),
        (
            "secret app DB_PASSWORD",
            f"Secrets Manager {secret_name} key password stage AWSPREVIOUS",
            f"Secrets Manager {secret_name} key password",
        ),
        ("env app LOG_LEVEL", "debug", "info"),
        ("env app NEW_CHECKOUT", "on", ""),
        ("secret app STRIPE_KEY", "SSM parameter prod/stripe-key", ""),
        ("cpu app", "512", "256"),
        ("memory app", "1024 MiB", "512 MiB"),
        ("ports app", "8080/tcp, 9090/tcp", "8080/tcp"),
        ("container log-router", "", "fluent-bit:2.32.0"),
        ("container tracer", "otel/collector:0.98.0", ""),
    ]
    notes = {d.what: d.note for d in found}
    assert "name says it is a credential" in notes["env app API_TOKEN"]
    assert notes["container log-router"] == "added by the rollback"
    assert notes["container tracer"] == "removed by the rollback"
    # An unchanged secret reference and an unchanged plain value are not listed.
    assert "secret app API_KEY" not in notes and "env app RELEASE" not in notes
    assert_nothing_secret(found)
    assert found[2].line() == "image app: web:v1.3.0 → web:v1.2.9"


def test_identical_revisions_give_nothing(aws: World) -> None:
    p = provider(aws)
    same = Revision(id=f"{FAMILY}:3", version="v1.3.0")
    assert p.differences(same, same) == ()
    # Two registrations of the same content are two revisions with nothing between them.
    copy = aws.ecs.describe_task_definition(taskDefinition=f"{FAMILY}:3")["taskDefinition"]
    again = register(
        aws, copy["containerDefinitions"], executionRoleArn=copy.get("executionRoleArn")
    )
    assert again == f"{FAMILY}:4"
    assert p.differences(same, Revision(id=again, version="v1.3.0")) == ()


def test_only_the_image_differs_between_the_worlds_releases(aws: World) -> None:
    p = provider(aws)
    found = p.differences(
        Revision(id=f"{FAMILY}:3", version="v1.3.0"), Revision(id=f"{FAMILY}:2", version="v1.2.9")
    )
    assert triples(found) == [
        ("image app", "web:v1.3.0", "web:v1.2.9"),
        ("env app RELEASE", "v1.3.0", "v1.2.9"),
    ]


def test_an_unknown_target_is_not_found_in_one_line(aws: World) -> None:
    p: EcsProvider = provider(aws)
    with pytest.raises(NotFound) as err:
        p.differences(
            Revision(id=f"{FAMILY}:3", version=""), Revision(id=f"{FAMILY}:99", version="")
        )
    assert "web:99" in str(err.value) and "\n" not in str(err.value)


def test_secret_sources_name_the_reference_never_the_account() -> None:
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-AbCdEf"
    assert secret_source(arn) == "Secrets Manager prod/db-AbCdEf"
    assert secret_source(f"{arn}:password:AWSCURRENT:") == (
        "Secrets Manager prod/db-AbCdEf key password stage AWSCURRENT"
    )
    assert secret_source(f"{arn}::AWSCURRENT:") == "Secrets Manager prod/db-AbCdEf stage AWSCURRENT"
    ssm = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/prod/api-key"
    assert secret_source(ssm) == "SSM parameter prod/api-key"
    assert secret_source("api-key") == "SSM parameter api-key"
    for text in (secret_source(arn), secret_source(ssm)):
        assert ACCOUNT not in text and REGION not in text
