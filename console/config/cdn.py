"""``[services.cdn]``: the CloudFront distribution in front of the service (runbook 002).

After the switch the plan invalidates the distribution's cached copies of
``paths`` and waits until CloudFront reports the invalidation ``Completed``,
at most ``timeout_s``; any provider.  CloudFront is a global service: its API
is signed for ``us-east-1`` unless ``region`` says otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from console.config.reader import Reader, shown
from console.config.urls import is_url, url_error

#: CloudFront distribution ids: upper-case letters and digits (``E2QWRUHEXAMPLE``).
DISTRIBUTION_ID = re.compile(r"[A-Z0-9]{6,32}")
#: CloudFront takes at most this many paths in one invalidation batch (``*`` paths: 15).
MAX_PATHS = 3000
MAX_WILDCARD_PATHS = 15


@dataclass(frozen=True)
class CdnConfig:
    """The distribution to invalidate after the switch.  Credentials: the AWS chain."""

    distribution_id: str
    paths: tuple[str, ...] = ("/*",)
    region: str = "us-east-1"
    profile: str = ""
    endpoint_url: str = ""
    #: How long the plan waits for the invalidation to be ``Completed``.
    timeout_s: float = 900.0


def read_cdn(r: Reader) -> CdnConfig:
    r.expect("distribution_id", "paths", "region", "profile", "endpoint_url", "timeout_s")
    distribution = r.require("distribution_id", str)
    if not DISTRIBUTION_ID.fullmatch(distribution):
        raise r.error(
            "distribution_id",
            "must be a CloudFront distribution id (like E2QWRUHEXAMPLE), "
            f"got {shown(distribution)}",
        )
    paths = r.get("paths", list, ["/*"])
    if not paths:
        raise r.error("paths", 'must name at least one path (default ["/*"])')
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/") or len(path) > 4000:
            raise r.error("paths", f"each path must start with '/', got {shown(path)}")
        if any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in path):
            raise r.error(
                "paths", f"a path must not contain spaces or control characters, got {shown(path)}"
            )
    if len(paths) > MAX_PATHS:
        raise r.error("paths", f"CloudFront takes at most {MAX_PATHS} paths, got {len(paths)}")
    wildcards = sum(1 for p in paths if "*" in p)
    if wildcards > MAX_WILDCARD_PATHS:
        raise r.error(
            "paths",
            f"CloudFront takes at most {MAX_WILDCARD_PATHS} paths with '*', got {wildcards}",
        )
    if len(set(paths)) != len(paths):
        raise r.error("paths", "lists a path twice")
    region = r.get("region", str, "us-east-1")
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d+", region):
        raise r.error("region", f"is not an AWS region name, got {region!r}")
    endpoint = r.get("endpoint_url", str, "")
    if endpoint and not is_url(endpoint):
        raise url_error(r, "endpoint_url", endpoint)
    cfg = CdnConfig(
        distribution_id=distribution,
        paths=tuple(paths),
        region=region,
        profile=r.get("profile", str, ""),
        endpoint_url=endpoint,
        timeout_s=r.duration("timeout_s", 900.0),
    )
    r.done()
    return cfg
