"""Where the ECS service is and how to reach it: its config, its AWS clients, its commands.

One ``EcsApi`` is shared by every part of the provider (reading, planning,
the steps, the lock), so a client is made once and a setting changed on the
provider (``poll_interval_s``, ``aws.max_attempts``) is seen everywhere.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from typing import Any

from console.aws import READ_TIMEOUT_S, AwsClients
from console.config import EcsConfig, ServiceConfig
from providers.ecs.errors import aws_errors

#: A poll made while waiting gets at most a tenth of the wait's time limit to be
#: answered (but never less than this, nor more than the usual read timeout), and
#: one attempt: the wait polls again by itself, and a hung or throttled call must
#: not hold the wait past its own limit.
POLL_READ_TIMEOUT_MIN_S = 2.0


class EcsApi:
    """The service's ``[services.ecs]`` section and the clients that reach it (no I/O here)."""

    def __init__(self, service: ServiceConfig, cfg: EcsConfig) -> None:
        self.service = service
        self.cfg = cfg
        self.aws = AwsClients(cfg.region, cfg.profile, cfg.endpoint_url)
        #: Longest pause between two polls while waiting for a rollout.
        self.poll_interval_s = 5.0

    @property
    def label(self) -> str:
        return self.service.label

    @property
    def where(self) -> str:
        cfg = self.cfg
        return f"service {cfg.service} in cluster {cfg.cluster} ({cfg.region})"

    def client(
        self,
        name: str,
        region: str = "",
        *,
        read_timeout_s: float | None = None,
        max_attempts: int | None = None,
    ) -> Any:
        """The boto3 client for ``name``; a client that cannot be made is one ``ProviderError``."""
        with aws_errors(f"{name}:client", "creating the AWS client"):
            return self.aws.client(
                name, region, read_timeout_s=read_timeout_s, max_attempts=max_attempts
            )

    def ecs(self, *, poll: bool = False) -> Any:
        """The ECS client; ``poll``: the one for a wait's polls (short read timeout, one try)."""
        if not poll:
            return self.client("ecs")
        timeout = min(
            READ_TIMEOUT_S, max(POLL_READ_TIMEOUT_MIN_S, self.service.ready_timeout_s / 10)
        )
        return self.client("ecs", read_timeout_s=timeout, max_attempts=1)

    def command(self, service: str, operation: str, *args: str, region: str = "") -> str:
        """A copyable ``aws SERVICE OPERATION ...`` command line reaching this service's AWS."""
        return shlex.join(["aws", service, operation, *args, *self.aws.cli_flags(region)])


def as_utc(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from what botocore returns (datetime or epoch seconds)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    return None


def hhmm(value: datetime | None) -> str:
    """``2025-06-01 10:15 UTC``: how a time reads in a fact or a note."""
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "unknown time"
