"""When an incident starts and whether it recovered: the two ends of "time to recover".

Issue 11: the headless ``rollback`` counted from process start, the TUI from
the dashboard's first unhealthy reading; and a re-verification that failed
kept the recovery time of an earlier verdict.  A real host provider on real
release folders, and an error-rate source that is plain data.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.config import load_config
from console.flow import RollbackFlow
from console.model import Outcome
from console.resume import read_state
from providers import load_provider
from tests.test_notify import SteadySource, write_site


def make_flow(tmp_path: Path, source: SteadySource, **kwargs: object) -> RollbackFlow:
    config = load_config(write_site(tmp_path))
    svc = replace(config.service("web"), verify_min_rounds=1)
    return RollbackFlow(config, svc, load_provider(svc), source, reason="x", **kwargs)  # type: ignore[arg-type]


def test_the_incident_counts_from_the_first_unhealthy_assessment(tmp_path: Path) -> None:
    source = SteadySource()  # 42% errors: high
    flow = make_flow(tmp_path, source)
    opened = flow.incident.detected_at
    assessment = flow.assess()
    assert assessment.severity.value == "high"
    detected = flow.incident.detected_at
    assert detected > opened
    assert assessment.deadline == detected + timedelta(seconds=900)
    # A later reading does not move it again, and a resume reads it from the journal.
    flow.assess()
    assert flow.incident.detected_at == detected
    # The journal file starts with the first change (issue 11 item 18): as a rollback does.
    flow.incident.journal_event("execute")
    assert read_state(flow.incident.journal_file).detected_at == detected


def test_a_healthy_first_reading_counts_until_the_service_turns_bad(tmp_path: Path) -> None:
    source = SteadySource()
    source.rate = 0.0
    flow = make_flow(tmp_path, source)
    flow.assess()
    first = flow.incident.detected_at
    source.rate = 0.6
    flow.assess()
    assert flow.incident.detected_at > first
    turned = flow.incident.detected_at
    source.rate = 0.0
    flow.assess()
    assert flow.incident.detected_at == turned


def test_a_detection_time_given_is_kept(tmp_path: Path) -> None:
    given = datetime.now(UTC) - timedelta(minutes=10)
    flow = make_flow(tmp_path, SteadySource(), detected_at=given)
    flow.assess()
    assert flow.incident.detected_at == given
    assert flow.build_record().detected_at == given


def test_a_failed_verification_takes_back_an_earlier_recovery(tmp_path: Path) -> None:
    source = SteadySource()
    flow = make_flow(tmp_path, source)
    flow.refresh()
    flow.assess()
    ready = flow.execute(flow.plan(None))
    assert ready.ready, ready.message
    source.rate = 0.0
    assert flow.verify(window_s=0.05).passed
    assert flow.incident.recovered_at is not None
    source.rate = 0.5
    assert not flow.verify(window_s=0.05).passed
    assert flow.incident.recovered_at is None
    record = flow.build_record()
    assert record.outcome is Outcome.NOT_VERIFIED
    assert record.recovered_at is None and record.time_to_recover_s is None
