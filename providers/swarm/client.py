"""The Docker Engine API over its unix socket: every call bounded, every failure one line.

httpx (a core dependency) speaks HTTP over the socket; it is imported on first
use, so a console for another platform never loads it for Swarm.  Updates carry
``?version=`` (the Engine's optimistic concurrency): a spec changed by someone
else since it was read is refused ("update out of sequence") and becomes a
``Conflict``, never an overwrite.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from console.config import SwarmConfig
from providers.base import Conflict, NotFound, OutcomeUnknown, ProviderError, Unavailable

if TYPE_CHECKING:
    import httpx

DEFAULT_SOCKET = "/var/run/docker.sock"
REQUEST_TIMEOUT_S = 10.0
#: The Engine API version asked for: Docker 20.10 speaks 1.41.
API = "/v1.41"


def socket_path(cfg: SwarmConfig, environ: Mapping[str, str] = os.environ) -> str:
    """Where the Engine listens: ``docker_host``, then ``DOCKER_HOST``, then the default."""
    host = cfg.docker_host or environ.get("DOCKER_HOST", "") or DEFAULT_SOCKET
    if host.startswith("unix://"):
        return host[len("unix://") :]
    if host.startswith("/"):
        return host
    raise Unavailable(f"DOCKER_HOST={host!r} is not a unix socket (only unix:// is supported)")


class EngineClient:
    """The few Engine API calls the provider makes, for one service."""

    def __init__(self, cfg: SwarmConfig, *, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self.cfg = cfg
        self.timeout_s = timeout_s
        self._client: httpx.Client | None = None
        self._socket = ""

    @property
    def socket(self) -> str:
        if not self._socket:
            self._socket = socket_path(self.cfg)
        return self._socket

    def docker(self, *args: str) -> str:
        """The ``docker`` command an operator could type instead (with ``-H`` when not default)."""
        host = "" if self.socket == DEFAULT_SOCKET else f" -H unix://{self.socket}"
        return f"docker{host} " + " ".join(args)

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            self._client = httpx.Client(
                transport=httpx.HTTPTransport(uds=self.socket),
                base_url="http://docker" + API,
                timeout=self.timeout_s,
            )
        return self._client

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        what: str = "",
        sends: bool = False,
    ) -> Any:
        """One call; JSON (or text) back.  ``sends``: a change, so a lost answer is
        ``OutcomeUnknown`` (read the service back), never "failed"."""
        import httpx

        what = what or f"{method} {path}"
        try:
            resp = self._http().request(method, path, params=params, json=body)
        except (httpx.ConnectError, FileNotFoundError, PermissionError) as err:
            raise Unavailable(
                f"cannot reach the Docker Engine at unix://{self.socket}: {err}"
            ) from None
        except httpx.HTTPError as err:
            cls = OutcomeUnknown if sends else Unavailable
            raise cls(f"{what}: no answer from the Docker Engine ({type(err).__name__})") from None
        if resp.status_code >= 400:
            message = _message(resp)
            if resp.status_code == 404:
                raise NotFound(f"{what}: {message}")
            if resp.status_code == 409 or "out of sequence" in message:
                raise Conflict(f"{what}: {message}")
            if resp.status_code == 503 and "not part of a swarm" in message.lower():
                raise Unavailable(f"{what}: {message}")
            raise ProviderError(f"{what}: {message} (HTTP {resp.status_code})")
        if not resp.content:
            return None
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.content

    def service(self) -> dict[str, Any]:
        """``docker service inspect SERVICE`` (the live spec, PreviousSpec, UpdateStatus)."""
        data: dict[str, Any] = self.request(
            "GET",
            f"/services/{self.cfg.service}",
            params={"insertDefaults": "true"},
            what=f"service {self.cfg.service}",
        )
        return data

    def tasks(self, service_id: str) -> list[dict[str, Any]]:
        """The service's tasks, the kept history included (``docker service ps``)."""
        filters = json.dumps({"service": [service_id]})
        data: list[dict[str, Any]] = self.request(
            "GET", "/tasks", params={"filters": filters}, what="tasks"
        )
        return data

    def nodes(self) -> dict[str, str]:
        """Node id -> hostname, for the units' ``node``."""
        try:
            data = self.request("GET", "/nodes", what="nodes")
        except ProviderError:
            return {}
        return {n["ID"]: n.get("Description", {}).get("Hostname", n["ID"][:12]) for n in data}

    def update(
        self, service: Mapping[str, Any], spec: Mapping[str, Any], *, rollback: bool = False
    ) -> list[str]:
        """``POST /services/ID/update?version=N`` (``rollback=previous`` for a rollback);
        returns the Engine's warnings."""
        params: dict[str, Any] = {"version": service["Version"]["Index"]}
        if rollback:
            params["rollback"] = "previous"
        data = self.request(
            "POST",
            f"/services/{service['ID']}/update",
            params=params,
            body=dict(spec),
            what=f"update of service {self.cfg.service}",
            sends=True,
        )
        warnings = data.get("Warnings") if isinstance(data, dict) else None
        return [str(w) for w in warnings or []]

    def logs(self, kind: str, ident: str, lines: int) -> tuple[str, ...]:
        """``docker service logs --tail`` of a service or one task (``kind``: services/tasks)."""
        raw = self.request(
            "GET",
            f"/{kind}/{ident}/logs",
            params={"stdout": "1", "stderr": "1", "tail": str(lines), "timestamps": "0"},
            what=f"logs of {ident}",
        )
        return tuple(demux(raw if isinstance(raw, bytes) else b""))[-lines:]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def demux(raw: bytes) -> list[str]:
    """The Engine's multiplexed log stream (8-byte frame headers) as text lines."""
    out = bytearray()
    pos = 0
    while pos + 8 <= len(raw) and raw[pos] in (0, 1, 2) and raw[pos + 1 : pos + 4] == b"\0\0\0":
        size = int.from_bytes(raw[pos + 4 : pos + 8], "big")
        out += raw[pos + 8 : pos + 8 + size]
        pos += 8 + size
    if pos < len(raw):
        out += raw[pos:]  # a TTY service's logs are not framed
    return out.decode("utf-8", "replace").splitlines()


def _message(resp: httpx.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return resp.text.strip()[:300] or resp.reason_phrase
    if isinstance(data, dict) and "message" in data:
        return " ".join(str(data["message"]).split())[:300]
    return str(data)[:300]
