"""The platform-side advisory lock: three tags on the ECS service, seen by every bastion.

``rollback-console:lock-holder`` / ``-expires`` / ``-id`` are taken by the
flow before executing and checked again before each change (``before_change``,
which also refuses a change to a service that no longer runs what the plan
started from).  Tags have no
compare-and-swap, so after writing, the lock is read back to see who won;
two bastions writing within the same instant can still both believe they
won (consoles on one bastion are kept apart by the local lock first).
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from console.errors import Conflict, LockHeld
from console.model import utcnow
from providers.ecs.client import EcsApi, as_utc, hhmm
from providers.ecs.errors import aws_errors, call
from providers.ecs.read import EcsReader, ServiceState, tags_of

LOCK_HOLDER = "rollback-console:lock-holder"
LOCK_EXPIRES = "rollback-console:lock-expires"
LOCK_ID = "rollback-console:lock-id"
LOCK_KEYS = (LOCK_HOLDER, LOCK_EXPIRES, LOCK_ID)

_TAG_VALUE_BAD = re.compile(r"[^\w.:/=+\-@ ]")


def tag_value(text: str) -> str:
    """A string made safe for an AWS tag value (letters, digits, spaces, ``_.:/=+-@``)."""
    return _TAG_VALUE_BAD.sub("_", text)[:256]


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime | None:
    try:
        return as_utc(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None


class TagLock:
    """The lock tags of one service, and whether this console holds them."""

    def __init__(self, api: EcsApi, reader: EcsReader) -> None:
        self.api = api
        self.reader = reader
        #: The id this console wrote into the lock ("" while it holds none).
        self.lock_id = ""

    def held_by_other(self, tags: dict[str, str]) -> tuple[str, datetime | None] | None:
        """(holder, expiry) of an unexpired lock someone else holds, else None."""
        holder = tags.get(LOCK_HOLDER, "")
        if not holder or tags.get(LOCK_ID) == self.lock_id:
            return None
        expires = _parse_iso(tags.get(LOCK_EXPIRES, ""))
        if expires is None or expires <= utcnow():
            return None
        return holder, expires

    def acquire(self, operator: str, host: str, ttl_s: float) -> str:
        """Tag the service as locked by ``operator@host`` until now + ``ttl_s``.

        ``LockHeld`` (exit 3) while another console's lock has not expired; the
        same operator on the same host takes their own earlier lock back (a
        crashed run).  Returns a warning when an expired lock was taken over.
        """
        label = self.api.label
        me = tag_value(f"{operator}@{host}")
        svc = self.reader.describe_service(tags=True)
        arn, tags = str(svc["serviceArn"]), tags_of(svc)
        holder = tags.get(LOCK_HOLDER, "")
        warning = ""
        other = self.held_by_other(tags)
        if other is not None and other[0] != me:
            raise LockHeld(
                f"{label} is locked by {other[0]} until {other[1]:%H:%M:%S} UTC "
                f"(tag {LOCK_HOLDER} on the ECS service); wait for them or for it to expire"
            )
        if other is not None:
            warning = f"took back the platform lock {me} still held from an earlier run"
        elif holder and tags.get(LOCK_ID) != self.lock_id:
            expired = _parse_iso(tags.get(LOCK_EXPIRES, ""))
            when = f"expired {hhmm(expired)}" if expired else "with an unreadable expiry"
            warning = f"took over the platform lock of {holder} ({when})"
        lock_id = secrets.token_hex(8)
        expires = utcnow() + timedelta(seconds=ttl_s)
        with aws_errors("ecs:TagResource", f"taking the lock on {self.api.where}"):
            self.api.ecs().tag_resource(
                resourceArn=arn,
                tags=[
                    {"key": LOCK_HOLDER, "value": me},
                    {"key": LOCK_EXPIRES, "value": _iso(expires)},
                    {"key": LOCK_ID, "value": lock_id},
                ],
            )
        after = tags_of(self.reader.describe_service(tags=True))
        if after.get(LOCK_ID) != lock_id:
            raise LockHeld(
                f"{label}: {after.get(LOCK_HOLDER, 'another console')} took the platform "
                "lock at the same moment; try again"
            )
        self.lock_id = lock_id
        return warning

    def release(self, operator: str, host: str) -> None:
        """Remove the lock tags if this console (or ``operator@host``) still holds them.

        With the wait's short timeouts and no retries: the rollback is over by now,
        and an API that stopped answering must not hold the operator's terminal for
        minutes over a lock that expires on its own.
        """
        svc = self.reader.describe_service(tags=True, poll=True)
        arn, tags = str(svc["serviceArn"]), tags_of(svc)
        me = tag_value(f"{operator}@{host}")
        mine = tags.get(LOCK_ID) == self.lock_id if self.lock_id else tags.get(LOCK_HOLDER) == me
        if not tags.get(LOCK_HOLDER) or not mine:
            return
        call(
            "ecs:UntagResource",
            f"releasing the lock on {self.api.where}",
            self.api.ecs(poll=True).untag_resource,
            attempts=1,
            resourceArn=arn,
            tagKeys=list(LOCK_KEYS),
        )
        self.lock_id = ""

    def check(self, tags: dict[str, str]) -> None:
        """``LockHeld`` if another console holds the lock: nothing is changed then."""
        other = self.held_by_other(tags)
        if other is not None:
            raise LockHeld(
                f"{self.api.label} is locked by {other[0]} until {other[1]:%H:%M:%S} UTC "
                f"(tag {LOCK_HOLDER} on the ECS service); nothing was changed"
            )

    def before_change(self, source: str = "") -> ServiceState:
        """The service read (with its tags) right before a change, and the change allowed.

        ``LockHeld`` while another console holds the lock; ``Conflict`` when the
        service no longer runs ``source``, the task definition the plan started
        from (someone deployed meanwhile): nothing is changed either way.
        """
        state = self.reader.read(tags=True)
        self.check(state.tags)
        if source and state.key != source:
            raise Conflict(
                f"{self.api.label} changed since the plan: it runs {state.key}, the plan "
                f"started from {source}; plan again"
            )
        return state
