"""``[services.cloudrun]``: the Cloud Run service a service is (runbook 004)."""

from __future__ import annotations

from dataclasses import dataclass

from console.config.reader import Reader, shown
from console.config.urls import is_url, url_error


@dataclass(frozen=True)
class CloudRunConfig:
    """A Cloud Run service (runbook 004).  Credentials: Application Default Credentials."""

    project: str
    region: str
    service: str
    #: API endpoint override, e.g. "http://127.0.0.1:PORT" for tests.
    endpoint: str = ""
    #: Traffic percentages of a gradual rollback, ending at 100.
    gradual_steps: tuple[int, ...] = (10, 50, 100)
    #: How long health and error rate must hold between gradual steps.
    gate_s: float = 60.0
    #: Time limit for one long-running operation.
    operation_timeout_s: float = 300.0
    #: Secret Manager API endpoint override (the point-in-time switch of a DSN that
    #: comes from a secret), e.g. "http://127.0.0.1:PORT" for tests.
    secret_manager_endpoint: str = ""


def read_cloudrun(r: Reader) -> CloudRunConfig:
    r.expect(
        "project",
        "region",
        "service",
        "endpoint",
        "gradual_steps",
        "gate_s",
        "operation_timeout_s",
        "secret_manager_endpoint",
    )
    endpoint = r.get("endpoint", str, "")
    if endpoint and not is_url(endpoint):
        raise url_error(r, "endpoint", endpoint)
    secrets_endpoint = r.get("secret_manager_endpoint", str, "")
    if secrets_endpoint and not is_url(secrets_endpoint):
        raise url_error(r, "secret_manager_endpoint", secrets_endpoint)
    steps = r.get("gradual_steps", list, [10, 50, 100])
    if (
        not steps
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 100 for v in steps)
        or list(steps) != sorted(set(steps))
        or steps[-1] != 100
    ):
        raise r.error(
            "gradual_steps",
            f"must be increasing percentages between 1 and 100 ending at 100, got {shown(steps)}",
        )
    cfg = CloudRunConfig(
        project=r.require("project", str),
        region=r.require("region", str),
        service=r.require("service", str),
        endpoint=endpoint,
        gradual_steps=tuple(steps),
        gate_s=r.duration("gate_s", 60.0),
        operation_timeout_s=r.duration("operation_timeout_s", 300.0),
        secret_manager_endpoint=secrets_endpoint.rstrip("/"),
    )
    r.done()
    return cfg
