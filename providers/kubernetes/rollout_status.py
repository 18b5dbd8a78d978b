"""Waiting for a rollout: ``kubectl rollout status``, and still ours.

``wait_ready`` polls the Deployment and decides exactly as ``kubectl rollout
status`` does (``rollout.rollout_status``), and checks the Deployment still
carries what the plan's step put there (its params: the template's digest, or
the ``restartedAt`` value): someone else's rollout is not ours.  A
Progressing condition with ``ProgressDeadlineExceeded`` ends the wait at
once, not ready.  Each read is given at most what is left of the wait (at
least a second), so an API server that stops answering ends the wait at its
timeout, not a request time limit later.

Not ``console.poll.poll_until``: this wait also ends early, not ready (a
failed rollout, someone else's), which that loop never does.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from console.model import Plan, ReadyResult
from providers.base import ProviderError
from providers.kubernetes import legacy, ops
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import JSON, Cluster

#: The least time a read inside ``wait_ready`` is given, however little of the wait is left.
MIN_WAIT_READ_S = 1.0
#: How often ``wait_ready`` reads the Deployment again.
POLL_INTERVAL_S = 0.5
#: At most one pod listing for rollout warnings per this many seconds while waiting.
WARNING_EVERY_S = 5.0


def wait_ready(
    cluster: Cluster,
    plan: Plan,
    timeout_s: float,
    *,
    interval_s: float = POLL_INTERVAL_S,
    on_progress: Callable[[str], None] | None = None,
) -> ReadyResult:
    """Poll like ``kubectl rollout status`` until done, failed, or ``timeout_s``.

    ``on_progress`` (optional) receives each new status line as it changes.
    """
    start = time.monotonic()
    deadline = start + max(0.0, timeout_s)
    last = ""
    warning, warned_at = "", -WARNING_EVERY_S

    def left() -> float:
        """What one read may take: the rest of the wait, at least MIN_WAIT_READ_S."""
        return max(MIN_WAIT_READ_S, deadline - time.monotonic())

    while True:
        try:
            d = cluster.get_deployment(limit_s=left())
        except ProviderError as err:
            done, failed, message = False, False, f"cannot read the Deployment: {err}"
        else:
            done, failed, message = ro.rollout_status(d)
            mismatch = not_ours(cluster, plan, d, limit_s=left())
            if mismatch:
                return ReadyResult(False, mismatch, time.monotonic() - start)
            if done or failed:
                warning = ""
            elif time.monotonic() - warned_at >= WARNING_EVERY_S:
                warned_at = time.monotonic()
                warning = _rollout_warning(cluster, d, limit_s=left())
            if warning:
                message = f"{message} ({warning})"
        # After the reads: a read that hung until the deadline ends the wait now.
        now = time.monotonic()
        if message != last:
            last = message
            if on_progress is not None:
                on_progress(message)
        if failed:
            return ReadyResult(False, message, now - start)
        if done:
            return ReadyResult(True, _ready_message(cluster, message, d), now - start)
        if now >= deadline:
            return ReadyResult(
                False, f"not ready after {now - start:.0f} s: {message}", now - start
            )
        time.sleep(max(0.0, min(interval_s, deadline - now)))


def not_ours(cluster: Cluster, plan: Plan, d: JSON, limit_s: float | None = None) -> str:
    """Why the Deployment no longer carries what the plan put there ("" when it does)."""
    step = ops.effect_step(plan)
    if step is None:
        expected = legacy.target_template(cluster, plan, d, limit_s)
        if expected is None:
            return ""
        want = ro.template_digest(expected)
    elif step.op == ops.RESTART:
        if ro.restarted_at(d) != ops.text(step.params, "restarted_at"):
            return (
                f"deployment/{cluster.name} was changed again after the restart: "
                "someone else is rolling it out"
            )
        return ""
    else:
        want = ops.text(step.params, "template_hash")
    if ro.template_digest(ro.template_of(d)) != want:
        now = cluster.version(ro.template_of(d))[0]
        return (
            f"deployment/{cluster.name} was changed again after the rollback (it now "
            f"has {now}, not {plan.to_revision.version}): someone else is rolling it out"
        )
    return ""


def _rollout_warning(cluster: Cluster, d: JSON, limit_s: float | None = None) -> str:
    try:
        pods = cluster.pods(d, limit_s=limit_s)
    except ProviderError:
        return ""
    return ro.rollout_warning(pods)


def _ready_message(cluster: Cluster, message: str, d: JSON) -> str:
    revision = ro.annotations_of(d).get(ro.REVISION, "?")
    version = cluster.version(ro.template_of(d))[0]
    return f"{message}: revision {revision} ({version})"
