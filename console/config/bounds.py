"""The limits the config's numbers must keep, shared by every section and the CLI.

A number past one of these is a typo (``1e308``) or a unit mistake
(milliseconds for seconds), not a setting: the reader refuses it naming the key.
"""

from __future__ import annotations

#: The shortest any duration key may be: below 10 ms it is a unit mistake, not a time.
MIN_DURATION_S = 0.01
#: The longest any duration key (``*_s``) may be: a day.  Anything longer is a typo
#: (``1e308``) or a unit mistake (milliseconds), and a timer that long overflows.
MAX_DURATION_S = 86_400.0
#: The shortest time limit one HTTP request may have (health checks, probes, webhook):
#: shorter, every request "fails" and the console reports an outage that is not there.
MIN_REQUEST_TIMEOUT_S = 0.1
#: The shortest pause between probe requests: shorter is a busy loop against the service.
MIN_PROBE_INTERVAL_S = 0.05
#: The shortest platform lock lifetime: shorter, another console takes the lock over
#: while a rollback is still running.
MIN_LOCK_TTL_S = 10.0
#: The largest latency (p95 thresholds, in ms): a day, like the durations.
MAX_LATENCY_MS = MAX_DURATION_S * 1000
#: The longest a command may wait at exit for team messages (0 = not at all).
MAX_EXIT_WAIT_S = 600.0
