"""URL values: an http(s) URL with a usable host and port, or one line saying why not.

A bad host or port would only fail at the first request, as a connection
error that looks like an outage; the config refuses it up front instead.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from console.config.reader import ConfigError, Reader, shown


def is_url(value: object) -> bool:
    """An http(s) URL with no spaces or control characters in it, and a usable host and port."""
    return (
        isinstance(value, str)
        and re.fullmatch(r"https?://[^\s\x00-\x1f\x7f]+", value) is not None
        and _host_port_problem(value) is None
    )


def url_error(r: Reader, key: str, value: object) -> ConfigError:
    """Why ``value`` is not a usable http(s) URL, as the error to raise for ``key``.

    A bad host or port is named on its own, without the rest of the URL (which
    may hold a password).
    """
    problem = _host_port_problem(value) if isinstance(value, str) else None
    if problem is not None and re.fullmatch(r"https?://[^\s\x00-\x1f\x7f]+", str(value)):
        return r.error(key, problem)
    return r.error(key, f"must be an http:// or https:// URL, got {shown(value)}")


#: One DNS label (letters of any script, digits, '-', '_'; no '-' at either end).
_LABEL = re.compile(r"(?!-)[\w-]{1,63}(?<!-)")


def _host_port_problem(url: str) -> str | None:
    """What is wrong with the host or port of ``url`` (None when both are usable).

    ``http://localhost:99999/`` or ``http://exa%20mple/`` would only fail when
    the first request is made, as a connection error that looks like an outage.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced "[", or no IPv6 address inside the brackets
        return "has an invalid IPv6 address (the host in [ ])"
    hostport = parts.netloc.rpartition("@")[2]
    try:
        port = parts.port
    except ValueError:
        text = hostport.rpartition("]")[2].rpartition(":")[2]
        return f"has an invalid port {shown(text)} (must be a number from 1 to 65535)"
    if port == 0:
        return "has an invalid port '0' (must be a number from 1 to 65535)"
    host = parts.hostname or ""
    if not host:
        return "has no host name"
    if hostport.startswith("["):
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return f"has an invalid IPv6 address {shown(host)}"
        return None
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"has an invalid IPv4 address {shown(host)}"
        return None
    if not all(_LABEL.fullmatch(label) for label in host.removesuffix(".").split(".")):
        return f"has an invalid host name {shown(host)}"
    return None
