"""The moment a point-in-time recovery restores to: parsed, refused, defaulted, its loss.

Engine-neutral (PostgreSQL's WAL, RDS, Cloud SQL, Neon alike): the platform
says what is restorable (``Action.earliest`` / ``.latest``); the console
proposes the moment just before the bad release went live (the live
revision's deploy time minus ``[services.database.pitr] margin_s``, clamped
into the window), refuses what cannot be restored as one line, and says what
the restore loses: every write after the moment.  Used by the time screen
(``screens.pitr_time``) as the operator types, and by the headless ``action
SERVICE pitr`` when it proposes the default on a terminal.  The engine's own
planning checks the moment again (``providers.database.pitr.check_time``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from console.model import Action, Snapshot

#: The action id of a point-in-time recovery (every engine's).
PITR_ACTION = "pitr"
#: ``margin_s`` when the service configures none.
DEFAULT_MARGIN_S = 300.0


def stamp(when: datetime) -> str:
    """``2026-01-05T22:41:07Z``: what ``--arg`` takes and the time field shows."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def shown(when: datetime, now: datetime | None = None) -> str:
    """``22:41:07 UTC`` on today's date (UTC), else ``2026-01-05 22:41:07 UTC``."""
    at = when.astimezone(UTC)
    if now is not None and at.date() == now.astimezone(UTC).date():
        return f"{at:%H:%M:%S} UTC"
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


def parse_moment(text: str) -> datetime:
    """ISO 8601 with its zone; ``ValueError`` with the one line to show otherwise."""
    raw = text.strip()
    if not raw:
        raise ValueError("type the time to restore to, such as 2026-01-05T22:41:07Z")
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{raw!r} is not a time: ISO 8601 with its zone, such as 2026-01-05T22:41:07Z"
        ) from None
    if when.tzinfo is None:
        raise ValueError(f"{raw!r} has no time zone: add Z (UTC) or an offset such as +09:00")
    return when.astimezone(UTC).replace(microsecond=0)


def refusal(
    when: datetime, earliest: datetime | None, latest: datetime | None, now: datetime
) -> str | None:
    """Why ``when`` cannot be restored to (in the future, outside the window), or None."""
    if when > now:
        return f"{shown(when, now)} is in the future (now {shown(now, now)})"
    if earliest is not None and when < earliest:
        return f"{shown(when, now)} is before the earliest restorable {shown(earliest, now)}"
    if latest is not None and when > latest:
        return f"{shown(when, now)} is after the latest restorable {shown(latest, now)}"
    return None


def about(seconds: float) -> str:
    """``about 1 h 12 min``, ``about 7 min``, ``under a minute``."""
    minutes = max(0, int(seconds // 60))
    if minutes == 0:
        return "under a minute"
    return (
        f"about {minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"about {minutes} min"
    )


def loss_line(when: datetime, now: datetime) -> str:
    """The data-loss window, as the operator must read it before confirming."""
    return (
        f"writes between {shown(when, now)} and now, {about((now - when).total_seconds())}, "
        "will not be in the restored database"
    )


def deployed_at(snapshot: Snapshot | None) -> datetime | None:
    """When the live (bad) release went live: the live revision's time in the history."""
    if snapshot is None or snapshot.current is None:
        return None
    return snapshot.current.created


def default_moment(
    deployed: datetime | None,
    margin_s: float,
    earliest: datetime | None,
    latest: datetime | None,
    now: datetime,
) -> datetime:
    """The deploy time of the bad release minus ``margin_s``, clamped into the window.

    Without a deploy time: the latest restorable moment (or now).
    """
    newest = min(latest, now) if latest is not None else now
    when = deployed - timedelta(seconds=margin_s) if deployed is not None else newest
    when = min(when, newest)
    if earliest is not None:
        when = max(when, earliest)
    return when.astimezone(UTC).replace(microsecond=0)


def default_for(
    action: Action, snapshot: Snapshot | None, margin_s: float, now: datetime
) -> datetime:
    """``default_moment`` for ``action``'s window and the service's live release."""
    return default_moment(deployed_at(snapshot), margin_s, action.earliest, action.latest, now)


def why_default(snapshot: Snapshot | None, margin_s: float) -> str:
    """Where the default comes from, in one clause."""
    deployed = deployed_at(snapshot)
    if deployed is None or snapshot is None or snapshot.current is None:
        return "the latest restorable moment (the live release's deploy time is not known)"
    return (
        f"{snapshot.current.version} went live {shown(deployed)}, minus {margin_s:g} s "
        "(margin_s), within the restorable window"
    )


def margin_of(service: object) -> float:
    """``[services.database.pitr] margin_s`` of ``service`` (a ``ServiceConfig``), or 300 s."""
    database = getattr(service, "database", None)
    pitr = getattr(database, "pitr", None)
    return float(getattr(pitr, "margin_s", DEFAULT_MARGIN_S))
