"""State of the fake Secret Manager v1: secrets and their versions.

Kept as the JSON the public API exchanges (camelCase, RFC 3339 times).
Semantics followed (the public v1 reference):

* A version's ``name`` is ``projects/NUMBER/secrets/S/versions/N``: the API
  answers with the project's *number* whatever the request named (the
  project id or its number); versions are numbered 1, 2, ... per secret.
* ``POST projects/P/secrets/S:addVersion`` with ``{"payload": {"data":
  BASE64}}`` adds an ENABLED version and answers it; a payload that is not
  base64, empty or over 64 KiB is refused with 400 INVALID_ARGUMENT; the
  secret must exist (404 NOT_FOUND otherwise).
* ``GET .../versions`` lists newest first, ``pageSize`` at a time (default
  25, at most 25000) with ``nextPageToken``; ``totalSize`` counts them all.
* ``GET .../versions/V`` and ``.../versions/V:access``: ``V`` a number or
  ``latest`` (the newest ENABLED version); accessing a DISABLED or DESTROYED
  version is 400 FAILED_PRECONDITION; the payload comes back as base64 with
  its ``dataCrc32c``.
* Errors are ``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import threading
from datetime import UTC, datetime
from typing import Any

from tests.fakes.rest import RestError

JSON = dict[str, Any]

MAX_PAYLOAD = 65536


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SecretManagerStore:
    """Secrets (``projects/NUMBER/secrets/S``) with their versions, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        #: Project id -> its number (the names the API answers with use the number).
        self.numbers: dict[str, str] = {}
        self.secrets: dict[str, JSON] = {}
        #: Secret name -> its versions, oldest first (each with ``data``, the bytes).
        self.versions: dict[str, list[JSON]] = {}
        #: Every accepted ``addVersion``: (secret name, the payload's bytes).
        self.added: list[tuple[str, bytes]] = []

    # ----------------------------------------------------------------- building state

    def add_secret(self, project: str, secret: str, *values: str, number: str = "") -> str:
        """Secret ``secret`` of ``project`` with a version for each of ``values``; its name."""
        with self.lock:
            num = self.numbers.setdefault(project, number or str(100000 + len(self.numbers)))
            name = f"projects/{num}/secrets/{secret}"
            self.secrets[name] = {
                "name": name,
                "replication": {"automatic": {}},
                "createTime": rfc3339(datetime.now(UTC)),
                "etag": '"1"',
            }
            self.versions[name] = []
        for value in values:
            self._add(name, value.encode())
        return name

    def value(self, project: str, secret: str, version: str) -> str:
        """A version's payload as text (for a test's assertions)."""
        with self.lock:
            return bytes(self._version(self._secret(project, secret), version)["data"]).decode()

    # ----------------------------------------------------------------- reading

    def _secret(self, project: str, secret: str) -> str:
        num = self.numbers.get(project, project)
        name = f"projects/{num}/secrets/{secret}"
        if name not in self.secrets:
            raise RestError(
                404, "NOT_FOUND", f"Secret [projects/{num}/secrets/{secret}] not found."
            )
        return name

    def _version(self, name: str, version: str) -> JSON:
        mine = self.versions[name]
        if version == "latest":
            enabled = [v for v in mine if v["state"] == "ENABLED"]
            if not enabled:
                raise RestError(404, "NOT_FOUND", f"Secret [{name}] not found or has no versions.")
            return enabled[-1]
        if not version.isdigit() or not 1 <= int(version) <= len(mine):
            raise RestError(
                404, "NOT_FOUND", f"Secret Version [{name}/versions/{version}] not found."
            )
        return mine[int(version) - 1]

    @staticmethod
    def _public(doc: JSON) -> JSON:
        return {k: copy.deepcopy(v) for k, v in doc.items() if k != "data"}

    def secret(self, project: str, secret: str) -> JSON:
        with self.lock:
            return copy.deepcopy(self.secrets[self._secret(project, secret)])

    def list_versions(self, project: str, secret: str, query: dict[str, str]) -> JSON:
        with self.lock:
            name = self._secret(project, secret)
            try:
                size = int(query.get("pageSize") or 25)
                start = int(query.get("pageToken") or 0)
            except ValueError:
                raise RestError(400, "INVALID_ARGUMENT", "Invalid pageSize or pageToken.") from None
            if not 1 <= size <= 25000:
                raise RestError(400, "INVALID_ARGUMENT", "pageSize must be between 1 and 25000.")
            newest = list(reversed(self.versions[name]))
            page = newest[start : start + size]
            doc: JSON = {
                "versions": [self._public(v) for v in page],
                "totalSize": len(newest),
            }
            if start + size < len(newest):
                doc["nextPageToken"] = str(start + size)
            return doc

    def version(self, project: str, secret: str, version: str) -> JSON:
        with self.lock:
            return self._public(self._version(self._secret(project, secret), version))

    def access(self, project: str, secret: str, version: str) -> JSON:
        with self.lock:
            found = self._version(self._secret(project, secret), version)
            if found["state"] != "ENABLED":
                raise RestError(
                    400,
                    "FAILED_PRECONDITION",
                    f"Secret Version [{found['name']}] is in {found['state']} state.",
                )
            data = bytes(found["data"])
            return {
                "name": found["name"],
                "payload": {
                    "data": base64.b64encode(data).decode(),
                    "dataCrc32c": str(_crc32c(data)),
                },
            }

    # ----------------------------------------------------------------- writing

    def add_version(self, project: str, secret: str, body: JSON | None) -> JSON:
        payload = (body or {}).get("payload")
        raw = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(raw, str) or not raw:
            raise RestError(400, "INVALID_ARGUMENT", "payload.data: must be set.")
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise RestError(400, "INVALID_ARGUMENT", "payload.data: is not valid base64.") from None
        if len(data) > MAX_PAYLOAD:
            raise RestError(400, "INVALID_ARGUMENT", "payload.data: must be at most 65536 bytes.")
        with self.lock:
            name = self._secret(project, secret)
            return self._public(self._add(name, data))

    def _add(self, name: str, data: bytes) -> JSON:
        with self.lock:
            mine = self.versions[name]
            doc: JSON = {
                "name": f"{name}/versions/{len(mine) + 1}",
                "createTime": rfc3339(datetime.now(UTC)),
                "state": "ENABLED",
                "replicationStatus": {"automatic": {}},
                "etag": f'"{len(mine) + 1}"',
                "clientSpecifiedPayloadChecksum": False,
                "data": data,
            }
            mine.append(doc)
            self.added.append((name, data))
            return doc

    def set_state(self, project: str, secret: str, version: str, state: str) -> JSON:
        with self.lock:
            found = self._version(self._secret(project, secret), version)
            if found["state"] == "DESTROYED":
                raise RestError(400, "FAILED_PRECONDITION", f"{found['name']} is destroyed.")
            found["state"] = state
            return self._public(found)


def _crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli), as ``dataCrc32c`` carries it."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


__all__ = ["SecretManagerStore"]
