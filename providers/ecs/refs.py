"""Names ECS and ECR use, read the same way everywhere: task-definition keys and image refs.

ECS accepts and reports task definitions both as ``family:rev`` and as ARNs
(and some emulators store whatever ``update-service`` was given): everything
in this provider compares the ``family:rev`` key of either form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_ARN_TD = re.compile(r"^arn:[^:]+:ecs:[^:]*:[^:]*:task-definition/(?P<family>[^:/]+):(?P<rev>\d+)$")
_KEY_TD = re.compile(r"^(?P<family>[A-Za-z0-9_-]{1,255}):(?P<rev>\d+)$")
_ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$"
)
#: What an image rollback accepts as a tag: a tag, or a digest.
IMAGE_TAG = re.compile(r"[\w][\w.\-]{0,127}|sha256:[0-9a-f]{64}")


def td_key(ref: str) -> str:
    """``family:rev`` of a task-definition ARN or ``family:rev`` string ("" if neither)."""
    ref = ref.strip()
    match = _ARN_TD.match(ref) or _KEY_TD.match(ref)
    return f"{match['family']}:{int(match['rev'])}" if match else ""


def split_key(key: str) -> tuple[str, int]:
    family, _, rev = key.rpartition(":")
    return family, int(rev)


@dataclass(frozen=True)
class ImageRef:
    """A container image reference split into repository, tag and digest."""

    repository: str
    tag: str = ""
    digest: str = ""

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        name, _, digest = image.partition("@")
        slash = name.rfind("/")
        colon = name.rfind(":")
        tag = ""
        if colon > slash:
            name, tag = name[:colon], name[colon + 1 :]
        return cls(name, tag, digest)

    @property
    def label(self) -> str:
        """What the console calls this image's version: its tag, else a short digest."""
        if self.tag:
            return self.tag
        if self.digest:
            return self.digest.split(":", 1)[-1][:12]
        return "latest"

    def with_tag(self, tag: str) -> str:
        if tag.startswith("sha256:"):
            return f"{self.repository}@{tag}"
        return f"{self.repository}:{tag}"

    def ecr(self) -> tuple[str, str, str] | None:
        """(registry id, region, repository name) when the image lives in ECR."""
        host, _, path = self.repository.partition("/")
        match = _ECR_HOST.match(host)
        if not match or not path:
            return None
        return match["account"], match["region"], path


@dataclass(frozen=True)
class EcrImageTag:
    """One tag of the service image's ECR repository."""

    tag: str
    pushed: datetime | None
    digest: str = ""
