"""The host provider: a service on a VM or bastion, released as symlinked folders or a git
checkout (``provider.py``; one strategy a module behind ``strategy.Releases``)."""

from __future__ import annotations

from providers.host.processes import ProcessInfo, read_process
from providers.host.provider import POLL_INTERVAL_S, HostProvider
from providers.host.strategy import version_key

__all__ = ["POLL_INTERVAL_S", "HostProvider", "ProcessInfo", "read_process", "version_key"]
