"""Secret Manager API v1, the few calls the Cloud Run switch of a restore needs, with httpx.

When a Cloud Run service reads its DSN from a secret (``valueSource.secretKeyRef
{secret, version}``), pointing it at a restored database means a new version
of that secret: ``POST projects/P/secrets/S:addVersion`` with the payload in
base64, read back with ``GET .../versions/N:access``.  ``addVersion`` has no
request id, so a call whose answer was lost (``OutcomeUnknown``) or a switch
resumed after a kill looks for a version already holding the payload
(``find``, newest first) before adding one: never a second version.

Credentials: Application Default Credentials (``rest.GoogleCredentials``,
scope ``cloud-platform``), as for the Cloud SQL Admin API; a plain ``http://``
endpoint (a local test server) is spoken to without a token.  A payload
(a DSN) is never part of a message.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from providers.base import NotFound, Unavailable
from providers.database.rest import (
    REQUEST_TIMEOUT_S,
    RETRY_S,
    GoogleCredentials,
    RestApi,
    google_message,
)

JSON = dict[str, Any]

DEFAULT_ENDPOINT = "https://secretmanager.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
#: Versions read (newest first) when looking for one that holds a payload already.
FIND_LIMIT = 20


def split_ref(secret: str, project: str) -> tuple[str, str]:
    """(project, secret id) of a ``secretKeyRef.secret``: ``S`` (the service's project) or
    ``projects/P/secrets/S``."""
    parts = secret.split("/")
    if len(parts) == 4 and parts[0] == "projects" and parts[2] == "secrets":
        return parts[1], parts[3]
    return project, secret


def version_number(name: str) -> str:
    """``projects/123/secrets/S/versions/7`` -> ``7``."""
    return name.rstrip("/").rsplit("/", 1)[-1]


class SecretManagerClient:
    """Secret ``secret`` of ``project`` (an id or a number)."""

    def __init__(
        self,
        project: str,
        secret: str,
        *,
        api_endpoint: str = "",
        credentials: Any = None,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        retry_s: float = RETRY_S,
    ) -> None:
        self.project = project
        self.secret = secret
        self.endpoint = (api_endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self.api = RestApi(
            self.endpoint,
            "the Secret Manager API",
            GoogleCredentials(self.endpoint, SCOPE, "the Secret Manager API", credentials),
            lambda doc: google_message(doc, reasons=False),
            request_timeout_s=request_timeout_s,
            retry_s=retry_s,
        )

    @property
    def where(self) -> str:
        return f"secret {self.secret} (project {self.project})"

    def _path(self, rest: str = "") -> str:
        return f"/v1/projects/{self.project}/secrets/{self.secret}{rest}"

    # ----------------------------------------------------------------- reading

    def versions(self, limit: int = FIND_LIMIT) -> list[JSON]:
        """Up to ``limit`` versions, newest first (the API's order)."""
        found: list[JSON] = []
        token = ""
        while len(found) < limit:
            query = f"?pageSize={min(limit, 100)}" + (f"&pageToken={token}" if token else "")
            doc = self.api.call(
                "GET", self._path(f"/versions{query}"), f"list the versions of {self.where}"
            )
            found += [v for v in doc.get("versions") or [] if isinstance(v, dict)]
            token = str(doc.get("nextPageToken") or "")
            if not token:
                break
        return found[:limit]

    def version(self, version: str) -> str:
        """The number of ``version`` (``latest``: the newest enabled one); metadata only."""
        doc = self.api.call(
            "GET", self._path(f"/versions/{version}"), f"read version {version} of {self.where}"
        )
        return version_number(str(doc.get("name") or version))

    def access(self, version: str) -> tuple[str, bytes]:
        """(the version's number, its payload); ``version``: a number or ``latest``."""
        doc = self.api.call(
            "GET",
            self._path(f"/versions/{version}:access"),
            f"read version {version} of {self.where}",
        )
        try:
            data = base64.b64decode(str((doc.get("payload") or {}).get("data") or ""))
        except (binascii.Error, ValueError):
            raise Unavailable(
                f"version {version} of {self.where}: a payload not in base64"
            ) from None
        return version_number(str(doc.get("name") or version)), data

    def find(self, data: bytes, limit: int = FIND_LIMIT) -> str | None:
        """The newest ENABLED version (of the latest ``limit``) holding ``data``, or None."""
        for doc in self.versions(limit):
            if doc.get("state") != "ENABLED":
                continue
            number = version_number(str(doc.get("name", "")))
            try:
                if self.access(number)[1] == data:
                    return number
            except NotFound:
                continue
        return None

    # ----------------------------------------------------------------- writing

    def add(self, data: bytes) -> str:
        """A new version holding ``data``; its number (``OutcomeUnknown`` when the answer
        was lost: ``find`` before sending again)."""
        doc = self.api.call(
            "POST",
            self._path(":addVersion"),
            f"add a version to {self.where}",
            {"payload": {"data": base64.b64encode(data).decode()}},
        )
        return version_number(str(doc.get("name", "")))

    def gcloud_disable(self, version: str) -> str:
        return (
            f"gcloud secrets versions disable {version} --secret {self.secret} "
            f"--project {self.project}"
        )


__all__ = ["SecretManagerClient", "split_ref", "version_number"]
