"""What every write to the Deployment shares: a fresh read, a guard, and no blind retry.

Each write starts from a fresh read of the Deployment, checked to be the one
the plan was made for (same uid), and is guarded by the resourceVersion just
read, so a change made by someone else in between is a 409 (``Conflict``)
instead of being silently overwritten.

A write that got no answer (a timeout, a reset connection, a 5xx) may or may
not have been applied: the Deployment is read again and the step says which.
It carries on when the write's result is there (the write, or an identical
one, went through) and fails with "not applied" when it is not; it is never
sent a second time.  When it cannot be read again either, that is
``OutcomeUnknown``: the incident stays open for ``resume``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from providers.base import Conflict, NotFound, OutcomeUnknown, ProviderError
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import JSON, Cluster


def rv_guard(deployment: Mapping[str, Any]) -> JSON:
    """A JSON patch op that makes the write conditional on what was read (409 if stale)."""
    return {
        "op": "replace",
        "path": "/metadata/resourceVersion",
        "value": str(deployment["metadata"]["resourceVersion"]),
    }


def fresh(cluster: Cluster, uid: str) -> JSON:
    """The Deployment re-read for a write, checked to be the one with ``uid`` ("" = any)."""
    d = cluster.get_deployment()
    if uid and d["metadata"].get("uid") != uid:
        raise Conflict(
            f"deployment/{cluster.name} was deleted and re-created since the plan "
            "was made; look again before retrying"
        )
    return d


def unanswered(
    cluster: Cluster, err: ProviderError, what: str, before: JSON, applied: Callable[[JSON], bool]
) -> JSON:
    """A write got no answer (timeout, reset, 5xx): was it applied?  Read it again.

    Returns the Deployment when ``applied`` says so; otherwise raises ``err``'s
    kind, saying what the Deployment runs now, or ``OutcomeUnknown``.
    """
    live = read_again(cluster, err, what)
    if applied(live):
        return live
    version = cluster.version(ro.template_of(live))[0]
    if ro.equal_ignore_hash(ro.template_of(live), ro.template_of(before)):
        found = f"deployment/{cluster.name} still runs {version} when read again"
    else:
        found = f"deployment/{cluster.name} now runs {version} (someone else changed it)"
    raise type(err)(f"{err}; {found}: {what} was not applied") from None


def unanswered_create(cluster: Cluster, err: ProviderError, manifest: JSON) -> JSON:
    """A create got no answer: does the Deployment exist now, and with the saved template?

    Retrying blindly is no answer either way: a create that was applied would
    meet 409 AlreadyExists and look like someone else's doing.
    """
    name = cluster.name
    try:
        live = read_again(cluster, err, "the saved manifest", missing_ok=True)
    except NotFound:
        raise type(err)(
            f"{err}; deployment/{name} still does not exist when read again: "
            "the saved manifest was not applied"
        ) from None
    if ro.equal_ignore_hash(ro.template_of(live), ro.template_of(manifest)):
        return live
    version = cluster.version(ro.template_of(live))[0]
    raise Conflict(
        f"{err}; deployment/{name} exists now but runs {version} (someone else created it): "
        "the saved manifest was not applied"
    ) from None


def read_again(
    cluster: Cluster, err: ProviderError, what: str, *, missing_ok: bool = False
) -> JSON:
    """The Deployment, read after a write of ``what`` got no answer.

    ``NotFound`` when it does not exist and ``missing_ok``; ``OutcomeUnknown``
    when it cannot be read: the write may or may not have landed, and ``resume`` is
    the way to find out once the API answers.
    """
    name = cluster.name
    try:
        return cluster.get_deployment()
    except ProviderError as error:
        if missing_ok and isinstance(error, NotFound):
            raise
        again = error
    get = cluster.kubectl("get", f"deployment/{name}", "-o", "yaml")
    raise OutcomeUnknown(
        f"{err}; whether {what} was applied is not known: deployment/{name} could not "
        f"be read again ({again}); check it with `{get}` before retrying"
    ) from None
