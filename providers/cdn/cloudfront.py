"""CloudFront invalidations: create one, never twice, and wait until it is ``Completed``.

An invalidation is identified by the caller reference the plan chose (kept
in the step's params, so a resumed plan has the same one).  CloudFront has
no way to look one up by that reference, so ``find`` lists the
distribution's invalidations created since the plan was made (with a
margin for clocks) and reads each one's batch.  The create is sent **once**
at a time: when its answer is lost, the invalidation is looked for before
anything is sent again, and a plan resumed after a crash looks first too.
(CloudFront itself also answers a second request with the same reference
and paths with the first invalidation; the look-up does not rely on it.)

Waiting polls ``GetInvalidation`` with growing pauses (0.5 s up to 10 s)
until ``Completed`` or the section's ``timeout_s``; a wait that runs out
says so and leaves the invalidation running (it completes on its own).
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from console.aws import AwsClients
from console.config import CdnConfig, ServiceConfig
from console.model import Step, StepKind
from providers.aws_errors import call, translate
from providers.base import NotFound, OutcomeUnknown, ProviderError, TimedOut, Unavailable

INVALIDATE = "cdn.invalidate"
#: Invalidations created this long before the plan are still looked at (clock skew).
CLOCK_MARGIN = timedelta(minutes=15)
#: Pages of ListInvalidations (100 each) looked through at most.
MAX_PAGES = 10
FIRST_POLL_S = 0.5
MAX_POLL_S = 10.0


@dataclass(frozen=True)
class Invalidation:
    """One invalidation as CloudFront reported it."""

    id: str
    status: str
    created: datetime | None = None

    @property
    def completed(self) -> bool:
        return self.status == "Completed"


def _utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return None


class CloudFrontInvalidations:
    """The CDN part's backend for one service's ``[services.cdn]`` (no I/O in ``__init__``)."""

    ops = frozenset({INVALIDATE})

    def __init__(self, service: ServiceConfig) -> None:
        if service.cdn is None:
            raise ProviderError(f"{service.label} has no [services.cdn] table")
        self.service = service
        self.cfg: CdnConfig = service.cdn
        self.aws = AwsClients(self.cfg.region, self.cfg.profile, self.cfg.endpoint_url)
        #: Longest pause between two polls of an invalidation.
        self.max_poll_s = MAX_POLL_S

    # ------------------------------------------------------------------ planning

    def step(self, caller_reference: str, planned_at: datetime, after: str) -> Step:
        """The step invalidating ``paths`` once ``after`` ("web (production) serves v1.2.9")."""
        cfg = self.cfg
        params = {
            "distribution_id": cfg.distribution_id,
            "paths": list(cfg.paths),
            "caller_reference": caller_reference,
            "planned_at": planned_at.astimezone(UTC).isoformat(),
            "timeout_s": cfg.timeout_s,
        }
        paths = ", ".join(cfg.paths[:5]) + (
            f" and {len(cfg.paths) - 5} more" if len(cfg.paths) > 5 else ""
        )
        return Step(
            title=(
                f"Invalidate the CDN once {after}: CloudFront distribution "
                f"{cfg.distribution_id}, {paths}; wait until Completed (at most "
                f"{cfg.timeout_s:g} s)"
            ),
            command=self.command(params),
            kind=StepKind.COMMAND,
            timeout_s=cfg.timeout_s,
            op=INVALIDATE,
            params=params,
        )

    def command(self, params: Mapping[str, Any]) -> str:
        """``aws cloudfront create-invalidation --distribution-id … --invalidation-batch …``:
        with the step's own caller reference, so a copy run by hand is deduplicated too."""
        flags = ["--profile", self.cfg.profile] if self.cfg.profile else []
        if self.cfg.endpoint_url:
            flags += ["--endpoint-url", self.cfg.endpoint_url]
        return shlex.join(
            [
                "aws",
                "cloudfront",
                "create-invalidation",
                "--distribution-id",
                str(params["distribution_id"]),
                "--invalidation-batch",
                json.dumps(_batch(params), separators=(",", ":")),
                *flags,
            ]
        )

    def get_command(self, params: Mapping[str, Any], invalidation_id: str) -> str:
        flags = ["--profile", self.cfg.profile] if self.cfg.profile else []
        if self.cfg.endpoint_url:
            flags += ["--endpoint-url", self.cfg.endpoint_url]
        return shlex.join(
            [
                "aws",
                "cloudfront",
                "get-invalidation",
                "--distribution-id",
                str(params["distribution_id"]),
                "--id",
                invalidation_id,
                *flags,
            ]
        )

    # ------------------------------------------------------------------ the API

    def _client(self, *, once: bool = False, poll: bool = False) -> Any:
        from botocore.exceptions import BotoCoreError

        try:
            if once or poll:
                return self.aws.client(
                    "cloudfront", read_timeout_s=10.0 if poll else None, max_attempts=1
                )
            return self.aws.client("cloudfront")
        except BotoCoreError as exc:
            raise translate(exc, "cloudfront:client", "creating the AWS client") from None

    def _missing(self, params: Mapping[str, Any]) -> dict[str, ProviderError]:
        distribution = params["distribution_id"]
        return {
            "NoSuchDistribution": NotFound(
                f"CloudFront distribution {distribution} not found (distribution_id in "
                "[services.cdn])"
            )
        }

    def find(self, params: Mapping[str, Any]) -> Invalidation | None:
        """The invalidation with the step's caller reference, if CloudFront has it."""
        client = self._client()
        distribution = str(params["distribution_id"])
        reference = str(params["caller_reference"])
        since = _since(params)
        marker = ""
        for _ in range(MAX_PAGES):
            kwargs: dict[str, Any] = {"DistributionId": distribution, "MaxItems": "100"}
            if marker:
                kwargs["Marker"] = marker
            page = call(
                "cloudfront:ListInvalidations",
                f"looking for invalidation {reference}",
                client.list_invalidations,
                missing=self._missing(params),
                **kwargs,
            )["InvalidationList"]
            for item in page.get("Items") or []:
                created = _utc(item.get("CreateTime"))
                if since is not None and created is not None and created < since:
                    continue
                found = call(
                    "cloudfront:GetInvalidation",
                    f"looking for invalidation {reference}",
                    client.get_invalidation,
                    missing=self._missing(params),
                    DistributionId=distribution,
                    Id=str(item["Id"]),
                )["Invalidation"]
                batch = found.get("InvalidationBatch") or {}
                if batch.get("CallerReference") == reference:
                    return Invalidation(str(found["Id"]), str(found.get("Status", "")), created)
            marker = str(page.get("NextMarker") or "")
            if not page.get("IsTruncated") or not marker:
                return None
        return None

    def create(self, params: Mapping[str, Any]) -> Generator[str, None, Invalidation]:
        """The step's invalidation: found (a resumed plan), else created once (module doc)."""
        from botocore import exceptions as bex

        existing = self.find(params)
        if existing is not None:
            yield (
                f"invalidation {existing.id} with this plan's caller reference exists already "
                f"({existing.status}): not creating another"
            )
            return existing
        doing = f"invalidating {', '.join(params['paths'])} of {params['distribution_id']}"
        client = self._client(once=True)
        attempts = self.aws.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                answer = client.create_invalidation(
                    DistributionId=str(params["distribution_id"]), InvalidationBatch=_batch(params)
                )["Invalidation"]
                return Invalidation(
                    str(answer["Id"]), str(answer.get("Status", "")), _utc(answer.get("CreateTime"))
                )
            except bex.ClientError as exc:
                missing = self._missing(params)
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code in missing:
                    raise missing[code] from None
                err = translate(exc, "cloudfront:CreateInvalidation", doing, attempt)
            except bex.BotoCoreError as exc:
                err = translate(exc, "cloudfront:CreateInvalidation", doing, attempt)
            if not isinstance(err, Unavailable | TimedOut):
                raise err  # CloudFront refused it: nothing was created
            try:
                found = self.find(params)
            except ProviderError as again:
                raise OutcomeUnknown(
                    f"{err}; whether the invalidation was created is not known: the "
                    f"invalidations of {params['distribution_id']} could not be read ({again})"
                ) from None
            if found is not None:
                yield (
                    f"no answer to cloudfront:CreateInvalidation ({err}), but invalidation "
                    f"{found.id} with this plan's caller reference is there: it is used, not "
                    "created again"
                )
                return found
            if attempt == attempts:
                raise type(err)(f"{err}; no invalidation was created") from None
            yield f"{err}; no invalidation was created: sending it again (attempt {attempt + 1})"
            time.sleep(min(2.0, 0.2 * 2**attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def wait(
        self, params: Mapping[str, Any], invalidation: Invalidation
    ) -> Generator[str, None, Invalidation]:
        """Poll until ``Completed`` or ``timeout_s``; returns what was last seen."""
        deadline = time.monotonic() + float(params.get("timeout_s", self.cfg.timeout_s))
        pause = FIRST_POLL_S
        seen = invalidation
        last_line = ""
        while not seen.completed:
            left = deadline - time.monotonic()
            if left <= 0:
                return seen
            time.sleep(min(pause, left))
            pause = min(self.max_poll_s, pause * 1.5)
            try:
                found = call(
                    "cloudfront:GetInvalidation",
                    f"waiting for invalidation {seen.id}",
                    self._client(poll=True).get_invalidation,
                    missing=self._missing(params),
                    DistributionId=str(params["distribution_id"]),
                    Id=seen.id,
                )["Invalidation"]
            except NotFound:
                raise
            except ProviderError as err:
                line = f"could not read invalidation {seen.id} ({err}); looking again"
            else:
                seen = Invalidation(seen.id, str(found.get("Status", "")), seen.created)
                line = f"invalidation {seen.id}: {seen.status}"
            if line != last_line:
                yield line
                last_line = line
        return seen


def _batch(params: Mapping[str, Any]) -> dict[str, Any]:
    paths = [str(p) for p in params["paths"]]
    return {
        "Paths": {"Quantity": len(paths), "Items": paths},
        "CallerReference": str(params["caller_reference"]),
    }


def _since(params: Mapping[str, Any]) -> datetime | None:
    try:
        planned = datetime.fromisoformat(str(params.get("planned_at", "")))
    except ValueError:
        return None
    if planned.tzinfo is None:
        planned = planned.replace(tzinfo=UTC)
    return planned - CLOCK_MARGIN
