"""What a managed platform's restore hands back, in the console's words: its window, its DSN.

Shared by the Cloud SQL and Neon clients.  The new instance's DSN is the live
one (``dsn_env``) with the new host: same user, password, database and
options.  It is a secret like the live one: built when a step needs it, never
put in a step's params, a journal line or a message; what is shown is
``<new DSN: host HOST db NAME>``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from providers.base import TimedOut
from providers.database.pg import Dsn

T = TypeVar("T")


def shown_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def rfc3339(when: datetime) -> str:
    """``2026-01-05T22:41:07Z`` (microseconds kept when there are any)."""
    text = when.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class RecoveryWindow:
    """What the platform says can be restored: from ``earliest`` to ``latest``."""

    earliest: datetime
    latest: datetime

    def describe(self) -> str:
        return f"{shown_time(self.earliest)} to {shown_time(self.latest)}"


def dsn_with_host(live: Dsn, host: str, port: str = "") -> str:
    """The live DSN as a URL pointed at ``host`` (a name, an address or a socket folder)."""
    params = dict(live.params)
    params.pop("hostaddr", None)
    params["host"] = host
    if port:
        params["port"] = port
    user = urllib.parse.quote(params.pop("user", ""), safe="")
    password = urllib.parse.quote(params.pop("password", ""), safe="")
    dbname = urllib.parse.quote(params.pop("dbname", ""), safe="")
    where = params.pop("host")
    port_text = params.pop("port", "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    if where.startswith("/"):
        # A socket folder (``/cloudsql/PROJECT:REGION:INSTANCE``) goes in the query.
        query = {"host": where, **({"port": port_text} if port_text else {}), **params}
        return f"postgresql://{auth}/{dbname}?{urllib.parse.urlencode(query)}"
    netloc = f"[{where}]" if ":" in where else where
    netloc += f":{port_text}" if port_text else ""
    query_text = f"?{urllib.parse.urlencode(params)}" if params else ""
    return f"postgresql://{auth}{netloc}/{dbname}{query_text}"


def shown_dsn(host: str, database: str) -> str:
    """What is shown of a new DSN: never the DSN."""
    return f"<new DSN: host {host} db {database}>"


def poll(
    look: Callable[[], tuple[T | None, str]],
    timeout_s: float,
    poll_s: float,
    what: str,
    clock: Callable[[], float] | None = None,
) -> Generator[str, None, T]:
    """Call ``look`` until it hands back a result (bounded); yield each new state line."""
    import time

    now = clock or time.monotonic
    deadline = now() + timeout_s
    said = ""
    while True:
        found, line = look()
        if found is not None:
            return found
        if line and line != said:
            said = line
            yield line
        if now() >= deadline:
            raise TimedOut(
                f"{what} did not finish within {timeout_s:.3g} s ({said or 'no news'}); "
                "it may still complete: the console looks for it by its name on resume"
            )
        time.sleep(poll_s)
