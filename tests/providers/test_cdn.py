"""The CDN part (``[services.cdn]``, any provider) against moto's CloudFront.

Which plans get the invalidation (those that switch something, on any
platform: the demo host here), the command it shows, the one it creates
(read back from moto), a wait that runs out of time, a distribution that
does not exist, and ``took_effect`` by the caller reference.  The whole
flow through the CLI, lost answers and a SIGKILL are in
``tests/e2e/test_faults_alb.py``.

Played by hand because moto does not: CloudFront's progress (moto completes
an invalidation at once; ``CloudFrontProgress`` keeps it ``InProgress``).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.cdn_flow import CdnSide
from console.config import ServiceConfig, load_config
from console.demo import build_sandbox
from console.flow import RollbackFlow
from console.incident import Incident
from console.model import Plan, StepKind
from console.runner import Skipped
from console.signals import make_error_rate_source
from providers import load_provider
from providers.base import NotFound
from tests.aws.elb import CloudFrontProgress, ElbWorld, elb_world
from tests.providers.test_ecs import one_line


@pytest.fixture
def elb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ElbWorld]:
    yield from elb_world(monkeypatch, tmp_path)


def side(elb: ElbWorld, tmp_path: Path, **cdn: Any) -> CdnSide:
    svc = elb.service(cdn=elb.cdn_config(**cdn))
    incident = Incident(service=svc, operator="oncall", state_dir=tmp_path / "state")
    return CdnSide(svc, incident)


def a_plan(made: CdnSide, elb: ElbWorld) -> Plan:
    platform = load_provider(made.service)
    return made.extend(platform.plan(None))


def run_to_end(made: CdnSide, plan: Plan) -> tuple[list[str], str]:
    """The step's output lines and the line it ended with."""
    body = made.run(plan.steps[-1], plan)
    lines: list[str] = []
    while True:
        try:
            lines.append(next(body))
        except StopIteration as stop:
            return lines, stop.value


def test_any_plan_that_switches_ends_with_the_invalidation_and_others_have_none(
    elb: ElbWorld, tmp_path: Path
) -> None:
    """On the demo host (not an AWS platform at all): the rollback gets the step, a restart
    (nothing switched) does not."""
    box = build_sandbox(tmp_path / "sandbox")
    config = load_config(box.config_path)
    svc = dataclasses.replace(config.service("web"), cdn=elb.cdn_config())
    flow = RollbackFlow(config, svc, load_provider(svc), make_error_rate_source(svc), reason="t")

    plan = flow.plan(None, dry_run=True)
    restart = flow.plan_action("restart", None, dry_run=True)

    last = plan.steps[-1]
    assert last.op == "cdn.invalidate"
    assert plan.steps[0].kind is StepKind.SWITCH  # the host's symlink, then its restart
    assert last.title == (
        f"Invalidate the CDN once web (demo) serves v1.2.9: CloudFront distribution "
        f"{elb.distribution_id}, /*; wait until Completed (at most 30 s)"
    )
    words = shlex.split(last.command)
    assert words[:5] == [
        "aws",
        "cloudfront",
        "create-invalidation",
        "--distribution-id",
        elb.distribution_id,
    ]
    batch = json.loads(words[words.index("--invalidation-batch") + 1])
    assert batch == {
        "Paths": {"Quantity": 1, "Items": ["/*"]},
        "CallerReference": last.params["caller_reference"],
    }
    assert str(last.params["caller_reference"]).startswith(f"rollback-console-{flow.incident.id}-")
    assert not any(s.op == "cdn.invalidate" for s in restart.steps)
    assert elb.invalidations() == []  # a dry run created nothing


def test_the_invalidation_is_created_once_and_waited_for_until_completed(
    elb: ElbWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    progress = CloudFrontProgress(monkeypatch)
    made = side(elb, tmp_path)
    plan = a_plan(made, elb)
    step = plan.steps[-1]
    assert made.took_effect(step, plan) is False
    body = made.run(step, plan)
    lines = []
    while not any(line.startswith("invalidation ") for line in lines):
        lines.append(next(body))

    [created] = elb.invalidations()
    assert created["Status"] == "InProgress"
    assert created["InvalidationBatch"]["CallerReference"] == step.params["caller_reference"]
    assert made.took_effect(step, plan) is True
    assert progress.complete() == 1
    rest, finished = [], ""
    while True:
        try:
            rest.append(next(body))
        except StopIteration as stop:
            finished = stop.value
            break

    assert finished == f"invalidation {created['Id']} Completed"
    assert not isinstance(finished, Skipped)
    assert len(elb.invalidations()) == 1
    [note] = made.incident.notes
    assert note.startswith(
        f"CDN invalidation {created['Id']} of CloudFront {elb.distribution_id} (/*): Completed"
    )


def test_an_invalidation_not_completed_in_time_ends_skipped_and_says_where_to_look(
    elb: ElbWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    CloudFrontProgress(monkeypatch)
    made = side(elb, tmp_path, timeout_s=0.5)
    plan = a_plan(made, elb)

    _lines, finished = run_to_end(made, plan)

    [created] = elb.invalidations()
    assert isinstance(finished, Skipped)
    assert finished.startswith(f"invalidation {created['Id']} still InProgress after")
    assert "aws cloudfront get-invalidation --distribution-id" in finished
    assert "not seen Completed; it goes on by itself" in made.incident.notes[0]


def test_a_distribution_that_does_not_exist_is_one_line_naming_the_key(
    elb: ElbWorld, tmp_path: Path
) -> None:
    made = side(elb, tmp_path, distribution_id="E0000000000000")
    plan = a_plan(made, elb)

    with pytest.raises(NotFound) as err:
        run_to_end(made, plan)

    assert one_line(err.value) == (
        "CloudFront distribution E0000000000000 not found (distribution_id in [services.cdn])"
    )
    assert elb.invalidations() == []


def test_the_part_waits_for_the_platform_before_it_invalidates(
    elb: ElbWorld, tmp_path: Path
) -> None:
    """With the platform at hand, the step first waits until the target serves (here: the
    listener was never switched, so it is not ready in time) and invalidates anyway."""
    svc: ServiceConfig = elb.service(cdn=elb.cdn_config(), ready_timeout_s=0.3)
    incident = Incident(service=svc, operator="oncall", state_dir=tmp_path / "state")
    made = CdnSide(svc, incident, platform=load_provider(svc))
    plan = a_plan(made, elb)

    lines, finished = run_to_end(made, plan)

    assert lines[0] == "waiting until v1.2.9 serves before invalidating"
    assert any(
        line.startswith("the platform was not seen ready") and "invalidating anyway" in line
        for line in lines
    ), lines
    assert finished.endswith("Completed")
    assert len(elb.invalidations()) == 1
