"""The provider contract (``providers.base``), checked the same way on every platform.

Each test runs on the host (the demo sandbox), Kubernetes (the fake API
server), ECS (moto), Cloud Run (the fake Cloud Run API) and the load balancer
(moto's ELBv2), each brought up by
the one ``platform`` fixture (``tests.fakes.platforms``) and reached only
through the public interface: ``load_provider(service)``, then ``snapshot``,
``plan``, ``execute``, ``wait_ready``, and ``parts()`` where the provider has
them.  What the platform runs is read from the platform itself
(``Platform.live``), never from the provider under test.

What every provider promises:

* planning to the live revision is ``InvalidTarget``, to an unknown one ``NotFound``;
* a dry run changes nothing, and a dry-run plan is never executed;
* executing reports, step after step, STARTED ... then FINISHED or SKIPPED, and
  leaves the target live;
* ``wait_ready`` never raises: out of time, or with the platform gone, it says
  "not ready" and why;
* building a provider does no I/O: only reading the platform fails when it is
  out of reach, with a ``ProviderError``;
* each step of a rollback that can tell whether it took effect says no before
  it ran and yes after (the question ``resume`` asks);
* a change whose answer was lost, when the platform cannot be read back either,
  is ``OutcomeUnknown`` and never reported FAILED.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from console.model import Plan, ProgressEvent, ProgressStatus, ReadyResult, Snapshot, StepKind
from console.poll import poll_until
from console.runner import owner_of
from providers import REGISTRY, load_provider
from providers.base import (
    InvalidTarget,
    NotFound,
    OutcomeUnknown,
    Provider,
    ProviderError,
    SupportsParts,
)
from tests.conftest import REPO
from tests.fakes.platforms import (  # noqa: F401 - fixtures
    PLATFORMS,
    Platform,
    cloudrun_server,
    contract_sandbox,
    platform_fixture,
)
from tests.providers.test_ecs import one_line
from tests.providers.test_ecs_parts import journaled

#: How long a rollout that should finish is given (a bound, never an expectation).
READY_S = 30.0
#: A time limit too short for any rollout to finish in.
TINY_S = 0.2
#: Where the platform is reached over a network, and so can lose an answer.
OVER_HTTP = [
    pytest.param(
        "host",
        marks=pytest.mark.skip(
            reason="the host switch is a rename(2) on this machine: no answer to lose, "
            "so no OutcomeUnknown case"
        ),
    ),
    "kubernetes",
    "ecs",
    "cloudrun",
    "alb",
]


def provider_for(platform: Platform) -> Provider:
    made = load_provider(platform.service)
    assert made.name == platform.service.provider
    return made


def comparable(snap: Snapshot) -> Snapshot:
    """``snap`` without the moment it was taken (everything else is the platform's state)."""
    return dataclasses.replace(snap, taken_at=datetime(2000, 1, 1, tzinfo=UTC))


def run(provider: Provider, plan: Plan) -> list[ProgressEvent]:
    return list(provider.execute(plan))


def run_until_error(
    provider: Provider, plan: Plan
) -> tuple[list[ProgressEvent], BaseException | None]:
    events: list[ProgressEvent] = []
    try:
        for event in provider.execute(plan):
            events.append(event)
    except Exception as err:
        return events, err
    return events, None


def assert_in_order(plan: Plan, events: list[ProgressEvent]) -> None:
    """Step 0, then 1, ...: each STARTED, then OUTPUT lines, then FINISHED or SKIPPED."""
    runs: list[list[ProgressEvent]] = []
    for event in events:
        if runs and runs[-1][0].step == event.step:
            runs[-1].append(event)
        else:
            runs.append([event])
    story = [(e.step, e.status.value, e.message[:80]) for e in events]
    assert [r[0].step for r in runs] == list(range(len(plan.steps))), story
    for steps in runs:
        assert steps[0].status is ProgressStatus.STARTED, story
        assert steps[-1].status in (ProgressStatus.FINISHED, ProgressStatus.SKIPPED), story
        assert all(e.status is ProgressStatus.OUTPUT for e in steps[1:-1]), story


def eventually_live(platform: Platform, version: str) -> str:
    """What the platform runs once it runs ``version`` (or, after the bound, what it runs)."""
    result = poll_until(
        lambda _left: (platform.live() == version, platform.live()), READY_S, interval_s=0.05
    )
    return version if result.ready else platform.live()


# --------------------------------------------------------------------------- planning


def test_planning_to_the_live_revision_is_an_invalid_target(platform: Platform) -> None:
    provider = provider_for(platform)
    with pytest.raises(InvalidTarget) as err:
        provider.plan(platform.current)
    one_line(err.value)


def test_planning_to_an_unknown_revision_is_not_found(platform: Platform) -> None:
    provider = provider_for(platform)
    with pytest.raises(NotFound) as err:
        provider.plan(platform.unknown)
    assert platform.unknown in one_line(err.value)


def test_a_dry_run_changes_nothing_and_is_never_executed(platform: Platform) -> None:
    provider = provider_for(platform)
    live = platform.live()
    before = comparable(provider.snapshot())

    plan = provider.plan(None, dry_run=True)

    assert plan.dry_run and plan.steps
    assert plan.to_revision.id == platform.previous
    assert platform.live() == live
    assert comparable(provider.snapshot()) == before

    events, error = run_until_error(provider, plan)

    assert isinstance(error, ProviderError), error
    one_line(error)
    assert events == [], "a step of a dry-run plan was started"
    assert platform.live() == live
    assert comparable(provider.snapshot()) == before


# --------------------------------------------------------------------------- executing


def test_executing_reports_every_step_in_order_and_leaves_the_target_live(
    platform: Platform,
) -> None:
    provider = provider_for(platform)
    plan = provider.plan(None)
    assert plan.to_revision.id == platform.previous
    assert platform.live() != plan.to_revision.version

    events = run(provider, plan)

    assert_in_order(plan, events)
    assert platform.live() == plan.to_revision.version
    ready = provider.wait_ready(plan, READY_S)
    assert ready.ready, ready.message
    assert platform.live() == plan.to_revision.version


# --------------------------------------------------------------------------- waiting


@pytest.mark.parametrize("situation", ["rollout never started", "platform gone"])
def test_wait_ready_never_raises_and_says_why_it_is_not_ready(
    platform: Platform, situation: str
) -> None:
    """A rollout that cannot finish in the time given (it was planned, never run), or a
    platform that no longer answers: "not ready", with the reason, never an exception."""
    plan = provider_for(platform).plan(None)
    waiter = provider_for(platform)
    if situation == "platform gone":
        waiter = load_provider(platform.unreachable)

    result = waiter.wait_ready(plan, TINY_S)

    assert isinstance(result, ReadyResult)
    assert not result.ready
    assert result.message and "\n" not in result.message, result.message
    assert platform.live() != plan.to_revision.version


# --------------------------------------------------------------------------- construction


def test_construction_does_no_io_only_reading_the_platform_fails(platform: Platform) -> None:
    provider = load_provider(platform.unreachable)  # nothing there: no I/O, no error

    assert provider.name == platform.unreachable.provider
    with pytest.raises(ProviderError) as err:
        provider.snapshot()
    one_line(err.value)


# --------------------------------------------------------------------------- resume


def test_each_step_that_can_tell_took_effect_after_it_ran_and_not_before(
    platform: Platform,
) -> None:
    provider = provider_for(platform)
    if not isinstance(provider, SupportsParts):
        pytest.skip(
            f"the {platform.name} provider has no parts() yet (its conversion to typed "
            "parts is pending): no step can be asked whether it took effect"
        )
    parts = provider.parts()
    plan = provider.plan(None)
    before = {i: owner_of(s, parts).took_effect(s, plan) for i, s in enumerate(plan.steps)}
    telling = [i for i, answer in before.items() if answer is not None]
    assert telling, f"no step of {[s.op for s in plan.steps]} can tell whether it took effect"
    assert all(before[i] is False for i in telling), before

    run(provider, plan)
    ready = provider.wait_ready(plan, READY_S)
    assert ready.ready, ready.message

    for seen in (plan, journaled(plan)):  # as this console has it, and as resume reads it
        after = {
            i: owner_of(seen.steps[i], parts).took_effect(seen.steps[i], seen) for i in telling
        }
        assert all(after[i] is True for i in telling), (seen is plan, after)


# --------------------------------------------------------------------------- a lost answer


@pytest.mark.parametrize("platform", OVER_HTTP, indirect=True)
def test_a_lost_answer_is_outcome_unknown_never_failed(platform: Platform) -> None:
    """The platform applies the switch and its answer is lost; reading the service back
    fails too.  Neither "done" nor "failed" would be true: ``OutcomeUnknown``, the step
    left started (resume settles it), nothing reported FAILED."""
    assert platform.lose_answer is not None
    with platform.lose_answer() as service:
        provider = load_provider(service)
        plan = provider.plan(None)
        events, error = run_until_error(provider, plan)

    story = [(e.step, e.status.value, e.message[:120]) for e in events]
    assert isinstance(error, OutcomeUnknown), (error, story)
    one_line(error)
    assert not [e for e in events if e.status is ProgressStatus.FAILED], story
    switch = next(i for i, s in enumerate(plan.steps) if s.kind is StepKind.SWITCH)
    statuses = [e.status for e in events if e.step == switch]
    assert statuses[0] is ProgressStatus.STARTED, story
    assert ProgressStatus.FINISHED not in statuses, story
    assert all(e.step <= switch for e in events), "a step after the unknown one ran"
    # The scenario is the one meant: the change did reach the platform.
    assert eventually_live(platform, plan.to_revision.version) == plan.to_revision.version


#: Providers held to the same contract elsewhere, and why not here.
ELSEWHERE = {
    # A real Swarm (dockerd), not a fake behind the fault proxy: tests/swarm holds the
    # same promises (anchored target, lock, SIGKILL + resume, not-verified entry).
    "swarm": "tests/swarm",
}


def test_every_platform_is_in_the_contract() -> None:
    """The suite's list is the registry's: a new provider joins the contract (or says
    where it is held to it)."""
    assert sorted([*PLATFORMS, *ELSEWHERE]) == sorted(REGISTRY)
    assert all((REPO / where).is_dir() for where in ELSEWHERE.values())
