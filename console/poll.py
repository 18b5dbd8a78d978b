"""Waiting for a platform to say it is ready: one poll loop for every ``wait_ready``.

``wait_ready`` never raises for "not ready yet" (providers.base): a read that
fails counts as "not ready" with its reason, the loop looks again, and when
the time is up the result says how long it waited and what it last saw.
Each read is given what is left of the limit, so a hung API cannot stretch
the wait; a line that changed is passed to ``on_progress`` (the screen's live
"2 of 3 replicas available...").
"""

from __future__ import annotations

import time
from collections.abc import Callable

from console.errors import ProviderError
from console.model import ReadyResult

#: A check: given the seconds left, (ready, what it saw).
Check = Callable[[float], tuple[bool, str]]


def poll_until(
    check: Check,
    timeout_s: float,
    *,
    interval_s: float = 1.0,
    on_progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ReadyResult:
    """Call ``check`` until it says ready or ``timeout_s`` passes; never raises for not ready.

    A ``ProviderError`` from ``check`` is "not ready: <its line>".  Returns at
    once with the first ready answer (``waited_s`` how long it took).
    """
    start = time.monotonic()
    deadline = start + max(0.0, timeout_s)
    last = ""
    while True:
        left = max(0.0, deadline - time.monotonic())
        try:
            ready, message = check(left)
        except ProviderError as err:
            ready, message = False, str(err)
        now = time.monotonic()
        if ready:
            return ReadyResult(True, message, now - start)
        if on_progress is not None and message != last:
            on_progress(message)
        last = message
        if now >= deadline:
            return ReadyResult(
                False, f"not ready after {now - start:.0f} s: {message}", now - start
            )
        sleep(min(interval_s, deadline - now))
