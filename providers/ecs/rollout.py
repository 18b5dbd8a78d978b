"""Waiting for the rollout: one poll loop for the wait steps and for ``wait_ready``.

A wait means what ``aws ecs wait services-stable`` means (one deployment
left, running == desired), made stricter in two ways the waiter is not: a
deployment whose ``rolloutState`` is FAILED (the circuit breaker gave up) is
a failure, not "stable", and the deployment left must run the planned task
definition.  Progress is reported while waiting; a rollout that does not
settle within the step's time limit is reported as such, never as done.

Once UpdateService has answered, the change is made (its answer is the
proof): reads of the rollout that fail after that (throttling, a reset or
hung connection, a 5xx) are reported and polled again until the time limit,
each poll given at most a tenth of it and no retries of its own, so a flaky
API makes the rollback "not verified", never "failed", and never holds the
wait past its limit.

Polls come quickly at first (a rollout that is already done is seen at
once), then back off to ``poll_interval_s``.  Everything a wait needs is in
its step's params: the task definition (an image rollback's copy that ECS
numbered otherwise is recognised by its image), the deployment a forced
deployment must replace, or the RDS instance a restore creates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

from console.errors import ProviderError, TimedOut, Unavailable
from console.model import Plan, ReadyResult, Step
from console.runner import Skipped
from providers.ecs.client import EcsApi
from providers.ecs.legacy import typed_steps
from providers.ecs.rds import restore_state
from providers.ecs.read import EcsReader
from providers.ecs.refs import td_key
from providers.ecs.steps import WAIT, WAIT_RDS, last_wait

#: The first pause between two polls; it doubles up to ``poll_interval_s``.
FIRST_POLL_S = 0.5

#: A check: ("ready" | "waiting" | "failed", what was seen).
Check = Callable[[], tuple[str, str]]


@dataclass(frozen=True)
class Watched:
    """How a wait ended: "ready", "failed" or (time up) "waiting", what was seen, how long."""

    state: str
    message: str
    waited_s: float


def watch(check: Check, timeout_s: float, interval_s: float) -> Generator[str, None, Watched]:
    """Poll ``check`` until it is ready or failed, or ``timeout_s`` passed.

    Yields each new "waiting" line.  A read that fails for a while (throttled,
    unreachable, no answer) is "waiting" with its reason; any other
    ``ProviderError`` of ``check`` is raised.
    """
    started = time.monotonic()
    deadline = started + max(0.0, timeout_s)
    last = ""
    pause = FIRST_POLL_S
    while True:
        try:
            state, message = check()
        except (Unavailable, TimedOut) as err:
            # The change is made; only reading its progress failed: say so, poll again.
            state, message = "waiting", f"could not read the rollout: {err}"
        if state in ("ready", "failed"):
            return Watched(state, message, time.monotonic() - started)
        if message != last:
            yield message
            last = message
        left = deadline - time.monotonic()
        if left <= 0:
            return Watched("waiting", message, time.monotonic() - started)
        time.sleep(min(pause, left, interval_s))
        pause = min(interval_s, pause * 2)


def _key(step: Step) -> str:
    return json.dumps({"op": step.op, **step.params}, sort_keys=True, default=str)


class Rollouts:
    """The rollout of the service (and a restore's new instance) as the waits see it."""

    def __init__(self, api: EcsApi, reader: EcsReader) -> None:
        self.api = api
        self.reader = reader
        #: Planned task-definition key -> the one ECS really registered, when they differ.
        self.registered: dict[str, str] = {}
        #: Wait steps that ran out of time (``wait_ready`` then looks only once more).
        self._gave_up: set[str] = set()

    def target(self, planned: str) -> str:
        """The task definition a step planned for ``planned`` means now (see ``registered``)."""
        return self.registered.get(planned, planned)

    # ------------------------------------------------------------------ states

    def service_state(self, params: Mapping[str, Any]) -> tuple[str, str]:
        """("ready" | "waiting" | "failed", what was seen) of the rollout a wait step waits for."""
        state = self.reader.read(poll=True)
        target = self.target(str(params["task_definition"]))
        image = str(params.get("image") or "")
        if state.key != target and image and self.reader.main_image(state.task_definition) == image:
            # An image rollback's copy that ECS numbered otherwise than planned, seen by
            # a console that did not register it (a resumed one): the image decides.
            target = state.key
        deployments = state.deployments
        primary = state.primary()
        name = str(params.get("service") or self.api.cfg.service)
        if primary is None:
            return "waiting", f"{name} reports no PRIMARY deployment yet"
        primary_key = td_key(str(primary.get("taskDefinition", "")))
        reason = str(primary.get("rolloutStateReason") or "")
        if primary.get("rolloutState") == "FAILED":
            return "failed", (
                f"the deployment of {primary_key} FAILED"
                + (f": {reason}" if reason else "")
                + f"; {name} runs {state.key}"
            )
        if state.key != target:
            # The service itself names another task definition: not ours to wait for.
            now = (
                f"runs {state.key}"
                if primary_key == state.key
                else f"points at {state.key} (PRIMARY deployment still on {primary_key})"
            )
            return "failed", (
                f"{name} now {now}, not {target}: it was changed by someone else "
                "or rolled back by the circuit breaker" + (f" ({reason})" if reason else "")
            )
        if primary_key != target:
            return "waiting", (
                f"{name} points at {target} but ECS has not started its deployment yet "
                f"(PRIMARY still {primary_key})"
            )
        before = str(params.get("deployment_before") or "")
        if before and primary.get("id") == before:
            return "waiting", f"ECS has not started the new deployment of {name} yet"
        desired = int(primary.get("desiredCount", 0))
        running = int(primary.get("runningCount", 0))
        rollout = primary.get("rolloutState")
        if len(deployments) == 1 and running == desired and rollout in (None, "COMPLETED"):
            return "ready", (
                f"{name} is stable: one deployment ({target}), {running} of {desired} tasks "
                "running" + (", rollout COMPLETED" if rollout else "")
            )
        lines = "; ".join(
            f"{d.get('status')} {self.reader.deployment_line(d)}" for d in deployments
        )
        return "waiting", f"{len(deployments)} deployment(s): {lines}"

    def state_of(self, step: Step) -> tuple[str, str]:
        """What ``step`` (a wait) waits for, as it is now."""
        if step.op == WAIT_RDS:
            return restore_state(self.api, str(step.params["instance"]))
        if step.op == WAIT:
            return self.service_state(step.params)
        raise ProviderError(f"step {step.title!r} ({step.op or 'untyped'}) is not a wait")

    # ------------------------------------------------------------------ waiting

    def run_wait(self, step: Step) -> Generator[str, None, str]:
        """A wait step: its progress lines, then the line it ended on (``Skipped`` when the
        time ran out); ``ProviderError`` when the rollout failed."""
        watched = yield from watch(
            lambda: self.state_of(step), step.timeout_s, self.api.poll_interval_s
        )
        if watched.state == "failed":
            raise ProviderError(watched.message)
        if watched.state == "waiting":
            self._gave_up.add(_key(step))
            return Skipped(
                f"stopped waiting after {watched.waited_s:.0f} s, not settled: {watched.message}"
            )
        return watched.message

    def wait_ready(
        self,
        plan: Plan,
        timeout_s: float,
        on_progress: Callable[[str], None] | None = None,
    ) -> ReadyResult:
        """Poll until the plan's last wait settled, FAILED, or ``timeout_s`` passed.

        When that wait step already ran out of time here, this looks once more
        instead of waiting a second full period.  AWS errors while polling are
        retried until the time limit and then reported as the reason; never raises.
        """
        started = time.monotonic()
        step = last_wait(typed_steps(plan, self.api))
        if step is None:
            return ReadyResult(False, "this plan has no step that says what to wait for", 0.0)
        gave_up = _key(step) in self._gave_up
        budget = 0.0 if gave_up else timeout_s
        lines = watch(lambda: self.state_of(step), budget, self.api.poll_interval_s)
        try:
            while True:
                line = next(lines)
                if on_progress is not None:
                    on_progress(line)
        except StopIteration as stop:
            watched: Watched = stop.value
        except ProviderError as err:
            waited = time.monotonic() - started
            return ReadyResult(False, f"could not read the rollout: {err}", waited)
        if watched.state == "ready":
            return ReadyResult(True, watched.message, watched.waited_s)
        if watched.state == "failed":
            return ReadyResult(False, watched.message, watched.waited_s)
        limit = step.timeout_s if gave_up else timeout_s
        return ReadyResult(
            False, f"not settled within {limit:.0f} s: {watched.message}", watched.waited_s
        )
