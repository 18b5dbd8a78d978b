"""The one AWS client factory: the ECS provider and the CloudWatch error-rate source use it.

boto3 is imported here lazily, inside :meth:`AwsClients.client`, so importing
this module costs nothing until the first call that really talks to AWS: the
dashboard paints before any SDK is loaded.

A client is made on first use and kept, one per service, region and leash
(read timeout, attempts), from one boto3 session per profile for the whole
process: a session loads and caches the API models, so a second service, a
re-built provider or the error-rate source make their clients from warm
caches.  Throttling and 5xx answers are retried by botocore (standard retry
mode) before an error reaches the caller.

Making a client raises botocore's own exceptions (an unknown profile, say):
each caller says in its own words what failed (the provider as a
``ProviderError``, the error-rate source as a ``SignalError``).
"""

from __future__ import annotations

import threading
from typing import Any

#: Attempts botocore makes per call (standard retry mode: throttling and 5xx answers
#: are retried with jittered exponential back-off) before an error reaches the console.
MAX_ATTEMPTS = 3
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0

#: Sessions by profile; they are not thread-safe: every use goes through ``_SESSION_LOCK``.
_SESSIONS: dict[str, Any] = {}
_SESSION_LOCK = threading.Lock()


class AwsClients:
    """boto3 clients for one region / profile / endpoint, made on first use and reused.

    Clients are thread-safe once made; making them is not, so it is guarded.
    Nothing touches the network (or imports boto3) before the first ``client()``.
    """

    def __init__(self, region: str, profile: str = "", endpoint_url: str = "") -> None:
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        #: Attempts per call in total (first try included) before an error surfaces.
        self.max_attempts = MAX_ATTEMPTS
        self._clients: dict[tuple[str, ...], Any] = {}

    def client(
        self,
        service: str,
        region: str = "",
        *,
        read_timeout_s: float | None = None,
        max_attempts: int | None = None,
    ) -> Any:
        """The client for ``service`` in ``region`` (default: the configured one).

        ``read_timeout_s`` / ``max_attempts`` make a separate client with another
        leash, e.g. for the polls of a wait that has its own time limit and
        retries on its own.  Raises botocore's exceptions when the client cannot
        be made (an unknown profile, no region).
        """
        region = region or self.region
        timeout = READ_TIMEOUT_S if read_timeout_s is None else read_timeout_s
        attempts = self.max_attempts if max_attempts is None else max_attempts
        key = (service, region, f"{timeout:g}", str(attempts))
        with _SESSION_LOCK:
            if key in self._clients:
                return self._clients[key]
            import boto3
            from botocore.config import Config

            session = _SESSIONS.get(self.profile)
            if session is None:
                session = boto3.session.Session(profile_name=self.profile or None)
                _SESSIONS[self.profile] = session
            config = Config(
                retries={"mode": "standard", "total_max_attempts": attempts},
                connect_timeout=min(CONNECT_TIMEOUT_S, timeout),
                read_timeout=timeout,
                user_agent_extra="rollback-console",
            )
            made = session.client(
                service,
                region_name=region,
                endpoint_url=self.endpoint_url or None,
                config=config,
            )
            self._clients[key] = made
            return made

    def cli_flags(self, region: str = "") -> list[str]:
        """The ``aws`` CLI options that make a shown command reach what these clients reach."""
        flags = ["--region", region or self.region]
        if self.profile:
            flags += ["--profile", self.profile]
        if self.endpoint_url:
            flags += ["--endpoint-url", self.endpoint_url]
        return flags
