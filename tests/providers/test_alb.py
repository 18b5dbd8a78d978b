"""The load balancer provider (``provider = "alb"``) against moto's ELBv2.

Blue/green at a listener (and at one of its rules): the snapshot, a rollback
that forwards 100% back to the previous target group, the refusal of a
group without healthy targets, ``gradual`` with the health gate shared with
Cloud Run and its auto-revert, someone else's change, "What changes", and a
switch whose answer is lost.  Where the listener forwards is always read back
from moto itself (``ElbWorld.forwarded``), never through the provider.

Played by hand because moto does not: target health (every target of moto
is ``healthy``; ``ElbWorld.set_health`` sets what DescribeTargetHealth
answers).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.config import ErrorRateConfig, HealthCheck, ServiceConfig
from console.config.error_rate import ALB_ERROR_RATE
from console.model import Plan, ProgressEvent, ProgressStatus, StepKind
from console.runner import owner_of
from console.signals import make_error_rate_source
from console.signals.cloudwatch import CloudWatchSource
from providers import load_provider
from providers.alb import GRADUAL, AlbProvider, GateFailed
from providers.base import Conflict, InvalidTarget, NotFound, OutcomeUnknown, ProviderError
from providers.gate import GateRequest, GateVerdict
from tests.aws.elb import AlbTraffic, ElbWorld, elb_world
from tests.aws.faults import AwsFaultProxy
from tests.providers.test_ecs import one_line
from tests.providers.test_ecs_parts import journaled
from tests.signals import FlipServer, failing, healthy


@pytest.fixture
def elb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ElbWorld]:
    yield from elb_world(monkeypatch, tmp_path)


@pytest.fixture
def health() -> Iterator[FlipServer]:
    srv = FlipServer(healthy)
    yield srv
    srv.close()


def provider(service: ServiceConfig, **kw: Any) -> AlbProvider:
    made = AlbProvider(service, **kw)
    made.poll_interval_s = 0.05
    return made


def run(p: AlbProvider, plan: Plan) -> list[ProgressEvent]:
    return list(p.execute(plan))


def run_failing(p: AlbProvider, plan: Plan) -> tuple[list[ProgressEvent], BaseException | None]:
    events: list[ProgressEvent] = []
    try:
        for event in p.execute(plan):
            events.append(event)
    except ProviderError as err:
        return events, err
    return events, None


def sent_weights(command: str) -> dict[str, int]:
    """The weights a shown ``aws elbv2 modify-…`` command sends, by target group ARN."""
    words = shlex.split(command)
    flag = "--actions" if "--actions" in words else "--default-actions"
    actions = json.loads(words[words.index(flag) + 1])
    forward = next(a for a in actions if a["Type"] == "forward")
    return {g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]}


class Gates:
    """A gate that records what it was asked and answers as told."""

    def __init__(self, *verdicts: bool) -> None:
        self.verdicts = list(verdicts)
        self.asked: list[int] = []

    def __call__(self, request: GateRequest) -> GateVerdict:
        self.asked.append(request.percent)
        passed = self.verdicts.pop(0) if self.verdicts else True
        return GateVerdict(passed, "as the test said" if passed else "the test said no")


# --------------------------------------------------------------------------- reading


def test_snapshot_shows_groups_as_revisions_targets_as_units_and_the_forward(
    elb: ElbWorld,
) -> None:
    snap = provider(elb.service()).snapshot()

    assert snap.current is not None and snap.current.id == "green"
    assert snap.current.version == "v1.3.0"  # the group's version tag
    assert [(r.id, r.version, r.current) for r in snap.revisions] == [
        ("green", "v1.3.0", True),
        ("blue", "v1.2.9", False),
    ]
    assert snap.previous() is not None and snap.previous().id == "blue"  # type: ignore[union-attr]
    assert sorted((u.name, u.state, u.ready) for u in snap.units) == [
        ("blue/10.0.1.10:8080", "healthy", True),
        ("blue/10.0.2.10:8080", "healthy", True),
        ("green/10.0.1.11:8080", "healthy", True),
        ("green/10.0.2.11:8080", "healthy", True),
    ]
    assert [(t.revision, t.percent) for t in snap.traffic] == [("green", 100)]
    facts = dict(snap.facts)
    assert facts["forwards"] == "green 100%"
    assert facts["target group blue"] == "2 of 2 targets healthy"
    assert facts["load balancer"].startswith("app/web-alb/")


def test_an_unhealthy_target_is_a_unit_that_is_not_ready_with_the_reason(elb: ElbWorld) -> None:
    elb.set_health("blue", "unhealthy", "Target.Timeout", "Request timed out", target="10.0.1.10")

    snap = provider(elb.service()).snapshot()

    unit = next(u for u in snap.units if u.name == "blue/10.0.1.10:8080")
    assert (unit.state, unit.ready, unit.detail) == (
        "unhealthy (Target.Timeout)",
        False,
        "Request timed out",
    )
    assert dict(snap.facts)["target group blue"] == (
        "1 of 2 targets healthy (10.0.1.10:8080 unhealthy: Target.Timeout)"
    )


def test_without_version_tags_the_group_names_are_the_versions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    world = next(elb_world(monkeypatch, tmp_path, tags=False))
    p = provider(world.service())

    snap = p.snapshot()
    changes = p.differences(snap.revisions[0], snap.revisions[1])

    assert [(r.id, r.version) for r in snap.revisions] == [("green", "green"), ("blue", "blue")]
    assert "version (not known: the target groups carry no version tag)" in [
        c.line() for c in changes
    ]


# --------------------------------------------------------------------------- rollback


def test_rollback_forwards_everything_back_to_blue_and_keeps_green_attached(
    elb: ElbWorld,
) -> None:
    p = provider(elb.service())
    plan = p.plan(None)

    assert plan.to_revision.id == "blue" and plan.from_revision is not None
    assert plan.from_revision.id == "green"
    [step] = plan.steps
    assert step.op == "alb.forward" and step.kind is StepKind.SWITCH
    words = shlex.split(step.command)
    assert words[:5] == ["aws", "elbv2", "modify-listener", "--listener-arn", elb.listener_arn]
    assert sent_weights(step.command) == {elb.groups["blue"]: 100, elb.groups["green"]: 0}
    assert "--endpoint-url" in words and "--region" in words
    assert elb.forwarded() == {"green": 1}  # planning changed nothing

    events = run(p, plan)

    assert elb.forwarded() == {"blue": 100, "green": 0}  # read from moto
    assert elb.forwarded(rule=True) == {"green": 100, "blue": 0}  # the rule is not this service
    assert [e.status for e in events] == [
        ProgressStatus.STARTED,
        ProgressStatus.OUTPUT,
        ProgressStatus.FINISHED,
    ]
    assert events[1].message == "forwards now: green 100%"
    assert events[-1].message == "forwards now: blue 100%, green 0%"
    ready = p.wait_ready(plan, 5)
    assert ready.ready, ready.message
    assert "blue: 2 of 2 targets healthy" in ready.message
    # The command shown is what ran: moto holds exactly the weights it sends.
    assert sent_weights(step.command) == {
        elb.groups[name]: weight for name, weight in elb.forwarded().items()
    }


def test_a_rule_is_switched_with_modify_rule_and_the_default_action_is_left_alone(
    elb: ElbWorld,
) -> None:
    p = provider(elb.service(rule=True))
    plan = p.plan("blue")

    assert shlex.split(plan.steps[0].command)[:5] == [
        "aws",
        "elbv2",
        "modify-rule",
        "--rule-arn",
        elb.rule_arn,
    ]
    run(p, plan)

    assert elb.forwarded(rule=True) == {"blue": 100, "green": 0}
    assert elb.forwarded() == {"green": 1}
    assert p.wait_ready(plan, 5).ready


def test_took_effect_is_false_before_the_switch_and_true_after_also_from_the_journal(
    elb: ElbWorld,
) -> None:
    p = provider(elb.service())
    plan = p.plan(None)
    step = plan.steps[0]
    part = owner_of(step, p.parts())

    assert part.took_effect(step, plan) is False
    assert p.switch_took_effect(plan) is False
    run(p, plan)
    again = journaled(plan)
    assert part.took_effect(again.steps[0], again) is True
    assert p.switch_took_effect(again) is True


def test_a_target_group_without_healthy_targets_is_refused(elb: ElbWorld) -> None:
    elb.set_health("blue", "unhealthy", "Target.ResponseCodeMismatch")
    p = provider(elb.service())

    for dry_run in (True, False):
        with pytest.raises(InvalidTarget) as err:
            p.plan(None, dry_run=dry_run)
        assert one_line(err.value) == (
            "target group blue has no healthy targets (0 of 2 targets healthy (10.0.1.10:8080 "
            "unhealthy: Target.ResponseCodeMismatch)): forwarding traffic to it would fail every "
            "request; refused"
        )
    assert elb.forwarded() == {"green": 1}


def test_a_standby_group_the_listener_does_not_use_is_refused_saying_how_to_fix_it(
    elb: ElbWorld,
) -> None:
    elb.set_health("blue", "unused", "Target.NotInUse", "Target group is not configured")
    with pytest.raises(InvalidTarget) as err:
        provider(elb.service()).plan(None)
    assert "keep the standby group in the listener's forward at weight 0" in one_line(err.value)


def test_targets_that_turn_unhealthy_after_planning_stop_the_switch(elb: ElbWorld) -> None:
    p = provider(elb.service())
    plan = p.plan(None)
    elb.set_health("blue", "draining", "Target.DeregistrationInProgress")

    events, error = run_failing(p, plan)

    assert isinstance(error, InvalidTarget)
    assert "target group blue has no healthy targets" in one_line(error)
    assert events[-1].status is ProgressStatus.FAILED
    assert elb.forwarded() == {"green": 1}


def test_someone_elses_change_is_a_conflict_and_is_not_overwritten(elb: ElbWorld) -> None:
    p = provider(elb.service())
    plan = p.plan(None)
    other = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}]
    elb.elb.modify_listener(ListenerArn=elb.listener_arn, DefaultActions=other)

    _events, error = run_failing(p, plan)

    assert isinstance(error, Conflict)
    assert "was changed by someone else" in one_line(error)
    assert elb.actions() == other


def test_waiting_for_targets_in_their_first_health_checks(elb: ElbWorld) -> None:
    p = provider(elb.service())
    plan = p.plan(None)
    run(p, plan)
    elb.set_health("blue", "initial", "Elb.RegistrationInProgress", target="10.0.2.10")

    waited = p.wait_ready(plan, 0.3)

    assert not waited.ready
    assert "blue: 1 target(s) still in their first health checks" in waited.message


def test_unknown_and_current_targets_and_a_missing_listener(elb: ElbWorld) -> None:
    p = provider(elb.service())
    with pytest.raises(NotFound) as err:
        p.plan("purple")
    assert one_line(err.value) == (
        "target group 'purple' not found in [services.alb] of web (production); "
        "available: green (v1.3.0), blue (v1.2.9)"
    )
    with pytest.raises(InvalidTarget) as current:
        p.plan("green")
    assert one_line(current.value) == (
        "green (v1.3.0) already receives 100% of web (production)'s traffic"
    )
    gone = elb.listener_arn[:-4] + "beef"
    with pytest.raises(NotFound) as missing:
        provider(elb.service(listener_arn=gone)).snapshot()
    assert one_line(missing.value) == f"listener_arn {gone} not found"


def test_registry_builds_the_provider_and_construction_does_no_io(elb: ElbWorld) -> None:
    closed = provider(elb.service("http://127.0.0.1:9"))  # nothing listens there
    made = load_provider(elb.service())
    assert isinstance(made, AlbProvider)
    with pytest.raises(ProviderError) as err:
        closed.snapshot()
    one_line(err.value)


# --------------------------------------------------------------------------- what changes


def test_what_changes_names_the_group_the_weights_the_version_and_the_targets(
    elb: ElbWorld,
) -> None:
    p = provider(elb.service())
    snap = p.snapshot()
    elb.set_health("blue", "unhealthy", "Target.Timeout", target="10.0.2.10")

    lines = [c.line() for c in p.differences(snap.revisions[0], snap.revisions[1])]

    green_tg = elb.groups["green"].rsplit("/", 2)[-2]
    blue_tg = elb.groups["blue"].rsplit("/", 2)[-2]
    assert lines == [
        f"target group: green ({green_tg}) → blue ({blue_tg})",
        "weights: green 100% → blue 100%, green 0%",
        "version: v1.3.0 → v1.2.9",
        "targets of green (live) (2 of 2 targets healthy: 10.0.1.11:8080, 10.0.2.11:8080)",
        "targets of blue (target) (1 of 2 targets healthy (10.0.2.10:8080 unhealthy: "
        "Target.Timeout): 10.0.1.10:8080, 10.0.2.10:8080)",
    ]


# --------------------------------------------------------------------------- gradual


def test_gradual_moves_in_weighted_steps_with_passing_gates(elb: ElbWorld) -> None:
    gates = Gates(True, True)
    p = provider(elb.service(), gate=gates)
    [action] = p.actions()
    assert (action.id, action.choices) == (GRADUAL, ("blue",))
    plan = p.plan_action(GRADUAL, "blue")
    seen: list[dict[str, int]] = []

    events = []
    for event in p.execute(plan):
        events.append(event)
        if event.status is ProgressStatus.FINISHED and plan.steps[event.step].op == "alb.forward":
            seen.append(elb.forwarded())

    assert [s.op for s in plan.steps] == [
        "alb.forward",
        "alb.gate",
        "alb.forward",
        "alb.gate",
        "alb.forward",
    ]
    assert [sent_weights(s.command) for s in plan.steps[::2]] == [
        {elb.groups["blue"]: 10, elb.groups["green"]: 90},
        {elb.groups["blue"]: 50, elb.groups["green"]: 50},
        {elb.groups["blue"]: 100, elb.groups["green"]: 0},
    ]
    assert seen == [
        {"blue": 10, "green": 90},
        {"blue": 50, "green": 50},
        {"blue": 100, "green": 0},
    ]
    assert gates.asked == [10, 50]
    assert p.wait_ready(plan, 5).ready
    assert plan.warnings[-1].startswith("No health checks are configured")


def test_a_failing_gate_puts_the_weights_back_exactly_as_they_were(elb: ElbWorld) -> None:
    p = provider(elb.service(), gate=Gates(True, False))
    plan = p.plan_action(GRADUAL, "blue")

    events, error = run_failing(p, plan)

    assert isinstance(error, GateFailed)
    assert one_line(error) == (
        "gate 2 at 50% failed: the test said no; the weights were put back: green 100%"
    )
    assert elb.forwarded() == {"green": 1}  # exactly the original action, weight and all
    assert not any(e.step == 4 for e in events)
    lines = [e.message for e in events if e.step == 3]
    assert "gate 2 at 50% failed: the test said no: putting the weights back to green 100%" in lines


def gated_service(elb: ElbWorld, health: FlipServer, url: str = "") -> ServiceConfig:
    """The service with a health check and the probe as error rate: the real gate's inputs."""
    return dataclasses.replace(
        elb.service(url, gate_s=0.6),
        health=(HealthCheck(url=health.url, timeout_s=1.0),),
        error_rate=ErrorRateConfig(source="probe", urls=(health.url,), interval_s=0.05),
    )


def test_the_shared_health_gate_passes_and_the_switch_completes(
    elb: ElbWorld, health: FlipServer
) -> None:
    p = provider(gated_service(elb, health))
    plan = p.plan_action(GRADUAL, "blue")

    events = run(p, plan)

    assert elb.forwarded() == {"blue": 100, "green": 0}
    finished = [e.message for e in events if e.status is ProgressStatus.FINISHED]
    assert finished[1].startswith("gate 1 passed at 10%: health held")
    assert health.requests > 0


def test_the_shared_health_gate_fails_when_the_service_sickens_and_the_weights_go_back(
    elb: ElbWorld, health: FlipServer
) -> None:
    """At 50% the health check starts failing (set the moment moto applied the second
    change, through the fault proxy's hook): gate 2 fails and green gets it all again."""
    with AwsFaultProxy(elb.url) as proxy:
        calls = iter(range(10))

        def sicken() -> None:
            if next(calls) == 1:
                health.behave = failing

        proxy.after("ModifyListener", sicken, count=None)
        p = provider(gated_service(elb, health, proxy.url))
        plan = p.plan_action(GRADUAL, "blue")

        _events, error = run_failing(p, plan)

    assert isinstance(error, GateFailed)
    message = one_line(error)
    assert message.startswith("gate 2 at 50% failed: health failed")
    assert message.endswith("the weights were put back: green 100%")
    assert elb.forwarded() == {"green": 1}
    assert proxy.forwarded("ModifyListener") == 3  # 10%, 50%, and back


# --------------------------------------------------------------------------- a lost answer


def test_a_lost_answer_is_read_back_and_the_switch_is_never_sent_twice(elb: ElbWorld) -> None:
    with AwsFaultProxy(elb.url) as proxy:
        proxy.lose_answer("ModifyListener", count=1)
        p = provider(elb.service(proxy.url))
        plan = p.plan(None)

        events = run(p, plan)

        assert proxy.forwarded("ModifyListener") == 1
    assert elb.forwarded() == {"blue": 100, "green": 0}
    lines = [e.message for e in events if e.status is ProgressStatus.OUTPUT]
    assert any(
        line.startswith("no answer to elasticloadbalancing:ModifyListener")
        and line.endswith("forwards blue 100%, green 0% when read again: the change was applied")
        for line in lines
    ), lines
    assert events[-1].status is ProgressStatus.FINISHED


def test_a_lost_answer_that_cannot_be_read_back_is_outcome_unknown(elb: ElbWorld) -> None:
    with AwsFaultProxy(elb.url) as proxy:
        # The change reaches moto and its answer is lost; from then on the listener
        # cannot be read (503).
        proxy.lose_answer("ModifyListener")
        unreadable = proxy.fail("DescribeListeners", "ServiceUnavailable", status=503, count=0)
        proxy.after("ModifyListener", lambda: setattr(unreadable, "count", None))
        p = provider(elb.service(proxy.url))
        plan = p.plan(None)

        events, error = run_failing(p, plan)

        assert proxy.forwarded("ModifyListener") == 1
    assert isinstance(error, OutcomeUnknown)
    message = one_line(error)
    assert "whether the change was applied is not known" in message
    assert "aws elbv2 describe-listeners --listener-arns" in message
    assert not [e for e in events if e.status is ProgressStatus.FAILED]
    assert elb.forwarded() == {"blue": 100, "green": 0}  # it did land


def test_an_aws_refusal_is_one_line_and_changes_nothing(elb: ElbWorld) -> None:
    with AwsFaultProxy(elb.url) as proxy:
        proxy.fail("ModifyListener", "AccessDenied", "User: oncall is not authorized")
        p = provider(elb.service(proxy.url))
        _events, error = run_failing(p, p.plan(None))

        assert proxy.seen.count(("ModifyListener", "AccessDenied")) == 1
    assert isinstance(error, ProviderError)
    assert one_line(error).startswith(
        "access denied: elasticloadbalancing:ModifyListener (forwarding blue 100%, green 0%"
    )
    assert elb.forwarded() == {"green": 1}


# --------------------------------------------------------------------------- the error rate


def test_the_default_error_rate_is_every_target_groups_5xx_over_their_requests(
    elb: ElbWorld,
) -> None:
    """Without [services.error_rate], an alb service reads CloudWatch: errors and requests
    summed over its target groups (serving or standby), nobody else's."""
    svc = dataclasses.replace(elb.service(), error_rate=ALB_ERROR_RATE)
    source = make_error_rate_source(svc)
    assert isinstance(source, CloudWatchSource)
    source.max_attempts = 1  # moto answers 500 to the p95 latency: no use retrying it
    half = [
        {"TargetGroupArn": elb.groups["blue"], "Weight": 1},
        {"TargetGroupArn": elb.groups["green"], "Weight": 1},
    ]
    elb.elb.modify_listener(
        ListenerArn=elb.listener_arn,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": half}}],
    )
    traffic = AlbTraffic(elb)  # (not started: two ticks, by hand)
    traffic.tick()
    traffic.tick()
    lb = elb.load_balancer_arn.split(":loadbalancer/", 1)[1]
    elb.world.client("cloudwatch").put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Dimensions": [
                    {"Name": "LoadBalancer", "Value": lb},
                    {"Name": "TargetGroup", "Value": "targetgroup/someone-else/1"},
                ],
                "Value": 999,
            }
        ],
    )
    source.start()
    try:
        sample = source.sample()
    finally:
        source.stop()

    # Each tick: 50 requests to blue, 50 to green with 20 errors (the load balancer's own
    # totals, also reported, are not counted twice).
    assert sample.requests == 200
    assert sample.error_rate == pytest.approx(40 / 200)


def test_a_gradual_switch_planned_again_on_resume_still_goes_back_to_where_it_began(
    elb: ElbWorld,
) -> None:
    """Interrupted after its first step (blue 10%): resume plans the move again from the
    live weights, and a failing gate then puts back green 100%, not the half-way split."""
    first = provider(elb.service(), gate=Gates(True))
    old = first.plan_action(GRADUAL, "blue")
    events = first.execute(old)
    for event in events:
        if event.step == 0 and event.status is ProgressStatus.FINISHED:
            events.close()  # the console dies here
            break
    assert elb.forwarded() == {"blue": 10, "green": 90}
    assert first.switch_took_effect(journaled(old)) is False  # not at its last weights

    again = provider(elb.service(), gate=Gates(False))
    plan = again.plan_action(GRADUAL, "blue", resume_from=journaled(old))

    assert [sent_weights(s.command) for s in plan.steps if s.op == "alb.forward"] == [
        {elb.groups["blue"]: 50, elb.groups["green"]: 50},
        {elb.groups["blue"]: 100, elb.groups["green"]: 0},
    ]
    assert "where they were before the interrupted switch began (green 100%)" in plan.warnings[-2]
    _, error = run_failing(again, plan)
    assert isinstance(error, GateFailed)
    assert one_line(error).endswith("the weights were put back: green 100%")
    assert elb.forwarded() == {"green": 1}
