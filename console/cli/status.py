"""The read-only commands: ``status`` (live state, health, severity) and ``check-config``."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Sequence
from typing import TextIO

from console.cli.common import load, require_writable
from console.cli.output import jsonable, print_journal_warnings, print_json, print_revisions
from console.cli.parser import PROG
from console.config import Config, ConfigError, ServiceConfig
from console.errors import EXIT_OK
from console.model import Assessment, HealthResult, Unit
from console.signals.base import SignalError
from console.textsafe import printable


def cmd_check_config(args: argparse.Namespace, out: TextIO) -> int:
    config = load(args)
    from providers import REGISTRY

    for svc in config.services:
        if svc.provider not in REGISTRY:
            raise ConfigError(config.path, "provider", f"provider {svc.provider!r} not available")
    require_writable(config)
    print(f"{config.path}: ok, {len(config.services)} service(s)", file=out)
    for svc in config.services:
        checks = len(svc.health)
        print(
            f"  {svc.label}: provider {svc.provider}, {checks} health check(s), "
            f"error rate from {svc.error_rate.source}, verify window {svc.verify_window_s:g} s",
            file=out,
        )
    print(f"  history file: {config.console.history_file}", file=out)
    print(f"  state dir:    {config.console.state_dir}", file=out)
    webhook = config.console.webhook_env
    if webhook:
        state = "set" if os.environ.get(webhook, "").strip() else "NOT SET: messages are not sent"
        print(f"  team webhook: ${webhook} ({state})", file=out)
    _check_ops(config, out)
    return EXIT_OK


def _check_ops(config: Config, out: TextIO) -> None:
    """Read-only mode, and history in git: a folder outside git or a missing remote is
    named now (exit 2), not after the first rollback."""
    console = config.console
    if console.read_only:
        print("  read-only:    yes (nothing that changes a platform is offered)", file=out)
    if console.history_git:
        from console.history.git import check

        key, said = check(console)
        if key:
            raise ConfigError(config.path, f"console.{key}", said)
        print(f"  history git:  {said}", file=out)


def _status_assessment(
    svc: ServiceConfig, units: Sequence[Unit]
) -> tuple[tuple[HealthResult, ...], Assessment]:
    """Health and the severity, as the rollback's assessment computes them.

    The same wait for the minimum sample (bounded), the same rules: below the
    minimum it is "assessing (n of N samples)", in the text and in the JSON.
    """
    from console.flow import FIRST_SAMPLE_WAIT_S
    from console.model import Sample, utcnow
    from console.severity import assess
    from console.signals import make_error_rate_source, wait_for_requests
    from console.signals.health import check_health

    sample: Sample | None = None
    try:
        source = make_error_rate_source(svc)
    except SignalError:  # no error rate: the severity rests on the rest, and says so
        health = check_health(svc.health)
    else:
        source.start()
        try:
            wait_for_requests(
                source, svc.thresholds.min_requests, FIRST_SAMPLE_WAIT_S, svc.error_rate.interval_s
            )
            health = check_health(svc.health)
            with contextlib.suppress(SignalError):
                sample = source.sample()
        finally:
            source.stop()
    now = utcnow()
    return health, assess(svc.thresholds, sample, health, units, detected_at=now, now=now)


def error_rate_line(svc: ServiceConfig, assessment: Assessment) -> str:
    """The error rate the assessment measured, as the dashboard shows it.

    The same numbers as ``--json``'s ``assessment`` (``error_rate``, ``samples``,
    ``p95_ms``): the rate over every request in the source's window, never the
    answer to one health check (those are listed below it).
    """
    source = f"{svc.error_rate.source}, {svc.error_rate.window_s:g} s window"
    count = f"{assessment.samples} request{'' if assessment.samples == 1 else 's'}"
    if assessment.error_rate is None:
        return f"  error rate: n/a ({count} measured; {source})"
    p95 = f" · p95 {assessment.p95_ms:.0f} ms" if assessment.p95_ms is not None else ""
    return f"  error rate: {assessment.error_rate * 100:.1f}% of {count}{p95} ({source})"


def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from console.resume import open_incidents
    from console.severity import describe
    from providers import load_provider

    config = load(args)
    svc = config.service(args.service)
    provider = load_provider(svc)
    snap = provider.snapshot()
    health, assessment = _status_assessment(svc, snap.units)
    found = open_incidents(config.console.state_dir, svc.name)
    pending = [state for state in found if state.interrupted]
    running = [state for state in found if state.live is not None]
    print_journal_warnings(found, err)
    if args.json:
        data = {
            "snapshot": jsonable(snap),
            "health": jsonable(health),
            "assessment": {**jsonable(assessment), "summary": describe(assessment)},
            "open_incidents": [state.incident_id for state in pending],
            "in_progress": [
                {"incident": state.incident_id, **jsonable(state.live)} for state in running
            ],
        }
        print_json(config.redactor.deep(jsonable(data)), out)
        return EXIT_OK
    # Names and messages come from the platform: one line each, control characters escaped.
    shown = printable
    current = snap.current
    print(f"{svc.label} on {svc.provider}", file=out)
    print(f"  current:  {shown(current.version) if current else '(unknown)'}", file=out)
    prev = snap.previous()
    print(f"  previous: {shown(prev.version) if prev else '(none)'}", file=out)
    if snap.alert:
        action = f" (default rollback: {shown(snap.alert_action)})" if snap.alert_action else ""
        print(f"  ALERT: {shown(snap.alert)}{action}", file=out)
    print_revisions(snap, out)
    print(f"  units ({len(snap.units)}):", file=out)
    for unit in snap.units:
        ready = "ready" if unit.ready else "history" if unit.retired else "NOT READY"
        print(
            f"    {shown(unit.name):<20} {shown(unit.state):<10} {ready:<9} {shown(unit.revision)}",
            file=out,
        )
    print(error_rate_line(svc, assessment), file=out)
    print("  health checks (one request each, just now):", file=out)
    for h in health:
        result = f"{h.status_code}" if h.status_code is not None else shown(h.error)
        latency = f" {h.latency_ms:.0f} ms" if h.latency_ms is not None else ""
        print(f"    {'ok  ' if h.ok else 'FAIL'} {shown(h.url)} {result}{latency}", file=out)
    print(f"  {describe(assessment)}", file=out)
    for reason in assessment.reasons:
        print(f"    - {printable(reason)}", file=out)
    for note in snap.notes:
        print(f"  note: {shown(note)}", file=out)
    for state in running:
        assert state.live is not None
        print(
            f"  IN PROGRESS: rollback {state.incident_id} by {state.live.describe()}",
            file=out,
        )
    for state in pending:
        print(
            f"  OPEN: interrupted rollback {state.incident_id} by {state.operator or '?'}: "
            f"finish it with `{PROG} resume {svc.name}`",
            file=out,
        )
    return EXIT_OK
