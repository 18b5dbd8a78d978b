"""``gitops.suspend`` and ``gitops.resume``: keeping a GitOps controller from undoing a rollback.

A rollback of a Deployment that Argo CD auto-syncs, or that a Flux
Kustomization or HelmRelease reconciles, is put back to what git says a few
minutes later.  With ``[services.kubernetes] gitops = "auto"`` (the default)
the plan's first steps suspend every such controller (``controllers`` finds
them), before anything else changes:

* Argo CD: a JSON patch removing ``/spec/syncPolicy/automated``
  (``argocd app set APP --sync-policy none``);
* Flux: ``spec.suspend: true`` (``flux suspend kustomization|helmrelease``).

Each write is guarded by the object's resourceVersion and also writes the
annotation ``controllers.SUSPENDED_POLICY`` holding what it changed, as it was.
That annotation, on the controller's own object, is what the action
``resume-gitops`` restores from (exactly that policy; ``suspend: false``),
from any console, and what the action list looks for to offer it.  The step's
params keep the same policy for the journal and the entry.

A suspension is never undone by a failed rollback: a controller re-syncing
the broken release in the middle of an incident is worse, so the plan says it
stays suspended and how to re-enable it.  ``gitops = "warn"`` detects and says
so without suspending; ``"off"`` does not look.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

from console.model import Plan, Step, StepKind
from console.runner import Skipped
from providers.base import (
    Conflict,
    InvalidTarget,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    TimedOut,
    Unavailable,
)
from providers.kubernetes import controllers as ctl
from providers.kubernetes.client import JSON, Cluster
from providers.kubernetes.writes import rv_guard

SUSPEND = "gitops.suspend"
RESUME = "gitops.resume"
#: The action restoring what the console suspended, as the CLI names it.
ACTION_RESUME = "resume-gitops"

_JSON_PATCH = "application/json-patch+json"
_MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Guard:
    """What a plan does about the controllers that would undo it."""

    #: The suspension steps (the plan's first ones).
    steps: tuple[Step, ...] = ()
    #: "Who will undo it": one line a controller or release (``Plan.undone_by``).
    undone_by: tuple[str, ...] = ()


class GitOpsPart:
    """Suspends and resumes the GitOps controllers managing one Deployment."""

    ops = frozenset({SUSPEND, RESUME})

    def __init__(self, cluster: Cluster, service_name: str) -> None:
        self.cluster = cluster
        self.service_name = service_name

    @property
    def mode(self) -> str:
        return self.cluster.k8s.gitops

    @property
    def resume_hint(self) -> str:
        return f"`rollback-console action {self.service_name} {ACTION_RESUME}`"

    # ------------------------------------------------------------------ planning

    def read(self, deployment: Mapping[str, Any]) -> ctl.Found:
        """The controllers managing ``deployment`` (nothing when ``gitops = "off"``)."""
        if self.mode == "off":
            return ctl.Found()
        return ctl.read(self.cluster, deployment, self.cluster.k8s.argocd_namespace)

    def guard(self, deployment: Mapping[str, Any], *, what: str = "the rollback") -> Guard:
        """The suspension steps and "who will undo it" lines for a plan changing ``deployment``."""
        found = self.read(deployment)
        steps: list[Step] = []
        lines: list[str] = []
        name = self.cluster.name
        for c in found.controllers:
            kind = c.kind
            by_hand = ctl.suspend_command(self.cluster, kind, c.name, c.namespace)
            if c.obj is None:
                lines.append(
                    f"deployment/{name} is managed by {c.label} ({c.how}), which cannot be read "
                    f"({c.error}): if it syncs by itself it will undo {what}; suspend it by "
                    f"hand: `{by_hand}`"
                )
            elif c.active and self.mode == "auto":
                steps.append(self.suspend_step(c))
                lines.append(
                    f"{c.label} {_syncs(c)}: step {len(steps)} suspends it before {what}, "
                    f"saving {_policy_words(c)}; it stays suspended afterwards, also if {what} "
                    f"fails; re-enable with {self.resume_hint}"
                )
            elif c.active:
                lines.append(
                    f'{c.label} {_syncs(c)} and will undo {what} (gitops = "warn": the console '
                    f"does not suspend it); suspend it first: `{by_hand}`"
                )
            elif c.saved is not None:
                lines.append(
                    f"{c.label} is already suspended by rollback-console (saved: {c.saved}); it "
                    f"stays so; re-enable with {self.resume_hint}"
                )
            elif kind.argocd:
                lines.append(
                    f"{c.label} manages deployment/{name} with manual sync: the next sync of it "
                    f"undoes {what}"
                )
            else:
                lines.append(
                    f"{c.label} manages deployment/{name} and is suspended (not by the console): "
                    f"resuming it undoes {what}"
                )
        lines.extend(found.notes)
        return Guard(tuple(steps), tuple(lines))

    def suspend_step(self, c: ctl.Controller) -> Step:
        kind = c.kind
        if kind.argocd:
            title = (
                f"Suspend auto-sync of {c.label} (remove spec.syncPolicy.automated), saving "
                f"the policy {ctl.compact(c.policy)} in its annotation {ctl.SUSPENDED_POLICY}"
            )
        else:
            title = (
                f"Suspend {c.label} (spec.suspend: true), noted in its annotation "
                f"{ctl.SUSPENDED_POLICY}"
            )
        return Step(
            title=title,
            command=ctl.suspend_command(self.cluster, kind, c.name, c.namespace),
            kind=StepKind.COMMAND,
            op=SUSPEND,
            params=_params(c, c.policy),
        )

    def resume_step(self, c: ctl.Controller, policy: Any) -> Step:
        if c.kind.argocd:
            title = (
                f"Re-enable auto-sync of {c.label} with the policy saved when it was "
                f"suspended: {ctl.compact(policy)}"
            )
        else:
            title = f"Resume {c.label} (spec.suspend: {ctl.compact(policy)}, as it was)"
        return Step(
            title=title,
            command=ctl.resume_command(self.cluster, c.kind, c.name, c.namespace, policy),
            # The step that changes what runs, as far as this action goes: resume asks it.
            kind=StepKind.SWITCH,
            op=RESUME,
            params=_params(c, policy),
        )

    def notes(self, deployment: Mapping[str, Any]) -> tuple[str, ...]:
        """For the dashboard: what the console suspended, and how to re-enable it.

        Read with every snapshot, but only for a Deployment a controller's marks
        name; a controller that cannot be read is left out (the plan says so).
        """
        try:
            found = self.suspended(deployment)
        except ProviderError:
            return ()
        return tuple(
            f"{c.label}: auto-sync suspended by rollback-console (saved: {c.saved}); "
            f"re-enable with {self.resume_hint}"
            for c in found
        )

    def suspended(self, deployment: Mapping[str, Any]) -> list[ctl.Controller]:
        """The controllers of ``deployment`` the console suspended and that are still suspended."""
        return [
            c
            for c in self.read(deployment).controllers
            if c.obj is not None and c.saved is not None and not c.active
        ]

    def resume_plan_steps(self, deployment: Mapping[str, Any]) -> tuple[Step, ...]:
        """``resume-gitops``'s steps; ``InvalidTarget`` when nothing is suspended by the console."""
        if self.mode == "off":
            raise InvalidTarget(
                f'{ACTION_RESUME}: [services.kubernetes] gitops = "off" for {self.service_name}: '
                "the console does not look at GitOps controllers"
            )
        steps = []
        for c in self.suspended(deployment):
            try:
                policy = json.loads(c.saved or "")
            except ValueError:
                raise InvalidTarget(
                    f"{c.label}: its annotation {ctl.SUSPENDED_POLICY} is not JSON "
                    f"({c.saved!r}): restore its policy by hand"
                ) from None
            steps.append(self.resume_step(c, policy))
        if not steps:
            raise InvalidTarget(
                f"nothing managing deployment/{self.cluster.name} is suspended by "
                f"rollback-console: {ACTION_RESUME} has nothing to restore"
            )
        return tuple(steps)

    def dry_run(self, steps: tuple[Step, ...]) -> list[str]:
        """Send each step's patch with ``dryRun=All``; a line a step the API server refused."""
        lines = []
        for index, step in enumerate(steps, start=1):
            kind, name, namespace = _target(step)
            label = f"{kind.title} {name} ({namespace})"
            try:
                obj = self._read(step)
                body, content_type = self._body(step, obj)
                self.cluster.patch_custom(
                    kind.api_version,
                    kind.plural,
                    namespace,
                    name,
                    body,
                    content_type,
                    what=f"dry-run step {index} on {label}",
                    dry_run=True,
                )
            except _Nothing:
                continue
            except ProviderError as err:
                lines.append(
                    f"Dry run: step {index} ({label}) was refused by the API server: {err}; "
                    "the real run stops there"
                )
        return lines

    # ------------------------------------------------------------------ running

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        """Suspend or resume one controller: a fresh read, a guarded patch, read back."""
        kind, name, namespace = _target(step)
        label = f"{kind.title} {name} ({namespace})"
        suspending = step.op == SUSPEND
        obj = self._read(step)
        try:
            body, content_type = self._body(step, obj)
        except _Nothing as nothing:
            return Skipped(str(nothing))
        live = ctl.policy_of(kind, obj)
        if suspending and live != step.params.get("policy"):
            yield (
                f"the policy of {label} changed since the plan: saving the live one, "
                f"{ctl.compact(live)}"
            )
        yield (
            f"PATCH {kind.resource}/{name} -n {namespace} ({content_type}): "
            + ("suspend" if suspending else "restore the saved policy")
            + f", if resourceVersion is still {obj['metadata'].get('resourceVersion')}"
        )
        verb = "the suspension" if suspending else "the resumption"

        def wanted(obj: JSON) -> bool:
            return ctl.is_active(kind, obj) != suspending

        try:
            result = self.cluster.patch_custom(
                kind.api_version,
                kind.plural,
                namespace,
                name,
                body,
                content_type,
                what=("suspend " if suspending else "resume ") + label,
            )
        except (Unavailable, TimedOut) as err:
            result = self._unanswered(step, err, verb, wanted)
            yield (
                f"no answer to the PATCH ({err}), but {label} is as {verb} leaves it when "
                "read again"
            )
        if not wanted(result):
            raise ProviderError(
                f"the API server answered {verb} of {label} with something else: "
                f"{ctl.compact(ctl.policy_of(kind, result))}; check it with kubectl before going on"
            )
        yield f"{kind.resource}/{name} patched"
        if suspending:
            return (
                f"{label} suspended; saved {ctl.compact(live)} in its annotation "
                f"{ctl.SUSPENDED_POLICY}; it stays suspended until {self.resume_hint}"
            )
        if kind.argocd:
            return f"{label} auto-syncs again: automated {ctl.compact(ctl.policy_of(kind, result))}"
        return (
            f"{label} resumed: spec.suspend {ctl.compact(ctl.policy_of(kind, result))}, as it was"
        )

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        """Suspended (automated absent / suspend true) or resumed, read from the live object."""
        kind, name, namespace = _target(step)
        try:
            obj = self.cluster.get_custom(kind.api_version, kind.plural, namespace, name)
        except NotFound:
            return None
        active = ctl.is_active(kind, obj)
        return not active if step.op == SUSPEND else active

    # ------------------------------------------------------------------ internals

    def _read(self, step: Step) -> JSON:
        """The controller's object now, checked to be the one the plan was made for."""
        kind, name, namespace = _target(step)
        obj = self.cluster.get_custom(kind.api_version, kind.plural, namespace, name)
        uid = str(step.params.get("uid") or "")
        if uid and (obj.get("metadata") or {}).get("uid") != uid:
            raise Conflict(
                f"{kind.title} {name} ({namespace}) was deleted and re-created since the plan "
                "was made; look again before retrying"
            )
        return obj

    def _body(self, step: Step, obj: JSON) -> tuple[Any, str]:
        """The patch ``step`` sends to ``obj`` as it is now; ``_Nothing`` when there is none."""
        kind, name, namespace = _target(step)
        label = f"{kind.title} {name} ({namespace})"
        saved = ctl.saved_policy(obj)
        active = ctl.is_active(kind, obj)
        if step.op == SUSPEND:
            if not active:
                raise _Nothing(
                    f"{label} was already suspended by rollback-console (saved: {saved})"
                    if saved is not None
                    else f"{label} was already suspended, not by the console: nothing saved"
                )
            record = ctl.compact(ctl.policy_of(kind, obj))
            if kind.argocd:
                return [
                    rv_guard(obj),
                    {"op": "remove", "path": "/spec/syncPolicy/automated"},
                    *_annotate(obj, record),
                ], _JSON_PATCH
            return {
                "metadata": {
                    "resourceVersion": obj["metadata"]["resourceVersion"],
                    "annotations": {ctl.SUSPENDED_POLICY: record},
                },
                "spec": {"suspend": True},
            }, _MERGE_PATCH
        if active:
            forget = self.cluster.kubectl(
                "annotate", kind.resource, name, f"{ctl.SUSPENDED_POLICY}-", namespace=namespace
            )
            raise _Nothing(
                f"{label} already syncs by itself again ({ctl.compact(ctl.policy_of(kind, obj))}): "
                "left as it is"
                + (f"; the console's saved policy is still on it: `{forget}`" if saved else "")
            )
        policy = step.params.get("policy")
        if kind.argocd:
            sync = (obj.get("spec") or {}).get("syncPolicy")
            restore = (
                {"op": "add", "path": "/spec/syncPolicy/automated", "value": policy}
                if isinstance(sync, dict)
                else {"op": "add", "path": "/spec/syncPolicy", "value": {"automated": policy}}
            )
            unmark = (
                [
                    {
                        "op": "remove",
                        "path": "/metadata/annotations/" + _escaped(ctl.SUSPENDED_POLICY),
                    }
                ]
                if saved is not None
                else []
            )
            return [rv_guard(obj), restore, *unmark], _JSON_PATCH
        return {
            "metadata": {
                "resourceVersion": obj["metadata"]["resourceVersion"],
                "annotations": {ctl.SUSPENDED_POLICY: None},
            },
            "spec": {"suspend": policy},
        }, _MERGE_PATCH

    def _unanswered(
        self, step: Step, err: ProviderError, verb: str, applied: Callable[[JSON], bool]
    ) -> JSON:
        """A patch got no answer: read the object again and say whether it was applied."""
        kind, name, namespace = _target(step)
        label = f"{kind.title} {name} ({namespace})"
        try:
            live = self.cluster.get_custom(kind.api_version, kind.plural, namespace, name)
        except ProviderError as again:
            get = self.cluster.kubectl(
                "get", kind.resource, name, "-o", "yaml", namespace=namespace
            )
            raise OutcomeUnknown(
                f"{err}; whether {verb} of {label} was applied is not known: it could not be "
                f"read again ({again}); check it with `{get}` before going on"
            ) from None
        if applied(live):
            return live
        raise type(err)(
            f"{err}; {label} is unchanged when read again: {verb} was not applied"
        ) from None


class _Nothing(Exception):
    """A step finds nothing to do: the controller is already as the step would leave it."""


def _target(step: Step) -> tuple[ctl.Kind, str, str]:
    params = step.params
    kind = ctl.KINDS.get(str(params.get("controller")))
    if kind is None:
        raise ProviderError(f"step {step.title!r}: unknown controller {params.get('controller')!r}")
    return kind, str(params["name"]), str(params["namespace"])


def _params(c: ctl.Controller, policy: Any) -> dict[str, Any]:
    """What a step journals: the controller, and the policy it saves or restores."""
    return {
        "controller": c.kind.key,
        "name": c.name,
        "namespace": c.namespace,
        "uid": c.uid,
        "policy": policy,
    }


def _escaped(key: str) -> str:
    """A map key as a JSON pointer token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _annotate(obj: JSON, value: str) -> list[JSON]:
    """JSON patch ops setting the console's annotation (creating the map when there is none)."""
    if isinstance((obj.get("metadata") or {}).get("annotations"), dict):
        path = "/metadata/annotations/" + _escaped(ctl.SUSPENDED_POLICY)
        return [{"op": "add", "path": path, "value": value}]
    return [{"op": "add", "path": "/metadata/annotations", "value": {ctl.SUSPENDED_POLICY: value}}]


def _syncs(c: ctl.Controller) -> str:
    """``auto-syncs (automated: {...})`` / ``re-applies git every 10m``."""
    if c.kind.argocd:
        return "auto-syncs from git"
    interval = str(((c.obj or {}).get("spec") or {}).get("interval") or "")
    return f"re-applies git every {interval}" if interval else "re-applies git by itself"


def _policy_words(c: ctl.Controller) -> str:
    if c.kind.argocd:
        return f"its policy automated: {ctl.compact(c.policy)}"
    return f"spec.suspend: {ctl.compact(c.policy)}"
