"""``[services.ecs]``: the ECS service a service is (runbook 003)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from console.config.aws_region import default_region
from console.config.bounds import MIN_LOCK_TTL_S
from console.config.reader import Reader
from console.config.urls import is_url, url_error


@dataclass(frozen=True)
class EcsConfig:
    """An ECS service (runbook 003).  Credentials: the normal AWS chain."""

    cluster: str
    service: str
    region: str
    profile: str = ""
    endpoint_url: str = ""
    #: Container whose image is "the version" and that image rollbacks change.
    container: str = ""
    #: RDS instance whose snapshots the database panel lists (runbook 003).
    rds_instance: str = ""
    lock_ttl_s: float = 900.0
    #: Where ``region`` came from when the section has none (``aws_region.default_region``):
    #: "" = the section's ``region``; else e.g. "$AWS_REGION", named by messages about it.
    region_from: str = ""


def read_ecs(r: Reader) -> EcsConfig:
    r.expect(
        "cluster",
        "service",
        "region",
        "profile",
        "endpoint_url",
        "container",
        "rds_instance",
        "lock_ttl_s",
    )
    endpoint = r.get("endpoint_url", str, "")
    if endpoint and not is_url(endpoint):
        raise url_error(r, "endpoint_url", endpoint)
    profile = r.get("profile", str, "")
    region = r.get("region", str, "")
    region_from = ""
    if not region:
        # The standard chain, as the AWS CLI and the SDKs read it.
        region, region_from = default_region(profile, r.loader.env)
        if not region:
            raise r.error("region", f"is required: {region_from}")
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d+", region):
        source = f" (from {region_from}, as [services.ecs] has none)" if region_from else ""
        raise r.error("region", f"is not an AWS region name, got {region!r}{source}")
    cfg = EcsConfig(
        cluster=r.require("cluster", str),
        service=r.require("service", str),
        region=region,
        region_from=region_from,
        profile=profile,
        endpoint_url=endpoint,
        container=r.get("container", str, ""),
        rds_instance=r.get("rds_instance", str, ""),
        lock_ttl_s=r.duration("lock_ttl_s", 900.0, low=MIN_LOCK_TTL_S),
    )
    r.done()
    return cfg
