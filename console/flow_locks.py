"""The locks of one rollback: the service's on this host, and the platform's, held together.

Taken at the first change, held through the rollout and the verification
until the history entry is written or the operator leaves; while held, other
consoles see the incident as live (``console.lock``) and refuse with exit 3.
"""

from __future__ import annotations

import socket

from console.errors import ProviderError
from console.flow_state import FlowState
from console.lock import ServiceLock
from providers.base import SupportsRemoteLock


class LockSteps(FlowState):
    """The lock half of ``RollbackFlow`` (its methods take the flow as ``self``)."""

    def take_locks(self) -> None:
        """Take the service lock, then the platform's (idempotent); ``LockHeld`` (exit 3).

        Held from the first change through the rollout and the verification
        until the entry is written or the operator leaves (``close``): while
        they are held, other consoles see this incident as *live* and refuse
        to start or resume a rollback of the service.  The platform lock (a
        Deployment annotation, an ECS tag), seen by every bastion, is taken
        after the local one so consoles on one bastion never race for it.
        """
        if self._lock is None:
            lock = ServiceLock(
                self.config.console.state_dir, self.service, self.operator, self.incident.id
            )
            lock.acquire()
            self._lock = lock
        provider = self.provider
        if self._remote_held is not None or not isinstance(provider, SupportsRemoteLock):
            return
        host = socket.gethostname()
        ttl = getattr(getattr(self.service, self.service.provider, None), "lock_ttl_s", 900.0)
        try:
            warning = provider.acquire_lock(self.operator, host, ttl)
        except BaseException:
            self.close()
            raise
        self._remote_held = (self.operator, host)
        self.incident.log("lock", f"platform lock taken by {self.operator} on {host}")
        if warning:
            self.incident.log("lock", warning)

    def release_platform_lock(self) -> None:
        """Release the platform lock once verification is over (blocking: one API call).

        A failed release is logged, not raised: the lock expires on its own.
        """
        held, self._remote_held = self._remote_held, None
        if held is None or not isinstance(self.provider, SupportsRemoteLock):
            return
        try:
            self.provider.release_lock(*held)
            self.incident.log("lock", "platform lock released")
        except ProviderError as err:
            self.incident.log("lock", f"platform lock not released (it expires): {err}")

    def release_service_lock(self) -> None:
        """Release the local service lock now (no I/O beyond the lock file): the TUI leaving
        the wizard, so this console can resume or start again at once."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def holds_platform_lock(self) -> bool:
        return self._remote_held is not None

    def close(self) -> None:
        """The flow is over (entry written, or the operator left it): release every lock.

        Blocking (the platform lock is released through its API); idempotent.
        An incident left open here (no entry) becomes *interrupted*, for resume.
        """
        self.release_platform_lock()
        self.release_service_lock()
