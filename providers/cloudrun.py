"""The Cloud Run provider: move a service's traffic back to an earlier revision (runbook 004).

Runbook 004 done from the console: list revisions, send 100% of the traffic
to the revision that served before the bad deploy (``gcloud run services
update-traffic SERVICE --to-revisions REV=100``), or do it in steps (10% ->
50% -> 100%) watching health and error rate between steps.

Talking to Cloud Run
    The official ``google-cloud-run`` client (``run_v2``), imported on first
    use, never at start-up or in ``__init__``, always with the REST transport.
    Credentials are Application Default Credentials; an ``endpoint`` override
    that is plain ``http://`` (a local test server) is spoken to with
    anonymous credentials, so a token is never sent in clear text.  Every call
    has a time limit; reads are retried briefly on 503/429; every failure
    becomes one ``ProviderError`` line (404 ``NotFound``, 403/401
    ``Forbidden``, 409 ``Conflict``, 400 ``InvalidTarget``, 5xx and network
    errors ``Unavailable``, deadlines ``TimedOut``).

What "current" and "previous" mean
    Cloud Run has no single current revision: traffic is split.  The current
    revision is the one receiving the largest share of what is *served*
    (``traffic_statuses``; a LATEST share counts for the latest Ready
    revision).  A plain rollback goes to the newest Ready revision created
    before it: the one that served before the bad deploy.  A revision that
    never became Ready is listed but never chosen, and refused as a target.

Changing traffic
    Every change reads the service, checks its traffic is still what the plan
    (or the previous step) left, and sends the whole service back with the new
    ``traffic`` and the ``etag`` just read, so an edit made by someone else in
    between is a 409 (``Conflict``), not overwritten.  Tags stay where they
    were, at 0% (as gcloud keeps them).  The update is a long-running
    operation: it is polled until done with progress lines and a time limit
    (``operation_timeout_s``), and then the service is read again until what
    is *served* matches what was asked; only that is reported as done.  All of
    it, the update request included, ends within ``operation_timeout_s``.  A
    poll of the operation that fails (reset, 5xx, no answer) is asked again
    until then, and meanwhile the service itself is looked at: served and
    settled is done, whether or not the operation could be followed.  Not
    seen finishing is ``OutcomeUnknown`` ("it may still complete: look with
    gcloud ..."), never a success nor a failure: the incident stays open for
    ``resume``, which asks the service.  A failed change that is not put back (below)
    ends with the service read again, saying what the traffic is now:
    unchanged, asked for but not served yet, served all the same, or changed
    by someone else.  After a rollback the traffic is pinned to a revision:
    later deploys receive no traffic until it is sent to LATEST again, and the
    finished step and ``wait_ready`` say so (it lands in the history entry's
    timeline).

Gradual rollback (action ``gradual``)
    One update per step of ``gradual_steps``; between steps a gate (see
    ``providers.cloudrun_gate``) watches health and error rate for
    ``gate_s``.  When a gate fails, or a later step's operation fails, the
    traffic is put back exactly as it was before the first step (entries,
    LATEST, tags and all) and the step fails with a message saying what
    failed and what the traffic is now.  A step not seen finishing is not
    undone: its operation may still complete, and the message says how to look.

Resuming after a crash (``switch_took_effect``)
    The platform is asked, not the journal: a gradual move stopped half-way
    is re-planned from the live split (steps already taken are skipped) and a
    failing gate then puts the traffic back where it was before the
    interrupted plan began; an update whose operation was running is waited
    for: succeeded (or still running) it took effect and is not sent again,
    failed it is sent again.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from console.config import CloudRunConfig, ServiceConfig
from console.model import (
    Action,
    Plan,
    ProgressEvent,
    ProgressStatus,
    ReadyResult,
    Revision,
    Snapshot,
    Step,
    StepKind,
    TrafficTarget,
    Unit,
    utcnow,
)
from console.textsafe import one_line
from providers import cloudrun_traffic as tr
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
from providers.cloudrun_gate import Gate, GateRequest, GateVerdict, HealthAndErrorRateGate
from providers.steps import drain, failure, perform

#: The actions besides a plain rollback (``SupportsActions``).
GRADUAL = "gradual"
TO_LATEST = "to-latest"
#: Seconds one API request may take.
REQUEST_TIMEOUT_S = 30.0
#: How long reads are retried on 503 / 429 / connection errors.
RETRY_S = 10.0
#: How often a running operation is asked about (the first time sooner: FIRST_POLL_S).
POLL_INTERVAL_S = 1.0
FIRST_POLL_S = 0.2
#: A "still running" line at most this often while an operation runs.
NOTE_EVERY_S = 5.0
#: Revisions asked for per page.
PAGE_SIZE = 100
#: How long the read that says what the traffic is after a failed change may take.
AFTERMATH_S = 5.0

#: What the client puts before the API's message: ``PATCH https://...?$alt=json: ``.
_REQUEST_PREFIX = re.compile(r"^[A-Z]+ https?://\S+: ")

T = TypeVar("T")

_GRPC_ERRORS: dict[int, type[ProviderError]] = {
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
_GRPC_NAMES = {
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


class GateFailed(ProviderError):
    """A gate between the steps of a gradual rollback failed (the traffic was put back)."""


def _one_line(text: object, limit: int = 300) -> str:
    return one_line(str(text), limit)


@dataclass
class _Api:
    services: Any
    revisions: Any


@dataclass
class _State:
    """What the provider read of the service at one moment."""

    raw: Any
    service: tr.ServiceView
    revisions: tuple[tr.RevisionView, ...]

    def revision(self, name: str) -> tr.RevisionView | None:
        return next((r for r in self.revisions if r.name == name), None)


@dataclass
class _Run:
    """One execution of a plan: where traffic was, where we put it, what we tried."""

    original: tuple[tr.Route, ...]
    applied: tuple[tr.Route, ...]
    gradual: bool
    target: str
    attempted: tuple[tr.Route, ...] = ()
    percent: int = 0
    gate: Gate | None = None
    own_gate: HealthAndErrorRateGate | None = None
    gates_total: int = 0
    gates_done: int = 0
    latest_ready: str = ""


class CloudRunProvider:
    """Rolls back a Cloud Run service by moving its traffic (see the module docstring).

    ``gate`` replaces the default gate of gradual rollbacks; ``credentials``
    replaces Application Default Credentials; ``poll_interval_s`` and
    ``retry_s`` are how often operations are polled and how long reads are
    retried.  Nothing touches the network before the first method call.
    """

    name: str = "cloudrun"

    def __init__(
        self,
        service: ServiceConfig,
        *,
        gate: Gate | None = None,
        credentials: Any = None,
        poll_interval_s: float = POLL_INTERVAL_S,
        retry_s: float = RETRY_S,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        if service.cloudrun is None:
            raise ProviderError(
                f"{service.label}: provider 'cloudrun' needs a [services.cloudrun] table"
            )
        self.service = service
        self.cfg: CloudRunConfig = service.cloudrun
        self.gate = gate
        self._credentials = credentials
        self.poll_interval_s = poll_interval_s
        self.retry_s = retry_s
        self.request_timeout_s = request_timeout_s
        self._api: _Api | None = None
        self._api_lock = threading.Lock()

    # ------------------------------------------------------------------ names

    @property
    def parent(self) -> str:
        return f"projects/{self.cfg.project}/locations/{self.cfg.region}"

    @property
    def full_name(self) -> str:
        return f"{self.parent}/services/{self.cfg.service}"

    @property
    def where(self) -> str:
        return (
            f"Cloud Run service {self.cfg.service} (project {self.cfg.project}, {self.cfg.region})"
        )

    def _gcloud(self, split: tr.Split | None) -> tuple[str, ...]:
        return tr.gcloud_update_traffic(self.cfg.service, self.cfg.region, self.cfg.project, split)

    # ------------------------------------------------------------------ the client

    def _client(self) -> _Api:
        with self._api_lock:
            if self._api is not None:
                return self._api
            try:
                from google.cloud import run_v2
            except ImportError as exc:  # pragma: no cover - a dependency of the package
                raise ProviderError(f"google-cloud-run is not installed: {exc}") from None
            options: dict[str, str] = {}
            credentials = self._credentials
            if self.cfg.endpoint:
                options["api_endpoint"] = self.cfg.endpoint
                if credentials is None and self.cfg.endpoint.startswith("http://"):
                    from google.auth.credentials import AnonymousCredentials

                    credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
            kwargs: dict[str, Any] = {"transport": "rest", "client_options": options or None}
            if credentials is not None:
                kwargs["credentials"] = credentials
            self._api = self._call(
                "connect to Cloud Run",
                lambda: _Api(run_v2.ServicesClient(**kwargs), run_v2.RevisionsClient(**kwargs)),
            )
            return self._api

    def _retry(self, budget_s: float | None = None) -> Any:
        """Retry reads on 503 / 429 / connection errors for ``retry_s`` (or less: ``budget_s``)."""
        import requests
        from google.api_core import exceptions as gexc
        from google.api_core import retry as gretry

        limit = self.retry_s if budget_s is None else max(0.0, min(self.retry_s, budget_s))
        return gretry.Retry(
            initial=min(0.2, max(limit, 0.01)),
            maximum=2.0,
            multiplier=2.0,
            predicate=gretry.if_exception_type(
                gexc.ServiceUnavailable, gexc.TooManyRequests, requests.exceptions.ConnectionError
            ),
            timeout=limit,
        )

    def _timeout(self, budget_s: float | None = None) -> float:
        """Seconds one request may take: ``request_timeout_s``, or less when a limit is near."""
        if budget_s is None:
            return self.request_timeout_s
        return max(0.05, min(self.request_timeout_s, budget_s))

    def _call(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        retried_s: float | None = None,
        timeout_s: float | None = None,
    ) -> T:
        """Run one API call; every failure becomes one ``ProviderError`` line naming ``what``.

        ``retried_s`` and ``timeout_s`` are the retry time and the request time limit the
        call was given, when not the provider's defaults (the messages say them).
        """
        import google.auth.exceptions as gauth
        import requests
        from google.api_core import exceptions as gexc

        try:
            return fn()
        except gexc.RetryError as err:
            cause = err.cause if err.cause is not None else err
            retried = self.retry_s if retried_s is None else min(self.retry_s, retried_s)
            raise Unavailable(
                f"cannot {what}: still failing after retrying for {retried:.3g} s: "
                f"{self._api_message(cause)}"
            ) from None
        except gexc.GoogleAPICallError as err:
            raise self._api_error(what, err) from None
        except gauth.DefaultCredentialsError as err:
            raise Forbidden(
                f"cannot {what}: no Application Default Credentials "
                "(run `gcloud auth application-default login` or set "
                f"GOOGLE_APPLICATION_CREDENTIALS): {_one_line(err, 160)}"
            ) from None
        except gauth.RefreshError as err:
            raise Forbidden(
                f"cannot {what}: the credentials were refused: {_one_line(err)}"
            ) from None
        except gauth.GoogleAuthError as err:
            raise Unavailable(f"cannot {what}: authentication failed: {_one_line(err)}") from None
        except requests.exceptions.Timeout:
            limit = self.request_timeout_s if timeout_s is None else timeout_s
            raise TimedOut(
                f"cannot {what}: no answer from {self._endpoint()} within {limit:.3g} s"
            ) from None
        except requests.exceptions.RequestException as err:
            raise Unavailable(
                f"cannot {what}: {self._endpoint()} cannot be reached: {_one_line(err, 200)}"
            ) from None

    def _endpoint(self) -> str:
        return self.cfg.endpoint or "run.googleapis.com"

    @staticmethod
    def _api_message(err: BaseException) -> str:
        """The API's own message, without the ``PATCH https://...?$alt=...:`` the client puts
        in front; an answer without the API's error document (a proxy's or a load
        balancer's page) is named by its status and the start of its body."""
        from http import HTTPStatus

        message = str(getattr(err, "message", None) or err)
        message = _REQUEST_PREFIX.sub("", message, count=1)
        code = getattr(err, "code", None)
        if message.strip() in ("", "unknown error"):
            body = ""
            response = getattr(err, "response", None)
            with contextlib.suppress(Exception):
                body = _one_line(response.text, 160) if response is not None else ""
            try:
                phrase = HTTPStatus(int(code)).phrase if isinstance(code, int) else ""
            except ValueError:
                phrase = ""
            message = f"{phrase or 'an answer'} without the API's error details"
            message += f": {body}" if body else ""
        text = _one_line(message, 240)
        return f"{text} (HTTP {code})" if isinstance(code, int) else text

    def _api_error(self, what: str, err: Any) -> ProviderError:
        from google.api_core import exceptions as gexc

        detail = self._api_message(err)
        if isinstance(err, gexc.NotFound):
            return NotFound(f"cannot {what}: {detail}")
        if isinstance(err, gexc.PermissionDenied | gexc.Unauthenticated | gexc.Forbidden):
            return Forbidden(
                f"cannot {what}: permission denied: {detail}; check the credentials in use "
                f"and that project {self.cfg.project} exists"
            )
        if isinstance(err, gexc.Conflict | gexc.Aborted | gexc.PreconditionFailed):
            return Conflict(
                f"cannot {what}: {detail}; someone else may be changing {self.cfg.service}: "
                "look again before retrying"
            )
        if isinstance(err, gexc.BadRequest):
            return InvalidTarget(f"cannot {what}: the API refused the request: {detail}")
        if isinstance(err, gexc.DeadlineExceeded | gexc.GatewayTimeout):
            return TimedOut(f"cannot {what}: {detail}")
        if isinstance(err, gexc.ServerError | gexc.TooManyRequests):
            return Unavailable(f"cannot {what}: Cloud Run answered with an error: {detail}")
        return ProviderError(f"cannot {what}: {detail}")

    # ------------------------------------------------------------------ reading

    def _read_service(self, budget_s: float | None = None) -> tuple[Any, tr.ServiceView]:
        """Read the service; with ``budget_s``, retries and the request end within it."""
        api = self._client()
        raw = self._call(
            f"read {self.where}",
            lambda: api.services.get_service(
                name=self.full_name,
                retry=self._retry(budget_s),
                timeout=self._timeout(budget_s),
            ),
            retried_s=budget_s,
            timeout_s=self._timeout(budget_s),
        )
        return raw, tr.parse_service(type(raw).to_dict(raw))

    def _read_revisions(self) -> tuple[tr.RevisionView, ...]:
        api = self._client()

        def fetch() -> list[Any]:
            pager = api.revisions.list_revisions(
                request={"parent": self.full_name, "page_size": PAGE_SIZE},
                retry=self._retry(),
                timeout=self.request_timeout_s,
            )
            return list(pager)

        raws = self._call(f"list the revisions of {self.where}", fetch)
        views = [tr.parse_revision(type(r).to_dict(r)) for r in raws]
        # Newest first; the API does not promise an order.
        views.sort(key=lambda r: (r.created is not None, r.created or 0, r.name), reverse=True)
        return tuple(views)

    def _state(self) -> _State:
        raw, svc = self._read_service()
        return _State(raw, svc, self._read_revisions())

    # ------------------------------------------------------------------ snapshot

    def snapshot(self) -> Snapshot:
        """Traffic (served and asked for), revisions newest first, serving revisions as units."""
        return self._snapshot(self._state())

    def _current_name(self, state: _State) -> str:
        served = state.service.served
        if not served:
            return state.service.latest_ready
        created = {r.name: r.created.timestamp() if r.created else 0.0 for r in state.revisions}
        return max(served, key=lambda name: (served[name], created.get(name, 0.0), name))

    def _versions(self, revisions: Sequence[tr.RevisionView]) -> dict[str, str]:
        """Revision -> label: its image tag when no other revision shares it, else its name."""
        counts: dict[str, int] = {}
        for rev in revisions:
            if rev.tag:
                counts[rev.tag] = counts.get(rev.tag, 0) + 1
        return {r.name: r.tag if r.tag and counts[r.tag] == 1 else r.name for r in revisions}

    def _snapshot(self, state: _State) -> Snapshot:
        svc = state.service
        served = svc.served
        current_name = self._current_name(state)
        versions = self._versions(state.revisions)
        tags: dict[str, list[str]] = {}
        for route in svc.statuses or svc.traffic:
            if route.tag:
                name = (route.revision or svc.latest_ready) if route.latest else route.revision
                tags.setdefault(name, []).append(route.tag)
        revisions = []
        units = []
        for rev in state.revisions:
            share = served.get(rev.name, 0)
            detail = self._revision_detail(rev, share, tags.get(rev.name, []), svc)
            revisions.append(
                Revision(
                    id=rev.name,
                    version=versions[rev.name],
                    created=rev.created,
                    change_cause=f"deployed by {rev.creator}" if rev.creator else "",
                    image=rev.image,
                    current=rev.name == current_name,
                    detail=detail,
                )
            )
            if share > 0 or rev.name in tags:
                units.append(self._unit(rev, share, tags.get(rev.name, [])))
        current = next((r for r in revisions if r.current), None)
        traffic = tuple(
            TrafficTarget(
                revision=(route.revision or svc.latest_ready) if route.latest else route.revision,
                percent=route.percent,
                tag=route.tag,
                latest=route.latest,
            )
            for route in (svc.statuses or tr.effective(svc.traffic))
        )
        return Snapshot(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            taken_at=utcnow(),
            current=current,
            revisions=tuple(revisions),
            units=tuple(units),
            traffic=traffic,
            notes=tuple(self._notes(state, current_name)),
            facts=tuple(self._facts(state)),
        )

    @staticmethod
    def _revision_detail(
        rev: tr.RevisionView, share: int, tags: list[str], svc: tr.ServiceView
    ) -> str:
        ready = rev.ready
        if ready is None:
            parts = ["Ready unknown"]
        elif ready.ok:
            parts = ["Ready"]
        else:
            parts = [
                f"NOT READY ({ready.state_name}" + (f": {ready.message})" if ready.message else ")")
            ]
        parts.append(f"serving {share}%" if share else "no traffic")
        if tags:
            parts.append("tag " + ", ".join(tags))
        if rev.name == svc.latest_ready:
            parts.append("latest ready")
        if rev.name == svc.latest_created and rev.name != svc.latest_ready:
            parts.append("latest created")
        return "; ".join(parts)

    @staticmethod
    def _unit(rev: tr.RevisionView, share: int, tags: list[str]) -> Unit:
        ready = rev.ready
        state = f"serving {share}%" if share else "tag only (0%)"
        details = [c.describe() for c in rev.conditions if c.type != "Ready"]
        if rev.desired_min_instances is not None:
            details.append(f"min instances {rev.desired_min_instances} (desired)")
        elif rev.min_instances:
            details.append(f"min instances {rev.min_instances}")
        if tags:
            details.append("tags " + ", ".join(tags))
        if ready is not None and not ready.ok and ready.message:
            details.insert(0, ready.message)
        return Unit(
            name=rev.name,
            state=state if ready is None or ready.ok else f"{state}, Ready {ready.state_name}",
            ready=ready is not None and ready.ok,
            revision=rev.name,
            started=rev.created,
            detail="; ".join(details),
        )

    def _notes(self, state: _State, current_name: str) -> list[str]:
        svc = state.service
        notes = [
            "Cloud Run's API does not list instances: each unit is a revision that "
            "receives traffic or carries a tag, with its own conditions."
        ]
        if not tr.same_routes(svc.traffic, svc.statuses) and svc.statuses:
            notes.append(
                f"traffic asked for ({tr.describe_routes(svc.traffic, svc.latest_ready)}) differs "
                f"from traffic served ({tr.describe_routes(svc.statuses, svc.latest_ready)})"
            )
        if svc.reconciling or svc.observed_generation < svc.generation:
            notes.append(
                f"a change is in progress (generation {svc.generation}, "
                f"observed {svc.observed_generation})"
            )
        if svc.terminal is not None and not svc.terminal.ok and not svc.reconciling:
            notes.append(f"the service is not Ready: {svc.terminal.describe()}")
        if svc.latest_created and svc.latest_created != svc.latest_ready:
            rev = state.revision(svc.latest_created)
            why = rev.ready.message if rev is not None and rev.ready is not None else ""
            notes.append(
                f"the newest revision {svc.latest_created} is not Ready"
                + (f" ({_one_line(why, 200)})" if why else "")
                + f"; LATEST still means {svc.latest_ready or 'nothing'}"
            )
        if svc.pinned:
            notes.append(
                "traffic is pinned to revisions: a new deploy receives no traffic until it "
                f"is sent to LATEST (`{tr.shell(self._gcloud(None))}`)"
            )
        if len(svc.served) > 1:
            split = sorted(svc.served.items(), key=lambda item: (-item[1], item[0]))
            notes.append(f"traffic is split: {tr.describe_split(split)}")
        return notes

    @staticmethod
    def _facts(state: _State) -> list[tuple[str, str]]:
        svc = state.service
        facts = [
            ("traffic served", tr.describe_routes(svc.statuses, svc.latest_ready) or "(none)"),
            ("traffic asked", tr.describe_routes(svc.traffic, svc.latest_ready)),
            ("generation", f"{svc.generation} (observed {svc.observed_generation})"),
            ("latest ready", svc.latest_ready or "(none)"),
            ("latest created", svc.latest_created or "(none)"),
            ("reconciling", "yes" if svc.reconciling else "no"),
        ]
        if svc.terminal is not None:
            facts.append(("Ready", svc.terminal.describe()))
        for cond in svc.conditions:
            facts.append((cond.type, cond.describe().removeprefix(cond.type + " ")))
        if svc.uri:
            facts.append(("URL", svc.uri))
        if svc.last_modifier:
            facts.append(("last modified by", svc.last_modifier))
        return facts

    # ------------------------------------------------------------------ plan

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        """Send 100% of the traffic to ``target`` (default: the revision before the current one)."""
        state = self._state()
        snap = self._snapshot(state)
        to = self._resolve(state, snap, target)
        split: tr.Split = [(to.id, 100)]
        self._refuse_no_change(state, to, split)
        steps = (self._switch_step(state, to, split),)
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            from_revision=snap.current,
            to_revision=to,
            steps=steps,
            warnings=tuple(self._warnings(state, snap, to)),
            dry_run=dry_run,
            data=self._plan_data(state),
        )

    def actions(self) -> tuple[Action, ...]:
        """``gradual`` (a revision, in steps with gates) and ``to-latest`` (undo a pin)."""
        state = self._state()
        snap = self._snapshot(state)
        current = snap.current.id if snap.current else ""
        choices = tuple(rev.name for rev in state.revisions if rev.is_ready and rev.name != current)
        steps = " -> ".join(f"{p}%" for p in self.cfg.gradual_steps)
        actions = [
            Action(
                id=GRADUAL,
                title="Gradual rollback",
                description=(
                    f"Move traffic to a revision in steps ({steps}), watching health and error "
                    f"rate for {self.cfg.gate_s:g} s between steps; if a gate fails the traffic "
                    "goes back to exactly where it was"
                ),
                argument="revision",
                choices=choices,
            )
        ]
        if not _all_latest(state):
            actions.append(
                Action(
                    id=TO_LATEST,
                    title="Send all traffic to LATEST",
                    description=(
                        "100% to the latest Ready revision "
                        f"({state.service.latest_ready or 'none'}) and to every later deploy: "
                        "undoes a rollback's pin"
                    ),
                    dangerous=True,
                )
            )
        return tuple(actions)

    def plan_action(
        self,
        action: str,
        argument: str | None,
        *,
        dry_run: bool = False,
        interrupted: Mapping[str, Any] | None = None,
    ) -> Plan:
        """Plan ``gradual`` or ``to-latest``.

        ``interrupted`` is the journaled ``data["resume"]`` of a plan a crash cut
        short: a gradual move re-planned on resume then shows (and, on a failed
        gate, restores) the traffic from before that plan, not the half-way split.
        """
        if action == GRADUAL:
            return self._plan_gradual(argument, dry_run, interrupted)
        if action == TO_LATEST:
            return self._plan_to_latest(dry_run)
        raise NotFound(
            f"unknown action {action!r} for {self.service.label} (known: {GRADUAL}, {TO_LATEST})"
        )

    def _plan_gradual(
        self, argument: str | None, dry_run: bool, interrupted: Mapping[str, Any] | None = None
    ) -> Plan:
        state = self._state()
        snap = self._snapshot(state)
        to = self._resolve(state, snap, argument or None)
        splits = tr.gradual_splits(to.id, state.service.served, self.cfg.gradual_steps)
        self._refuse_no_change(state, to, splits[-1] if splits else [(to.id, 100)])
        if not splits:
            splits = [[(to.id, 100)]]
        before = (interrupted or {}).get("traffic")
        original = tuple(tr.Route.from_json(r) for r in before) if before else state.service.traffic
        restore = tr.shell(self._gcloud(tr.split_of(original)))
        steps: list[Step] = []
        for number, split in enumerate(splits, 1):
            steps.append(self._switch_step(state, to, split))
            if number < len(splits):
                percent = split[0][1]
                steps.append(
                    Step(
                        title=(
                            f"Gate {number}: watch health and error rate of {self.service.label} "
                            f"for {self.cfg.gate_s:g} s with {to.id} at {percent}%"
                        ),
                        command=(
                            f"# watch health and error rate for {self.cfg.gate_s:g} s; "
                            f"if the gate fails: {restore}"
                        ),
                        kind=StepKind.WAIT,
                        timeout_s=self.cfg.gate_s + 30.0,
                    )
                )
        warnings = self._warnings(state, snap, to)
        where = (
            "where it was before the interrupted rollback began"
            if before
            else ("exactly where it is now")
        )
        warnings.append(
            f"Between steps the console watches health and error rate for {self.cfg.gate_s:g} s; "
            f"if a gate fails, traffic goes back to {where} "
            f"({tr.describe_routes(original, state.service.latest_ready)})."
        )
        if not self.service.health:
            warnings.append(
                "No health checks are configured: the gates judge the error rate alone."
            )
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            from_revision=snap.current,
            to_revision=to,
            steps=tuple(steps),
            warnings=tuple(warnings),
            dry_run=dry_run,
            action=GRADUAL,
            argument=to.id,
            data=self._plan_data(state, interrupted),
        )

    def _plan_to_latest(self, dry_run: bool) -> Plan:
        state = self._state()
        snap = self._snapshot(state)
        svc = state.service
        if not svc.latest_ready:
            raise InvalidTarget(f"{self.service.label} has no Ready revision for LATEST to mean")
        to = snap.find(svc.latest_ready)
        if to is None:
            raise NotFound(f"the latest Ready revision {svc.latest_ready} is not listed")
        if _all_latest(state):
            raise InvalidTarget(f"all traffic of {self.service.label} already goes to LATEST")
        step = Step(
            title=(
                f"Send 100% of {self.service.label}'s traffic to LATEST "
                f"(now {to.id}, {to.version}) and to every later deploy"
            ),
            command=tr.shell(self._gcloud(None)),
            kind=StepKind.SWITCH,
            argv=self._gcloud(None),
            timeout_s=self.cfg.operation_timeout_s,
        )
        warnings = [
            f"LATEST is {to.id} ({to.version}); if that is the revision that was rolled back "
            "from, this sends the traffic back to it."
        ]
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            from_revision=snap.current,
            to_revision=to,
            steps=(step,),
            warnings=tuple(warnings),
            dry_run=dry_run,
            action=TO_LATEST,
            data=self._plan_data(state),
        )

    def _plan_data(
        self, state: _State, interrupted: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """What execute checks (the traffic it starts from) and what a crash must not lose.

        ``interrupted`` (resume): the first plan's starting traffic stays the one
        to restore, however often the move is interrupted and resumed.
        """
        traffic = tr.routes_json(state.service.traffic)
        data: dict[str, Any] = {"traffic": traffic, "etag": state.service.etag}
        if interrupted and interrupted.get("traffic"):
            data["interrupted"] = dict(interrupted)
            data["resume"] = dict(interrupted)
        else:
            data["resume"] = {"traffic": traffic}
        return data

    def switch_took_effect(self, plan: Plan) -> bool | None:
        """Whether the traffic already is what ``plan`` ends with (for resume).

        A gradual move stopped half-way is not done: re-planned from the live
        split it continues with the steps that give the target more traffic
        (the ones already taken are skipped), and a failing gate still puts
        the traffic back where it was before the interrupted plan started.
        An update the console was killed while following is waited for (up to
        ``operation_timeout_s``): it took effect when it is served then, or still
        running (it is not sent twice; ``wait_ready`` follows it); one whose
        operation failed did not (the service asks for it and serves the old
        traffic), and is sent again.
        """
        if plan.action == TO_LATEST:
            wanted: tr.Split = [(tr.LATEST, 100)]
        elif plan.action in ("rollback", GRADUAL):
            wanted = [(plan.to_revision.id, 100)]
        else:
            return None
        _, svc = self._read_service()
        if tr.split_of(svc.traffic) != wanted:
            return False
        # Asked for.  A change still running is waited for (as the killed console would
        # have), so that the answer is what it came to, not what it may come to.
        deadline = time.monotonic() + self.cfg.operation_timeout_s
        while _in_progress(svc) and time.monotonic() < deadline:
            time.sleep(max(0.0, min(self.poll_interval_s, deadline - time.monotonic())))
            _, svc = self._read_service()
        if _in_progress(svc):
            return True  # accepted and still running: never sent twice; wait_ready follows it
        # Settled without being served is an operation that failed: it did not take effect.
        return svc.served == tr.served_split(svc.traffic, svc.latest_ready)

    def _resolve(self, state: _State, snap: Snapshot, target: str | None) -> Revision:
        if target is None:
            current = snap.current
            if current is None:
                raise InvalidTarget(
                    f"{self.service.label} serves no revision: nothing to roll back"
                )
            created = current.created
            for rev in snap.revisions:
                view = state.revision(rev.id)
                older = created is None or rev.created is None or rev.created < created
                if rev.id != current.id and older and view is not None and view.is_ready:
                    return rev
            raise InvalidTarget(
                f"{self.service.label} has no Ready revision older than {current.id} "
                f"({current.version}) to roll back to"
            )
        target = tr.short_name(target.strip())  # a full resource name works too
        found = snap.find(target)
        if found is None:
            listed = ", ".join(
                f"{r.id} ({r.version})" if r.version != r.id else r.id for r in snap.revisions[:12]
            )
            more = f" and {len(snap.revisions) - 12} more" if len(snap.revisions) > 12 else ""
            raise NotFound(
                f"revision {target!r} not found in {self.where}; available: "
                f"{listed or 'none'}{more}"
            )
        view = state.revision(found.id)
        if view is None or not view.is_ready:
            ready = view.ready if view is not None else None
            why = ready.describe() if ready is not None else "no Ready condition"
            raise InvalidTarget(
                f"revision {found.id} is not Ready ({why}): it cannot serve traffic"
            )
        return found

    def _refuse_no_change(self, state: _State, to: Revision, split: tr.Split) -> None:
        if state.service.served == dict(split):
            raise InvalidTarget(
                f"{to.id} ({to.version}) already serves 100% of {self.service.label}"
            )

    def _switch_step(self, state: _State, to: Revision, split: tr.Split) -> Step:
        argv = self._gcloud(split)
        if len(split) == 1:
            title = f"Send 100% of {self.service.label}'s traffic to {to.id} ({to.version})"
        else:
            rest = ", ".join(f"{k} {p}%" for k, p in split[1:])
            title = (
                f"Send {split[0][1]}% of {self.service.label}'s traffic to {to.id} "
                f"({to.version}), {rest}"
            )
        tags = tr.tags_of(state.service.traffic)
        if tags:
            title += f"; tags kept ({', '.join(tags)})"
        return Step(
            title=title,
            command=tr.shell(argv),
            kind=StepKind.SWITCH,
            argv=argv,
            timeout_s=self.cfg.operation_timeout_s,
        )

    def _warnings(self, state: _State, snap: Snapshot, to: Revision) -> list[str]:
        warnings: list[str] = []
        current = snap.current
        svc = state.service
        if current is not None and to.created and current.created and to.created > current.created:
            warnings.append(
                f"{to.id} ({to.version}) is newer than the current {current.id}: "
                "this rolls forward, not back."
            )
        elif current is not None:
            ids = [r.id for r in snap.revisions]
            ready_between = (
                [
                    r.id
                    for r in snap.revisions[ids.index(current.id) + 1 : ids.index(to.id)]
                    if (v := state.revision(r.id)) is not None and v.is_ready
                ]
                if current.id in ids and to.id in ids
                else []
            )
            if ready_between:
                warnings.append(
                    f"{to.id} is not the revision that served before {current.id} "
                    f"(that is {ready_between[0]}); {len(ready_between)} Ready revision(s) "
                    "in between are skipped."
                )
        if svc.reconciling or svc.observed_generation < svc.generation:
            warnings.append(
                f"A change to {self.cfg.service} is still in progress (generation "
                f"{svc.generation}, observed {svc.observed_generation}): the update may be refused."
            )
        if svc.latest_created and svc.latest_created != svc.latest_ready:
            warnings.append(
                f"The newest revision {svc.latest_created} never became Ready "
                "(it is not a rollback target)."
            )
        warnings.append(
            f"After this, traffic is pinned to {to.id}: later deploys receive no traffic until "
            f"it is sent to LATEST again (`{tr.shell(self._gcloud(None))}`)."
        )
        return warnings

    # ------------------------------------------------------------------ execute

    def execute(self, plan: Plan) -> Iterator[ProgressEvent]:
        """Run the plan's steps; a failed step yields FAILED and raises (see the module doc)."""
        if plan.dry_run:
            raise InvalidTarget("a dry-run plan is never executed")
        run: _Run | None = None
        try:
            for index, step in enumerate(plan.steps):
                started = False
                if run is None:
                    # The first step reads the starting point (and checks it against the plan).
                    yield ProgressEvent(index, ProgressStatus.STARTED, step.command)
                    started = True
                    try:
                        run = yield from drain(index, self._first(plan))
                    except ProviderError as err:
                        yield failure(index, err)
                        raise
                if step.kind is StepKind.WAIT:
                    body = self._gate_step(run, step)
                else:
                    body = self._switch(run, step)
                yield from perform(index, step, body, started=started)
        finally:
            if run is not None and run.own_gate is not None:
                run.own_gate.close()

    def _first(self, plan: Plan) -> Generator[str, None, _Run]:
        _, svc = self._read_service()
        planned = plan.data.get("traffic")
        if planned is not None:
            expected = tuple(tr.Route.from_json(r) for r in planned)
            if not tr.same_routes(expected, svc.traffic):
                raise Conflict(
                    f"the traffic of {self.cfg.service} changed since the plan was made: it is "
                    f"{tr.describe_routes(svc.traffic, svc.latest_ready)}, not "
                    f"{tr.describe_routes(expected, svc.latest_ready)}; plan again"
                )
        gates = sum(1 for s in plan.steps if s.kind is StepKind.WAIT)
        # Resumed after a crash: "where it was" is where the interrupted plan started.
        before = (plan.data.get("interrupted") or {}).get("traffic")
        original = tuple(tr.Route.from_json(r) for r in before) if before else svc.traffic
        run = _Run(
            original=original,
            applied=svc.traffic,
            gradual=plan.action == GRADUAL,
            target=plan.to_revision.id,
            gates_total=gates,
            latest_ready=svc.latest_ready,
        )
        yield f"traffic now: {tr.describe_routes(svc.traffic, svc.latest_ready)}"
        if run.gradual and not tr.same_routes(original, svc.traffic):
            # The plan was made from the live split and words its fallback from there;
            # what a failure really goes back to is the traffic before the incident's plan.
            yield (
                "resumed: if a gate or a later step fails, the traffic goes back to where it "
                "was before the interrupted rollback began, "
                f"{tr.describe_routes(original, svc.latest_ready)} "
                f"(`{tr.shell(self._gcloud(tr.split_of(original)))}`), not to the split it "
                "was left at"
            )
        if gates:
            if self.gate is not None:
                run.gate = self.gate
            else:
                run.own_gate = HealthAndErrorRateGate(self.service)
                run.gate = run.own_gate
            prepare = getattr(run.gate, "prepare", None)
            if callable(prepare):
                line = prepare()
                if line:
                    yield str(line)
        return run

    def _switch(self, run: _Run, step: Step) -> Generator[str, None, str]:
        split = tr.split_from_argv(step.argv)
        if split is None:
            raise ProviderError(f"step {step.title!r} is not a traffic change this provider knows")
        raw, svc = self._read_service()
        if not tr.same_routes(svc.traffic, run.applied):
            raise Conflict(
                f"the traffic of {self.cfg.service} was changed by someone else during the "
                f"rollback: it is {tr.describe_routes(svc.traffic, svc.latest_ready)}, not "
                f"{tr.describe_routes(run.applied, svc.latest_ready)}; stopping without "
                "touching it"
            )
        routes = tr.routes_for(split, svc.traffic)
        run.attempted = routes
        try:
            served = yield from self._apply(raw, routes, f"send {tr.describe_split(split)}")
        except ProviderError as err:
            # A step that timed out may still complete, and a conflict is someone else's
            # change: neither is undone.  Any other failure of a later gradual step is.
            undo = not isinstance(err, TimedOut | Conflict | OutcomeUnknown)
            if undo and run.gradual and not tr.same_routes(run.applied, run.original):
                message = yield from self._restore(run, f"step failed: {err}")
                raise type(err)(message) from None
            raise type(err)(f"{err}; {self._aftermath(svc.traffic, routes)}") from None
        run.applied = routes
        run.percent = dict(split).get(run.target, 0)
        run.latest_ready = served.latest_ready
        text = f"traffic served: {tr.describe_routes(served.statuses, served.latest_ready)}"
        if served.pinned and dict(split).get(run.target) == 100:
            text += (
                f"; pinned to {run.target}: later deploys get no traffic until it is sent to "
                f"LATEST (`{tr.shell(self._gcloud(None))}`)"
            )
        return text

    def _apply(
        self, raw: Any, routes: Sequence[tr.Route], what: str
    ) -> Generator[str, None, tr.ServiceView]:
        """Send ``routes`` as the traffic, follow the operation, return the served state.

        Everything, the update request included, ends within ``operation_timeout_s``.
        Once the update was accepted, a poll that fails (a reset, a 5xx, no answer)
        is asked again until that limit: the operation runs on whether we watch it
        or not, so a failure to follow it is never reported as the change failing,
        only as "not seen finishing; it may still complete".
        """
        from google.cloud import run_v2

        api = self._client()
        raw.traffic = [
            run_v2.TrafficTarget(
                type_=tr.TYPE_LATEST if r.latest else tr.TYPE_REVISION,
                revision="" if r.latest else r.revision,
                percent=r.percent,
                tag=r.tag,
            )
            for r in routes
        ]
        request = run_v2.UpdateServiceRequest(service=raw)
        limit = self.cfg.operation_timeout_s
        yield f"update {self.full_name}: {tr.describe_routes(routes)} (etag {raw.etag or 'none'})"
        operation = self._call(
            f"{what} on {self.where}",
            lambda: api.services.update_service(
                request=request, retry=None, timeout=self._timeout(limit)
            ),
            timeout_s=self._timeout(limit),
        )
        op_name = str(operation.operation.name)
        yield f"operation {tr.short_name(op_name)} started; following it (limit {limit:g} s)"
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
                    f"{self._may_still_complete()}"
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
            timeout = self._timeout(max(1.0, left / 2))
            try:
                pb = self._call(
                    f"follow operation {tr.short_name(op_name)}",
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
                    served = tr.describe_routes(svc.statuses, svc.latest_ready)
                    yield (
                        f"the operation could not be followed, but {self.cfg.service} "
                        f"serves the new traffic and has settled: {served}"
                    )
                    return svc
            except ProviderError as err:
                raise OutcomeUnknown(
                    f"operation {op_name} ({what}) was accepted but cannot be followed: {err}; "
                    f"{self._may_still_complete()}"
                ) from None
        if pb.HasField("error"):
            code = int(pb.error.code)
            cls = _GRPC_ERRORS.get(code, ProviderError)
            status = _GRPC_NAMES.get(code, str(code))
            raise cls(
                f"operation {tr.short_name(op_name)} ({what}) failed: "
                f"{_one_line(pb.error.message, 240)} ({status})"
            )
        yield f"operation done after {time.monotonic() - started:.1f} s"
        return (yield from self._until_served(routes, deadline))

    def _served_anyway(self, routes: Sequence[tr.Route], deadline: float) -> tr.ServiceView | None:
        """The service, when it already serves ``routes`` and has settled; else None."""
        budget = deadline - time.monotonic()
        if budget <= 0:
            return None
        try:
            _, svc = self._read_service(budget)
        except ProviderError:
            return None
        return svc if self._serves(svc, routes) else None

    def _may_still_complete(self) -> str:
        return (
            "it may still complete: look with `gcloud run services describe "
            f"{self.cfg.service} --region {self.cfg.region} --project {self.cfg.project}` "
            "before acting again"
        )

    def _until_served(
        self, routes: Sequence[tr.Route], deadline: float
    ) -> Generator[str, None, tr.ServiceView]:
        """Read the service until it serves ``routes`` (and has settled), or the limit passes."""
        while True:
            try:
                _, svc = self._read_service(max(1.0, deadline - time.monotonic()))
            except (TimedOut, Unavailable) as err:
                if time.monotonic() >= deadline:
                    raise TimedOut(
                        f"the operation finished but {self.cfg.service} could not be read to "
                        f"see the new traffic served: {err}"
                    ) from None
                yield f"could not read the service ({err}); asking again"
            else:
                if self._serves(svc, routes):
                    return svc
                if time.monotonic() >= deadline:
                    raise TimedOut(
                        f"the operation finished but {self.cfg.service} does not serve the new "
                        f"traffic yet: served {tr.describe_routes(svc.statuses, svc.latest_ready)}"
                    )
                yield "waiting for the new traffic to be served"
            time.sleep(max(0.0, min(self.poll_interval_s, deadline - time.monotonic())))

    @staticmethod
    def _serves(svc: tr.ServiceView, routes: Sequence[tr.Route]) -> bool:
        wanted = tr.served_split(routes, svc.latest_ready)
        return (
            svc.settled
            and tr.same_routes(svc.traffic, routes)
            and svc.served == wanted
            and sorted(r.tag for r in svc.statuses if r.tag)
            == sorted(r.tag for r in routes if r.tag)
        )

    def _restore(self, run: _Run, why: str) -> Generator[str, None, str]:
        """Put the traffic back to ``run.original``; return the sentence saying what happened."""
        before = tr.describe_routes(run.original, run.latest_ready)
        yield f"{why}"
        yield (
            f"putting the traffic back as it was: {before} "
            f"(`{tr.shell(self._gcloud(tr.split_of(run.original)))}`)"
        )
        try:
            raw, svc = self._read_service()
            if not (
                tr.same_routes(svc.traffic, run.applied)
                or tr.same_routes(svc.traffic, run.attempted)
            ):
                now = tr.describe_routes(svc.traffic, svc.latest_ready)
                return (
                    f"{why}; traffic NOT restored: someone else changed it meanwhile "
                    f"(it is now {now})"
                )
            served = yield from self._apply(raw, run.original, "restore the traffic")
        except ProviderError as err:
            now = self._describe_served()
            return f"{why}; restoring the traffic FAILED ({err}); traffic served now: {now}"
        run.applied = run.original
        now = tr.describe_routes(served.statuses, served.latest_ready)
        return f"{why}; traffic restored as it was: {now}"

    def _aftermath(self, before: Sequence[tr.Route], routes: Sequence[tr.Route]) -> str:
        """What the traffic is after a change that failed or was not seen through, read again."""
        name = self.cfg.service
        try:
            _, svc = self._read_service(AFTERMATH_S)
        except ProviderError as err:
            return f"what {name} serves now could not be read ({err})"
        served = tr.describe_routes(svc.statuses, svc.latest_ready)
        if tr.same_routes(svc.traffic, before):
            return f"the traffic was not changed: {name} serves {served}"
        if tr.same_routes(svc.traffic, routes):
            if self._serves(svc, routes):
                return f"{name} now serves the new traffic all the same: {served}"
            still = "; the change is still in progress" if not svc.settled else ""
            return f"{name} asks for the new traffic but serves {served}{still}"
        asked = tr.describe_routes(svc.traffic, svc.latest_ready)
        return (
            f"someone else changed the traffic meanwhile: {name} asks for {asked}, serves {served}"
        )

    def _describe_served(self) -> str:
        try:
            _, svc = self._read_service()
        except ProviderError as err:
            return f"unknown ({err})"
        return tr.describe_routes(svc.statuses, svc.latest_ready)

    # ------------------------------------------------------------------ gates

    def _gate_step(self, run: _Run, step: Step) -> Generator[str, None, str]:
        gate = run.gate
        if gate is None:
            raise ProviderError("no gate is configured for this gradual rollback")
        run.gates_done += 1
        lines: queue.Queue[str] = queue.Queue()
        verdict: list[GateVerdict] = []
        request = GateRequest(
            service=self.service,
            target=run.target,
            percent=run.percent,
            duration_s=self.cfg.gate_s,
            number=run.gates_done,
            total=run.gates_total,
            report=lines.put,
        )

        def judge() -> None:
            try:
                verdict.append(gate(request))
            except Exception as err:  # a broken gate fails closed
                verdict.append(
                    GateVerdict(False, f"the gate could not run: {type(err).__name__}: {err}")
                )

        worker = threading.Thread(target=judge, name="cloudrun-gate", daemon=True)
        yield f"watching for {self.cfg.gate_s:g} s with {run.target} at {run.percent}%"
        worker.start()
        try:
            while worker.is_alive() or not lines.empty():
                try:
                    yield lines.get(timeout=0.1)
                except queue.Empty:
                    continue
        finally:
            request.stop.set()
            worker.join(timeout=5.0)
        result = verdict[0] if verdict else GateVerdict(False, "the gate gave no verdict")
        if result.passed:
            return f"gate {run.gates_done} passed at {run.percent}%: {result.message}"
        why = f"gate {run.gates_done} at {run.percent}% failed: {result.message}"
        message = yield from self._restore(run, why)
        raise GateFailed(message)

    # ------------------------------------------------------------------ wait_ready

    def wait_ready(self, plan: Plan, timeout_s: float) -> ReadyResult:
        """Poll until the service serves the plan's last traffic split and is Ready."""
        start = time.monotonic()
        deadline = start + max(0.0, timeout_s)
        split = next(
            (s for s in (tr.split_from_argv(step.argv) for step in reversed(plan.steps)) if s),
            None,
        )
        while True:
            try:
                ready, message = self._readiness(plan, split)
            except ProviderError as err:
                ready, message = False, str(err)
            now = time.monotonic()
            if ready:
                return ReadyResult(True, message, now - start)
            if now >= deadline:
                return ReadyResult(
                    False, f"not ready after {now - start:.0f} s: {message}", now - start
                )
            time.sleep(max(0.0, min(self.poll_interval_s, deadline - now)))

    def _readiness(self, plan: Plan, split: tr.Split | None) -> tuple[bool, str]:
        _, svc = self._read_service()
        served = tr.describe_routes(svc.statuses, svc.latest_ready)
        if split is None:
            return False, "the plan has no traffic change to wait for"
        wanted = tr.served_split(tr.routes_for(split, ()), svc.latest_ready)
        if svc.served != wanted:
            return (
                False,
                f"traffic served is {served}, not {tr.describe_split(sorted(wanted.items()))}",
            )
        if svc.observed_generation < svc.generation or svc.reconciling:
            return False, (
                f"traffic served is right but generation {svc.generation} is not observed yet "
                f"(observed {svc.observed_generation})"
            )
        if not svc.routes_ready:
            why = svc.terminal.describe() if svc.terminal is not None else "RoutesReady failed"
            return False, f"the traffic is not routed yet: {why}"
        to = plan.to_revision.id
        revision_ready = True
        if plan.action != TO_LATEST:
            rev = next((r for r in self._read_revisions() if r.name == to), None)
            revision_ready = rev is not None and rev.is_ready
            if not revision_ready:
                why = rev.ready.describe() if rev is not None and rev.ready else "not found"
                return False, f"revision {to} is not Ready: {why}"
        message = f"{self.cfg.service} serves {served}; generation {svc.generation} observed"
        if svc.terminal is not None and not svc.terminal.ok:
            message += (
                f"; the service's Ready condition is still {svc.terminal.state_name} because of "
                f"its newest revision {svc.latest_created} ({_one_line(svc.terminal.message, 160)})"
            )
        else:
            message += "; Ready"
        if svc.pinned:
            message += (
                f"; traffic is pinned to {to}: later deploys get no traffic until it is sent to "
                f"LATEST (`{tr.shell(self._gcloud(None))}`)"
            )
        return True, message


def _in_progress(svc: tr.ServiceView) -> bool:
    """A change to the service is still being acted on."""
    return svc.reconciling or svc.observed_generation < svc.generation


def _all_latest(state: _State) -> bool:
    """All traffic goes to LATEST (tags aside): nothing for ``to-latest`` to do."""
    return tr.split_of(state.service.traffic) == [(tr.LATEST, 100)]


__all__ = ["GRADUAL", "TO_LATEST", "CloudRunProvider", "GateFailed"]
