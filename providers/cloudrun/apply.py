"""Sending a traffic change to Cloud Run and following it until it is served.

Every change sends the whole service back with the new ``traffic`` and the
``etag`` just read, so an edit made by someone else in between is a 409
(``Conflict``), not overwritten.  The update is a long-running operation: it is
polled until done with progress lines and a time limit (``operation_timeout_s``),
and then the service is read again until what is *served* matches what was
asked; only that is reported as done.  All of it, the update request included,
ends within ``operation_timeout_s``.  A poll of the operation that fails (reset,
5xx, no answer) is asked again until then, and meanwhile the service itself is
looked at: served and settled is done, whether or not the operation could be
followed.  Not seen finishing is ``OutcomeUnknown`` ("it may still complete:
look with gcloud ..."), never a success nor a failure.  A failed change that is
not put back ends with the service read again, saying what the traffic is now
(``aftermath``): unchanged, asked for but not served yet, served all the same,
or changed by someone else.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Generator, Sequence
from typing import Any

from console.textsafe import one_line
from providers.base import (
    Conflict,
    Forbidden,
    InvalidTarget,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    TimedOut,
    Unavailable,
)
from providers.cloudrun.client import CloudRunClient
from providers.cloudrun.ops import restore_command
from providers.cloudrun.traffic import (
    TYPE_LATEST,
    TYPE_REVISION,
    Route,
    describe_routes,
    same_routes,
    served_split,
    short_name,
)
from providers.cloudrun.views import ServiceView

#: How often a running operation is asked about (the first time sooner: FIRST_POLL_S).
POLL_INTERVAL_S = 1.0
FIRST_POLL_S = 0.2
#: A "still running" line at most this often while an operation runs.
NOTE_EVERY_S = 5.0
#: How long the read that says what the traffic is after a failed change may take.
AFTERMATH_S = 5.0

GRPC_ERRORS: dict[int, type[ProviderError]] = {
    3: InvalidTarget,  # INVALID_ARGUMENT
    4: TimedOut,  # DEADLINE_EXCEEDED
    5: NotFound,
    6: Conflict,  # ALREADY_EXISTS
    7: Forbidden,  # PERMISSION_DENIED
    9: Conflict,  # FAILED_PRECONDITION
    10: Conflict,  # ABORTED
    13: Unavailable,  # INTERNAL
    14: Unavailable,  # UNAVAILABLE
    16: Forbidden,  # UNAUTHENTICATED
}
GRPC_NAMES = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    16: "UNAUTHENTICATED",
}


class Updater:
    """Sends traffic changes through ``client`` and follows them (see the module docstring)."""

    def __init__(self, client: CloudRunClient, poll_interval_s: float = POLL_INTERVAL_S) -> None:
        self.client = client
        self.cfg = client.cfg
        self.poll_interval_s = poll_interval_s

    def apply(
        self, raw: Any, routes: Sequence[Route], what: str
    ) -> Generator[str, None, ServiceView]:
        """Send ``routes`` as the traffic, follow the operation, return the served state.

        Everything, the update request included, ends within ``operation_timeout_s``.
        Once the update was accepted, a poll that fails (a reset, a 5xx, no answer)
        is asked again until that limit: the operation runs on whether we watch it
        or not, so a failure to follow it is never reported as the change failing,
        only as "not seen finishing; it may still complete".
        """
        from google.cloud import run_v2

        api = self.client.api()
        raw.traffic = [
            run_v2.TrafficTarget(
                type_=TYPE_LATEST if r.latest else TYPE_REVISION,
                revision="" if r.latest else r.revision,
                percent=r.percent,
                tag=r.tag,
            )
            for r in routes
        ]
        request = run_v2.UpdateServiceRequest(service=raw)
        limit = self.cfg.operation_timeout_s
        etag = raw.etag or "none"
        yield f"update {self.client.full_name}: {describe_routes(routes)} (etag {etag})"
        operation = self.client.call(
            f"{what} on {self.client.where}",
            lambda: api.services.update_service(
                request=request, retry=None, timeout=self.client.timeout(limit)
            ),
            timeout_s=self.client.timeout(limit),
        )
        op_name = str(operation.operation.name)
        yield f"operation {short_name(op_name)} started; following it (limit {limit:g} s)"
        started = time.monotonic()
        deadline = started + limit
        next_note = started + NOTE_EVERY_S
        pb = operation.operation
        trouble: ProviderError | None = None
        # Traffic changes usually take a few seconds: ask soon, then back off to the interval.
        delay = min(FIRST_POLL_S, self.poll_interval_s)
        while not pb.done:
            now = time.monotonic()
            if now >= deadline:
                seen = "did not finish"
                if trouble is not None:
                    seen = f"was not seen finishing (asking about it failed: {trouble})"
                raise OutcomeUnknown(
                    f"operation {op_name} ({what}) {seen} within {limit:g} s; "
                    f"{self.client.may_still_complete()}"
                )
            if now >= next_note:
                yield f"operation still running after {now - started:.0f} s"
                next_note += NOTE_EVERY_S
            time.sleep(max(0.0, min(delay, deadline - now)))
            delay = min(self.poll_interval_s, delay * 2)
            left = deadline - time.monotonic()
            if left <= 0:
                continue
            # This loop is the retry: one question at a time, none taking more than half
            # the time left, so a hung one leaves time to look at the service and ask again.
            timeout = self.client.timeout(max(1.0, left / 2))
            try:
                pb = self.client.call(
                    f"follow operation {short_name(op_name)}",
                    functools.partial(
                        api.services.get_operation,
                        request={"name": op_name},
                        retry=None,
                        timeout=timeout,
                    ),
                    timeout_s=timeout,
                )
            except (TimedOut, Unavailable) as err:
                if trouble is None:
                    yield f"could not ask about the operation ({err}); looking at the service"
                trouble = err
                # The service itself is the evidence that counts: served and settled is done.
                svc = self._served_anyway(routes, deadline)
                if svc is not None:
                    served = describe_routes(svc.statuses, svc.latest_ready)
                    yield (
                        f"the operation could not be followed, but {self.cfg.service} "
                        f"serves the new traffic and has settled: {served}"
                    )
                    return svc
            except ProviderError as err:
                raise OutcomeUnknown(
                    f"operation {op_name} ({what}) was accepted but cannot be followed: {err}; "
                    f"{self.client.may_still_complete()}"
                ) from None
        if pb.HasField("error"):
            code = int(pb.error.code)
            cls = GRPC_ERRORS.get(code, ProviderError)
            status = GRPC_NAMES.get(code, str(code))
            raise cls(
                f"operation {short_name(op_name)} ({what}) failed: "
                f"{one_line(pb.error.message, 240)} ({status})"
            )
        yield f"operation done after {time.monotonic() - started:.1f} s"
        return (yield from self._until_served(routes, deadline))

    def _served_anyway(self, routes: Sequence[Route], deadline: float) -> ServiceView | None:
        """The service, when it already serves ``routes`` and has settled; else None."""
        budget = deadline - time.monotonic()
        if budget <= 0:
            return None
        try:
            _, svc = self.client.read_service(budget)
        except ProviderError:
            return None
        return svc if self.serves(svc, routes) else None

    def _until_served(
        self, routes: Sequence[Route], deadline: float
    ) -> Generator[str, None, ServiceView]:
        """Read the service until it serves ``routes`` (and has settled), or the limit passes."""
        while True:
            try:
                _, svc = self.client.read_service(max(1.0, deadline - time.monotonic()))
            except (TimedOut, Unavailable) as err:
                if time.monotonic() >= deadline:
                    raise TimedOut(
                        f"the operation finished but {self.cfg.service} could not be read to "
                        f"see the new traffic served: {err}"
                    ) from None
                yield f"could not read the service ({err}); asking again"
            else:
                if self.serves(svc, routes):
                    return svc
                if time.monotonic() >= deadline:
                    raise TimedOut(
                        f"the operation finished but {self.cfg.service} does not serve the new "
                        f"traffic yet: served {describe_routes(svc.statuses, svc.latest_ready)}"
                    )
                yield "waiting for the new traffic to be served"
            time.sleep(max(0.0, min(self.poll_interval_s, deadline - time.monotonic())))

    @staticmethod
    def serves(svc: ServiceView, routes: Sequence[Route]) -> bool:
        wanted = served_split(routes, svc.latest_ready)
        return (
            svc.settled
            and same_routes(svc.traffic, routes)
            and svc.served == wanted
            and sorted(r.tag for r in svc.statuses if r.tag)
            == sorted(r.tag for r in routes if r.tag)
        )

    def restore(
        self,
        original: Sequence[Route],
        accepted: Sequence[Sequence[Route]],
        why: str,
        latest_ready: str = "",
    ) -> Generator[str, None, str]:
        """Put the traffic back to ``original``; return the sentence saying what happened.

        Only while the traffic is one of ``accepted`` (what the rollback set or was
        setting): anyone else's change since is left as it is, and said so.
        """
        before = describe_routes(original, latest_ready)
        yield f"{why}"
        yield (
            f"putting the traffic back as it was: {before} "
            f"(`{restore_command(self.client, original)}`)"
        )
        try:
            raw, svc = self.client.read_service()
            if not any(same_routes(svc.traffic, routes) for routes in accepted):
                now = describe_routes(svc.traffic, svc.latest_ready)
                return (
                    f"{why}; traffic NOT restored: someone else changed it meanwhile "
                    f"(it is now {now})"
                )
            served = yield from self.apply(raw, original, "restore the traffic")
        except ProviderError as err:
            now = self.client.describe_served()
            return f"{why}; restoring the traffic FAILED ({err}); traffic served now: {now}"
        now = describe_routes(served.statuses, served.latest_ready)
        return f"{why}; traffic restored as it was: {now}"

    def aftermath(self, before: Sequence[Route], routes: Sequence[Route]) -> str:
        """What the traffic is after a change that failed or was not seen through, read again.

        Raises ``OutcomeUnknown`` when the service cannot be read: whether the
        change took effect is then exactly what is not known.
        """
        name = self.cfg.service
        try:
            _, svc = self.client.read_service(AFTERMATH_S)
        except ProviderError as err:
            raise OutcomeUnknown(f"what {name} serves now could not be read ({err})") from None
        served = describe_routes(svc.statuses, svc.latest_ready)
        if same_routes(svc.traffic, before):
            return f"the traffic was not changed: {name} serves {served}"
        if same_routes(svc.traffic, routes):
            if self.serves(svc, routes):
                return f"{name} now serves the new traffic all the same: {served}"
            still = "; the change is still in progress" if not svc.settled else ""
            return f"{name} asks for the new traffic but serves {served}{still}"
        asked = describe_routes(svc.traffic, svc.latest_ready)
        return (
            f"someone else changed the traffic meanwhile: {name} asks for {asked}, serves {served}"
        )
