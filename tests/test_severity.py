"""Severity rules, their boundaries, reasons, deadlines and the countdown text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.config import Thresholds
from console.model import HealthResult, Sample, Severity, Unit
from console.severity import assess, describe, format_remaining

T0 = datetime(2026, 1, 27, 10, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(seconds=30)
TH = Thresholds()
SLOW_TH = Thresholds(baseline_p95_ms=20.0)

C, H, M, L, U = (
    Severity.CRITICAL,
    Severity.HIGH,
    Severity.MEDIUM,
    Severity.LOW,
    Severity.UNKNOWN,
)


def rate(value: float | None, p95: float | None = 12.0, requests: int = 200) -> Sample:
    return Sample(at=NOW, error_rate=value, p95_ms=p95, requests=requests, source="probe")


def ok(url: str = "http://web/health") -> HealthResult:
    return HealthResult(url, True, 200, 5.0)


def down(
    url: str = "http://web/health", error: str = "connection refused (web:80)"
) -> HealthResult:
    return HealthResult(url, False, None, None, error)


def unit(name: str, restarts: int) -> Unit:
    return Unit(name, "running", True, restarts=restarts)


CASES = [
    # id, thresholds, sample, health, units, expected severity
    ("rate at critical", TH, rate(0.50), [ok()], [], C),
    ("rate far above critical", TH, rate(0.99), [], [], C),
    ("rate just below critical", TH, rate(0.4999), [ok()], [], H),
    ("rate at high", TH, rate(0.10), [ok()], [], H),
    ("rate just below high", TH, rate(0.0999), [ok()], [], M),
    ("rate at medium", TH, rate(0.01), [ok()], [], M),
    ("rate just below medium", TH, rate(0.0099), [ok()], [], L),
    ("all quiet", TH, rate(0.0), [ok(), ok()], [], L),
    ("all health down", TH, rate(0.0), [down(), down("http://web/ready")], [], C),
    ("the only health check down", TH, None, [down()], [], C),
    ("some health down", TH, rate(0.0), [ok(), down("http://web/ready")], [], H),
    ("p95 at 3x baseline", SLOW_TH, rate(0.0, p95=60.0), [ok()], [], H),
    ("p95 just below 3x baseline", SLOW_TH, rate(0.0, p95=59.9), [ok()], [], L),
    ("no baseline: latency not judged", TH, rate(0.0, p95=9000.0), [ok()], [], L),
    ("restarts at the limit", TH, rate(0.0), [ok()], [unit("web-1", 3)], H),
    ("restarts below the limit", TH, rate(0.0), [ok()], [unit("web-1", 2)], L),
    ("restarts without any other signal", TH, None, [], [unit("web-1", 5)], H),
    ("no data at all", TH, None, [], [], U),
    ("an empty window and no checks", TH, rate(None, None, 0), [], [unit("web-1", 0)], U),
    # Issue 11: no verdict before the minimum sample (thresholds.min_requests) is in.
    ("no error rate yet but health passes", TH, rate(None, None, 0), [ok()], [], U),
    ("critical beats high", SLOW_TH, rate(0.6, p95=500.0), [ok(), down()], [], C),
    ("health down beats a low rate", TH, rate(0.02), [down()], [], C),
    ("custom thresholds", Thresholds(critical_error_rate=0.2), rate(0.2), [], [], C),
]


@pytest.mark.parametrize(
    ("thresholds", "sample", "health", "units", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rules(
    thresholds: Thresholds,
    sample: Sample | None,
    health: list[HealthResult],
    units: list[Unit],
    expected: Severity,
) -> None:
    result = assess(thresholds, sample, health, units, detected_at=T0, now=NOW)
    assert result.severity is expected
    if expected is not L:
        assert result.reasons, "every severity above low says why"


def test_reasons_carry_the_numbers_most_severe_first() -> None:
    result = assess(
        SLOW_TH,
        rate(0.582, p95=412.0),
        [down(), HealthResult("http://web/ready", False, 500, 3.0, "HTTP 500, expected 200")],
        [unit("web-1", 4), unit("web-2", 0)],
        detected_at=T0,
        now=NOW,
    )
    assert result.severity is C
    assert result.reasons == (
        "error rate 58.2% >= 50% (critical)",
        "2 of 2 health checks failing (http://web/health: connection refused (web:80); "
        "http://web/ready: HTTP 500, expected 200)",
        "p95 412 ms >= 3.0x baseline 20 ms",
        "web-1 restarted 4 times (>= 3)",
    )
    assert (result.error_rate, result.p95_ms) == (0.582, 412.0)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (0.15, "error rate 15.0% >= 10% (high)"),
        (0.025, "error rate 2.5% >= 1% (medium)"),
    ],
)
def test_rate_reasons(value: float, reason: str) -> None:
    assert assess(TH, rate(value), [], [], detected_at=T0, now=NOW).reasons == (reason,)


def test_some_health_failing_reason() -> None:
    result = assess(TH, rate(0.0), [ok(), down("http://web/ready")], [], T0, NOW)
    assert result.reasons == (
        "1 of 2 health checks failing (http://web/ready: connection refused (web:80))",
    )


def test_many_restarted_units_are_summed_up() -> None:
    units = [unit(f"web-{i}", 3 + i) for i in range(5)]
    (reason,) = assess(TH, rate(0.0), [], units, T0, NOW).reasons
    assert reason == (
        "web-4 restarted 7 times, web-3 restarted 6 times, web-2 restarted 5 times"
        " and 2 more units (>= 3)"
    )


def test_missing_data_is_said() -> None:
    result = assess(TH, None, [ok()], [], T0, NOW)
    assert result.severity is L
    assert result.reasons == ("no error-rate data (0 requests in the window)",)
    unknown = assess(TH, None, [], [], T0, NOW)
    assert unknown.reasons == ("no error-rate data and no health check results",)
    assert unknown.error_rate is None and unknown.p95_ms is None


def test_stale_data_is_called_out() -> None:
    old = Sample(at=NOW - timedelta(minutes=3, seconds=5), error_rate=0.0, p95_ms=5.0, requests=20)
    assert assess(TH, old, [], [], T0, NOW).reasons == ("error-rate data is 3:05 old",)


@pytest.mark.parametrize(
    ("severity_sample", "health", "deadline_s"),
    [
        (rate(0.7), [], 300),
        (rate(0.2), [], 900),
        (rate(0.02), [], 1800),
        (rate(0.0), [], None),
        (None, [], None),
    ],
)
def test_deadline_counts_from_detection(
    severity_sample: Sample | None, health: list[HealthResult], deadline_s: int | None
) -> None:
    result = assess(TH, severity_sample, health, [], detected_at=T0, now=NOW)
    expected = None if deadline_s is None else T0 + timedelta(seconds=deadline_s)
    assert result.deadline == expected


def test_deadlines_follow_the_thresholds() -> None:
    th = Thresholds(critical_deadline_s=120, high_deadline_s=600)
    critical = assess(th, rate(0.9), [], [], T0, NOW)
    assert critical.deadline == T0 + timedelta(minutes=2)
    assert critical.recommendation == "Roll back now — decide within 2 minutes"
    high = assess(th, rate(0.3), [], [], T0, NOW)
    assert high.recommendation == (
        "Roll back unless a fix is minutes away — decide within 10 minutes"
    )


def test_recommendations() -> None:
    def rec(sample: Sample | None) -> str:
        return assess(TH, sample, [], [], T0, NOW).recommendation

    assert rec(rate(0.6)) == "Roll back now — decide within 5 minutes"
    assert rec(rate(0.2)) == "Roll back unless a fix is minutes away — decide within 15 minutes"
    assert "forward fix" in rec(rate(0.02)).lower()
    assert "decide within 30 minutes" in rec(rate(0.02))
    assert "forward fix" in rec(rate(0.0)).lower()
    assert "by hand" in rec(None)


@pytest.mark.parametrize(
    ("seconds_left", "text"),
    [
        (272, "4:32 left"),
        (271.2, "4:32 left"),
        (0.3, "0:01 left"),
        (0, "overdue by 0:00"),
        (-0.5, "overdue by 0:00"),
        (-41, "overdue by 0:41"),
        (-41.9, "overdue by 0:41"),
        (900, "15:00 left"),
        (3723, "1:02:03 left"),
        (-3600, "overdue by 1:00:00"),
    ],
)
def test_format_remaining(seconds_left: float, text: str) -> None:
    assert format_remaining(NOW + timedelta(seconds=seconds_left), NOW) == text


# --------------------------------------------------------------------------- issue 11: too little


def test_no_verdict_before_the_minimum_sample_is_in() -> None:
    """Three lucky requests of a failing service must not read "LOW — no rollback needed"."""
    result = assess(TH, rate(0.0, requests=3), [ok()], [], T0, NOW)
    assert result.severity is U and result.assessing
    assert (result.samples, result.samples_needed) == (3, 20)
    assert result.recommendation == "Assessing (3 of 20 samples): no verdict yet"
    assert result.deadline is None
    assert "Forward fix" not in result.recommendation


def test_what_is_seen_so_far_is_listed_while_assessing() -> None:
    result = assess(TH, rate(0.6, requests=5), [down()], [unit("web-1", 4)], T0, NOW)
    assert result.severity is U and result.assessing and result.deadline is None
    assert result.reasons[0].startswith("so far: error rate 60.0% >= 50% (critical)")
    assert "error rate so far 60.0% of 5 requests" in result.reasons
    assert (
        result.reasons[-1] == "no verdict before 20 requests are measured (thresholds.min_requests)"
    )


def test_health_not_answered_yet_is_no_verdict_either() -> None:
    result = assess(TH, rate(0.0), [], [], T0, NOW, health_pending=True)
    assert result.severity is U and result.assessing
    assert result.recommendation == "Assessing (health checks not answered yet): no verdict yet"
    both = assess(TH, rate(0.0, requests=0), [], [], T0, NOW, health_pending=True)
    assert both.recommendation.startswith("Assessing (0 of 20 samples; health checks not")


def test_enough_data_gives_the_verdict_with_its_count() -> None:
    result = assess(TH, rate(0.0, requests=20), [ok()], [], T0, NOW)
    assert result.severity is L and not result.assessing
    assert (result.samples, result.samples_needed) == (20, 20)
    custom = assess(Thresholds(min_requests=3), rate(0.0, requests=3), [ok()], [], T0, NOW)
    assert custom.severity is L


def test_a_source_that_cannot_be_read_is_not_waited_for() -> None:
    """No sample at all (the source failed): the health checks decide, and it says so."""
    result = assess(TH, None, [down()], [], T0, NOW)
    assert result.severity is C and not result.assessing


def test_describe_is_the_line_the_headless_commands_print() -> None:
    assert describe(assess(TH, rate(0.7), [], [], T0, NOW)) == (
        "severity critical: Roll back now — decide within 5 minutes"
    )
    assert describe(assess(TH, rate(0.7, requests=4), [], [], T0, NOW)) == (
        "assessing (4 of 20 samples): no verdict yet"
    )


def test_the_suggested_reason_is_the_platforms_alert_when_the_signals_call_for_nothing() -> None:
    """A Swarm update paused on a failing task, the error rate still low: the pause is the
    reason offered; an unhealthy verdict keeps its own reason; still assessing offers none."""
    from console.severity import suggested_reason

    alert = "update paused: due to failure or early termination of task g3f96w4l5p4o"
    low = assess(TH, rate(0.0), (ok(),), (), detected_at=T0, now=NOW)
    assert low.severity is L
    assert suggested_reason(low, since=T0, version="v3", alert=alert) == f"{alert} on v3"
    assert suggested_reason(low, since=T0, version="v3") == ""
    critical = assess(TH, rate(0.6), (down(),), (), detected_at=T0, now=NOW)
    offered = suggested_reason(critical, since=T0, version="v3", alert=alert)
    assert offered.startswith(critical.reasons[0].replace(" >= ", " ≥ ").split(" (")[0])
    assert "update paused" not in offered
    waiting = assess(TH, rate(0.0, requests=2), (ok(),), (), detected_at=T0, now=NOW)
    assert waiting.assessing
    assert suggested_reason(waiting, since=T0, version="v3", alert=alert) == ""
