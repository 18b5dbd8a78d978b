"""One JSON-over-HTTPS call to a database platform's API (Cloud SQL Admin, Neon), with httpx.

Why not each platform's SDK: the calls the point-in-time recovery needs are
four or five plain REST requests, and neither platform's SDK is a dependency
of the console.  Every call has a time limit; reads (and a write the API
refused *before* accepting it: 423 Locked, 429, 503) are retried briefly;
every failure becomes one ``ProviderError`` line naming what was being done
and the API's own message (404 ``NotFound``, 401/403 ``Forbidden``, 409
``Conflict``, 400/422 ``InvalidTarget``, 5xx and network errors
``Unavailable``, no answer in time ``TimedOut``).  A write whose answer was
lost raises ``OutcomeUnknown``: the caller looks the object up by its name
before anything is sent again.  Headers (a bearer token or an API key) are
never part of a message.

The Google APIs (Cloud SQL Admin, Secret Manager) share ``GoogleCredentials``
(the bearer token of Application Default Credentials) and ``google_message``
(their error document).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from console.textsafe import one_line
from providers.base import (
    Conflict,
    Forbidden,
    InvalidTarget,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    TimedOut,
    Unavailable,
)

JSON = dict[str, Any]

#: Seconds one request may take.
REQUEST_TIMEOUT_S = 30.0
#: How long a call is retried on 423 / 429 / 503 / a connection error (reads only for the last).
RETRY_S = 10.0
#: Statuses at which the API did not act on the request: retried, for writes too.
_NOT_ACTED = frozenset({423, 429, 503})


class RestApi:
    """``base_url`` and the headers of each request (``headers()``, called per request)."""

    def __init__(
        self,
        base_url: str,
        platform: str,
        headers: Callable[[], Mapping[str, str]],
        message: Callable[[Any], str],
        *,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        retry_s: float = RETRY_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.platform = platform
        self._headers = headers
        self._message = message
        self.request_timeout_s = request_timeout_s
        self.retry_s = retry_s
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def call(self, method: str, path: str, what: str, body: JSON | None = None) -> JSON:
        """The answer's JSON document; one ``ProviderError`` line on any failure."""
        deadline = time.monotonic() + self.retry_s
        pause = 0.1
        write = method != "GET"
        while True:
            try:
                answer = self._send(method, path, body)
            except httpx.TimeoutException:
                if write:
                    raise OutcomeUnknown(
                        f"cannot {what}: no answer from {self.platform} within "
                        f"{self.request_timeout_s:.3g} s; it may have been done: look before "
                        "sending it again"
                    ) from None
                failure: ProviderError = TimedOut(
                    f"cannot {what}: no answer from {self.platform} within "
                    f"{self.request_timeout_s:.3g} s"
                )
            except httpx.HTTPError as exc:
                reason = one_line(str(exc) or type(exc).__name__, 200)
                if write and not isinstance(exc, httpx.ConnectError):
                    raise OutcomeUnknown(
                        f"cannot {what}: the answer from {self.platform} was lost ({reason}); "
                        "it may have been done: look before sending it again"
                    ) from None
                failure = Unavailable(f"cannot {what}: {self.base_url} cannot be reached: {reason}")
            else:
                if answer.status_code < 300:
                    return self._json(answer, what)
                failure = self.error(what, answer)
                if answer.status_code not in _NOT_ACTED:
                    raise failure
            if time.monotonic() + pause > deadline:
                raise failure
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _send(self, method: str, path: str, body: JSON | None) -> httpx.Response:
        headers = {"Accept": "application/json", **self._headers()}
        with self._lock:
            if self._client is None:
                # One client (one TLS context, kept connections) for every call.
                self._client = httpx.Client(timeout=self.request_timeout_s, follow_redirects=False)
            client = self._client
        return client.request(method, self.base_url + path, json=body, headers=headers)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _json(self, answer: httpx.Response, what: str) -> JSON:
        try:
            doc = answer.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise Unavailable(
                f"cannot {what}: {self.platform} answered HTTP {answer.status_code} without a "
                f"JSON document: {one_line(answer.text, 120)}"
            )
        return doc

    def error(self, what: str, answer: httpx.Response) -> ProviderError:
        status = answer.status_code
        try:
            detail = self._message(answer.json())
        except ValueError:
            detail = ""
        detail = (
            one_line(detail, 300)
            or f"an answer without the API's error details: {one_line(answer.text, 120)}"
        )
        text = f"cannot {what}: {detail} (HTTP {status})"
        if status == 404:
            return NotFound(text)
        if status in (401, 403):
            return Forbidden(f"{text}; check the credentials in use")
        if status == 409:
            return Conflict(text)
        if status in (400, 422):
            return InvalidTarget(text)
        if status == 408 or status == 504:
            return TimedOut(text)
        return Unavailable(text)


class GoogleCredentials:
    """The headers of a Google API call: Application Default Credentials (``google.auth``,
    imported on first use, for ``scope``) as a bearer token, refreshed when stale.  An
    ``endpoint`` that is plain ``http://`` (a local test server) gets no token, so a token
    is never sent in clear text."""

    def __init__(self, endpoint: str, scope: str, api: str, credentials: Any = None) -> None:
        self.endpoint = endpoint
        self.scope = scope
        self.api = api
        self.credentials = credentials

    def __call__(self) -> Mapping[str, str]:
        if self.endpoint.startswith("http://"):
            return {}
        try:
            import google.auth
            import google.auth.exceptions as gauth
            from google.auth.transport.requests import Request
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise Unavailable(f"google-auth is not installed: {exc}") from None
        try:
            if self.credentials is None:
                self.credentials, _ = google.auth.default(scopes=[self.scope])
            if not self.credentials.valid:
                self.credentials.refresh(Request())
        except gauth.DefaultCredentialsError:
            raise Forbidden(
                f"no Application Default Credentials for {self.api} (run `gcloud "
                "auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS)"
            ) from None
        except gauth.GoogleAuthError as err:
            raise Forbidden(f"the credentials were refused: {str(err)[:160]}") from None
        return {"Authorization": f"Bearer {self.credentials.token}"}


def google_message(doc: Any, *, reasons: bool = True) -> str:
    """The ``error.message`` of a Google API's error document, with the first
    ``errors[].reason`` beside it when ``reasons`` and the message does not hold it."""
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        return ""
    text = str(error.get("message") or "")
    if not reasons:
        return text
    found = [e.get("reason", "") for e in error.get("errors") or [] if isinstance(e, dict)]
    reason = next((r for r in found if r), "")
    return f"{text} ({reason})" if reason and reason not in text else text
