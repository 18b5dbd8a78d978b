"""The CDN half of a rollback: invalidate the cached copies once the old release serves.

A service with a ``[services.cdn]`` table (any provider) gets one more step
at the end of every plan that switches something (a rollback, a gradual
move, an image rollback): ``cdn.invalidate``, a CloudFront invalidation of
``paths`` (runbook 002: "CDN のキャッシュを削除").  Without it the CDN keeps
serving what the broken release answered until the cache expires.

The step first waits until the platform says the target serves (its own
``wait_ready``: invalidating while the broken release still answers would
cache it again), then creates the invalidation, never twice (its caller
reference, chosen when the plan is made and journaled with it, is looked up
before anything is sent and after an answer is lost), and waits until
CloudFront reports it ``Completed``, at most ``timeout_s``.  The
invalidation's id and how it ended go into the history entry's notes.

``CdnSide`` is the plan part owning ``cdn.invalidate``; the backend
(``providers.cdn``) is reached through the registry, so nothing here
imports boto3.
"""

from __future__ import annotations

import dataclasses
import queue
import secrets
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from console.config import ServiceConfig
from console.incident import Incident
from console.model import Plan, ReadyResult, Step, StepKind, utcnow
from console.redact import Redactor
from console.runner import Skipped
from providers import load_cdn
from providers.base import Provider, ProviderError

if TYPE_CHECKING:
    from providers.cdn import CloudFrontInvalidations


@dataclass
class CdnSide:
    """The CDN part of one incident's plans (see the module doc)."""

    service: ServiceConfig
    incident: Incident
    redact: Callable[[str], str] = field(default_factory=Redactor)
    #: The service's provider: its ``wait_ready`` says when the target serves.
    platform: Provider | None = None
    backend: CloudFrontInvalidations = field(init=False)
    ops: frozenset[str] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        self.backend = load_cdn(self.service)
        self.ops = self.backend.ops

    # ----------------------------------------------------------------- planning

    def extend(self, plan: Plan) -> Plan:
        """``plan`` with the invalidation as its last step, when it switches something."""
        if not any(s.kind is StepKind.SWITCH for s in plan.steps):
            return plan
        if any(s.op in self.ops for s in plan.steps):
            return plan
        reference = f"rollback-console-{self.incident.id}-{secrets.token_hex(4)}"
        serves = (
            f"{plan.service} ({plan.environment}) serves {plan.to_revision.version}"
            if plan.action == "rollback"
            else f"{plan.action} has taken effect"
        )
        step = self.backend.step(reference, utcnow(), serves)
        return dataclasses.replace(plan, steps=(*plan.steps, step))

    # ----------------------------------------------------------------- running

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        params = step.params
        yield from self._until_serving(self.incident.plan or plan)
        created = yield from self.backend.create(params)
        distribution = params["distribution_id"]
        paths = ", ".join(str(p) for p in params["paths"])
        self.incident.journal_event(
            "cdn-invalidation", id=created.id, distribution=distribution, status=created.status
        )
        yield f"invalidation {created.id} of {distribution}: {created.status}"
        started = time.monotonic()
        seen = yield from self.backend.wait(params, created)
        waited = time.monotonic() - started
        if seen.completed:
            self._note(
                f"CDN invalidation {seen.id} of CloudFront {distribution} ({paths}): Completed "
                f"(waited {waited:.0f} s)"
            )
            return f"invalidation {seen.id} Completed"
        look = self.backend.get_command(params, seen.id)
        self._note(
            f"CDN invalidation {seen.id} of CloudFront {distribution} ({paths}): still "
            f"{seen.status} after {waited:.0f} s, not seen Completed; it goes on by itself "
            f"(`{look}`)"
        )
        return Skipped(
            f"invalidation {seen.id} still {seen.status} after {waited:.0f} s (timeout_s); "
            f"it goes on by itself: `{look}`"
        )

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        """Whether CloudFront has the step's invalidation (by its caller reference)."""
        return self.backend.find(step.params) is not None

    def _until_serving(self, plan: Plan) -> Generator[str, None, None]:
        """Wait (in a worker thread, its lines relayed) until the platform says the plan's
        target serves; not ready in time, the invalidation goes ahead, saying so."""
        platform = self.platform
        if platform is None:
            return
        lines: queue.Queue[str] = queue.Queue()
        result: list[ReadyResult] = []

        def wait() -> None:
            try:
                result.append(
                    platform.wait_ready(plan, self.service.ready_timeout_s, on_progress=lines.put)
                )
            except ProviderError as err:  # wait_ready never raises; a bug must not hang us
                result.append(ReadyResult(False, str(err)))

        worker = threading.Thread(target=wait, name="cdn-wait-ready", daemon=True)
        worker.start()
        yield f"waiting until {plan.to_revision.version} serves before invalidating"
        while worker.is_alive() or not lines.empty():
            try:
                yield self.redact(lines.get(timeout=0.1))
            except queue.Empty:
                continue
        ready = result[0] if result else ReadyResult(False, "no answer")
        if ready.ready:
            yield f"serving: {self.redact(ready.message)}"
        else:
            yield (
                f"the platform was not seen ready ({self.redact(ready.message)}); invalidating "
                "anyway: a broken answer left in the cache is served for sure"
            )

    def _note(self, text: str) -> None:
        note = self.redact(text)
        self.incident.notes.append(note)
        self.incident.journal_event("note", note=note)
