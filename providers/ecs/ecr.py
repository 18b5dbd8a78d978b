"""The ECR tags of the service's image: the choices of an image rollback, and a check of one.

Tags change rarely: the dashboard's reads are cached for ``SLOW_CACHE_S``.
"""

from __future__ import annotations

import threading
import time

from console.errors import NotFound, ProviderError
from providers.ecs.client import EcsApi, as_utc
from providers.ecs.errors import aws_errors, call
from providers.ecs.refs import EcrImageTag, ImageRef

#: ECR tags and RDS snapshots change rarely: read them at most this often.
SLOW_CACHE_S = 60.0


class EcrTags:
    """Tags of an image's ECR repository, newest push first ([] when the image is not in ECR)."""

    def __init__(self, api: EcsApi) -> None:
        self.api = api
        self._mutex = threading.Lock()
        self._cache: tuple[float, str, list[EcrImageTag], str] | None = None

    def tags(self, ref: ImageRef) -> tuple[list[EcrImageTag], str]:
        """(tags newest first, repository name) of ``ref``'s repository."""
        location = ref.ecr()
        if location is None:
            return [], ""
        registry, region, repo = location
        ecr = self.api.client("ecr", region)
        tags: list[EcrImageTag] = []
        with aws_errors("ecr:DescribeImages", f"listing tags of ECR repository {repo}"):
            pages = ecr.get_paginator("describe_images")
            for page in pages.paginate(
                repositoryName=repo, registryId=registry, filter={"tagStatus": "TAGGED"}
            ):
                for detail in page.get("imageDetails", []):
                    for tag in detail.get("imageTags", []) or []:
                        tags.append(
                            EcrImageTag(
                                str(tag),
                                as_utc(detail.get("imagePushedAt")),
                                str(detail.get("imageDigest", "")),
                            )
                        )
        tags.sort(key=lambda t: (t.pushed.timestamp() if t.pushed else 0.0, t.tag), reverse=True)
        return tags, repo

    def cached(self, image: str) -> tuple[list[EcrImageTag], str, str]:
        """(tags, repository, error) for ``image``, read at most every ``SLOW_CACHE_S``."""
        ref = ImageRef.parse(image)
        now = time.monotonic()
        with self._mutex:
            cached = self._cache
        if cached and cached[1] == ref.repository and now - cached[0] < SLOW_CACHE_S:
            tags, error = cached[2], cached[3]
        else:
            try:
                tags, _ = self.tags(ref)
                error = ""
            except ProviderError as err:
                tags, error = [], str(err)
            with self._mutex:
                self._cache = (now, ref.repository, tags, error)
        location = ref.ecr()
        return tags, (location[2] if location else ""), error

    def check(self, ref: ImageRef, tag: str) -> None:
        """``NotFound`` naming the recent tags when ``tag`` is not in ``ref``'s ECR repository."""
        location = ref.ecr()
        if location is None:
            return
        registry, region, repo = location
        image_id = {"imageDigest": tag} if tag.startswith("sha256:") else {"imageTag": tag}
        try:
            call(
                "ecr:DescribeImages",
                f"checking tag {tag} in ECR repository {repo}",
                self.api.client("ecr", region).describe_images,
                missing={
                    "ImageNotFoundException": NotFound("image"),
                    "RepositoryNotFoundException": NotFound(
                        f"ECR repository {repo!r} (of the live image) not found in {region}"
                    ),
                },
                repositoryName=repo,
                registryId=registry,
                imageIds=[image_id],
            )
        except NotFound as err:
            if str(err) != "image":
                raise
            tags, _ = self.tags(ref)
            recent = ", ".join(t.tag for t in tags[:10]) or "none"
            raise NotFound(
                f"image tag {tag!r} not found in ECR repository {repo}; recent tags: {recent}"
            ) from None
