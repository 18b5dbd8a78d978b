"""Talking to the Cloud Run Admin API (v2): the one client every part of the provider uses.

The official ``google-cloud-run`` client (``run_v2``), imported on first use,
never at start-up or in a constructor, always with the REST transport.
Credentials are Application Default Credentials; an ``endpoint`` override that
is plain ``http://`` (a local test server) is spoken to with anonymous
credentials, so a token is never sent in clear text.  Every call has a time
limit; reads are retried briefly on 503/429; every failure becomes one
``ProviderError`` line (404 ``NotFound``, 403/401 ``Forbidden``, 409
``Conflict``, 400 ``InvalidTarget``, 5xx and network errors ``Unavailable``,
deadlines ``TimedOut``).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from console.config import CloudRunConfig
from console.textsafe import one_line
from providers.base import (
    Conflict,
    Forbidden,
    InvalidTarget,
    NotFound,
    ProviderError,
    TimedOut,
    Unavailable,
)
from providers.cloudrun.traffic import Split, describe_routes, gcloud_update_traffic, shell
from providers.cloudrun.views import RevisionView, ServiceView, parse_revision, parse_service

#: Seconds one API request may take.
REQUEST_TIMEOUT_S = 30.0
#: How long reads are retried on 503 / 429 / connection errors.
RETRY_S = 10.0
#: Revisions asked for per page.
PAGE_SIZE = 100

#: What the client puts before the API's message: ``PATCH https://...?$alt=json: ``.
_REQUEST_PREFIX = re.compile(r"^[A-Z]+ https?://\S+: ")

T = TypeVar("T")


def _one_line(text: object, limit: int = 300) -> str:
    return one_line(str(text), limit)


@dataclass
class Api:
    services: Any
    revisions: Any


@dataclass
class State:
    """What the provider read of the service at one moment."""

    raw: Any
    service: ServiceView
    revisions: tuple[RevisionView, ...]

    def revision(self, name: str) -> RevisionView | None:
        return next((r for r in self.revisions if r.name == name), None)


class CloudRunClient:
    """The service named by a ``[services.cloudrun]`` section, as the API sees it.

    ``credentials`` replaces Application Default Credentials; ``retry_s`` is how
    long reads are retried, ``request_timeout_s`` how long one request may take.
    Nothing touches the network before the first call.
    """

    def __init__(
        self,
        cfg: CloudRunConfig,
        *,
        credentials: Any = None,
        retry_s: float = RETRY_S,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        self.cfg = cfg
        self._credentials = credentials
        self.retry_s = retry_s
        self.request_timeout_s = request_timeout_s
        self._api: Api | None = None
        self._api_lock = threading.Lock()

    # ------------------------------------------------------------------ names

    @property
    def parent(self) -> str:
        return f"projects/{self.cfg.project}/locations/{self.cfg.region}"

    @property
    def full_name(self) -> str:
        return f"{self.parent}/services/{self.cfg.service}"

    @property
    def where(self) -> str:
        return (
            f"Cloud Run service {self.cfg.service} (project {self.cfg.project}, {self.cfg.region})"
        )

    def gcloud(self, split: Split | None) -> str:
        """The ``gcloud ... update-traffic`` command sending ``split`` (None: ``--to-latest``)."""
        cfg = self.cfg
        return shell(gcloud_update_traffic(cfg.service, cfg.region, cfg.project, split))

    def gcloud_update(self, *flags: str) -> str:
        """The ``gcloud run services update SERVICE --region R --project P FLAGS...`` command
        (the PITR switch's new revision and its way back)."""
        cfg = self.cfg
        update = ["gcloud", "run", "services", "update", cfg.service]
        return shell([*update, "--region", cfg.region, "--project", cfg.project, *flags])

    def may_still_complete(self) -> str:
        return (
            "it may still complete: look with `gcloud run services describe "
            f"{self.cfg.service} --region {self.cfg.region} --project {self.cfg.project}` "
            "before acting again"
        )

    # ------------------------------------------------------------------ the client

    def api(self) -> Api:
        with self._api_lock:
            if self._api is not None:
                return self._api
            try:
                from google.cloud import run_v2
            except ImportError as exc:  # pragma: no cover - a dependency of the package
                raise ProviderError(f"google-cloud-run is not installed: {exc}") from None
            options: dict[str, str] = {}
            credentials = self._credentials
            if self.cfg.endpoint:
                options["api_endpoint"] = self.cfg.endpoint
                if credentials is None and self.cfg.endpoint.startswith("http://"):
                    from google.auth.credentials import AnonymousCredentials

                    credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
            kwargs: dict[str, Any] = {"transport": "rest", "client_options": options or None}
            if credentials is not None:
                kwargs["credentials"] = credentials
            self._api = self.call(
                "connect to Cloud Run",
                lambda: Api(run_v2.ServicesClient(**kwargs), run_v2.RevisionsClient(**kwargs)),
            )
            return self._api

    def retry(self, budget_s: float | None = None) -> Any:
        """Retry reads on 503 / 429 / connection errors for ``retry_s`` (or less: ``budget_s``)."""
        import requests
        from google.api_core import exceptions as gexc
        from google.api_core import retry as gretry

        limit = self.retry_s if budget_s is None else max(0.0, min(self.retry_s, budget_s))
        return gretry.Retry(
            initial=min(0.2, max(limit, 0.01)),
            maximum=2.0,
            multiplier=2.0,
            predicate=gretry.if_exception_type(
                gexc.ServiceUnavailable, gexc.TooManyRequests, requests.exceptions.ConnectionError
            ),
            timeout=limit,
        )

    def timeout(self, budget_s: float | None = None) -> float:
        """Seconds one request may take: ``request_timeout_s``, or less when a limit is near."""
        if budget_s is None:
            return self.request_timeout_s
        return max(0.05, min(self.request_timeout_s, budget_s))

    def call(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        retried_s: float | None = None,
        timeout_s: float | None = None,
    ) -> T:
        """Run one API call; every failure becomes one ``ProviderError`` line naming ``what``.

        ``retried_s`` and ``timeout_s`` are the retry time and the request time limit the
        call was given, when not the provider's defaults (the messages say them).
        """
        import google.auth.exceptions as gauth
        import requests
        from google.api_core import exceptions as gexc

        try:
            return fn()
        except gexc.RetryError as err:
            cause = err.cause if err.cause is not None else err
            retried = self.retry_s if retried_s is None else min(self.retry_s, retried_s)
            raise Unavailable(
                f"cannot {what}: still failing after retrying for {retried:.3g} s: "
                f"{self.api_message(cause)}"
            ) from None
        except gexc.GoogleAPICallError as err:
            raise self.api_error(what, err) from None
        except gauth.DefaultCredentialsError as err:
            raise Forbidden(
                f"cannot {what}: no Application Default Credentials "
                "(run `gcloud auth application-default login` or set "
                f"GOOGLE_APPLICATION_CREDENTIALS): {_one_line(err, 160)}"
            ) from None
        except gauth.RefreshError as err:
            raise Forbidden(
                f"cannot {what}: the credentials were refused: {_one_line(err)}"
            ) from None
        except gauth.GoogleAuthError as err:
            raise Unavailable(f"cannot {what}: authentication failed: {_one_line(err)}") from None
        except requests.exceptions.Timeout:
            limit = self.request_timeout_s if timeout_s is None else timeout_s
            raise TimedOut(
                f"cannot {what}: no answer from {self.endpoint()} within {limit:.3g} s"
            ) from None
        except requests.exceptions.RequestException as err:
            raise Unavailable(
                f"cannot {what}: {self.endpoint()} cannot be reached: {_one_line(err, 200)}"
            ) from None

    def endpoint(self) -> str:
        return self.cfg.endpoint or "run.googleapis.com"

    @staticmethod
    def api_message(err: BaseException) -> str:
        """The API's own message, without the ``PATCH https://...?$alt=...:`` the client puts
        in front; an answer without the API's error document (a proxy's or a load
        balancer's page) is named by its status and the start of its body."""
        from http import HTTPStatus

        message = str(getattr(err, "message", None) or err)
        message = _REQUEST_PREFIX.sub("", message, count=1)
        code = getattr(err, "code", None)
        if message.strip() in ("", "unknown error"):
            body = ""
            response = getattr(err, "response", None)
            with contextlib.suppress(Exception):
                body = _one_line(response.text, 160) if response is not None else ""
            try:
                phrase = HTTPStatus(int(code)).phrase if isinstance(code, int) else ""
            except ValueError:
                phrase = ""
            message = f"{phrase or 'an answer'} without the API's error details"
            message += f": {body}" if body else ""
        text = _one_line(message, 240)
        return f"{text} (HTTP {code})" if isinstance(code, int) else text

    def api_error(self, what: str, err: Any) -> ProviderError:
        from google.api_core import exceptions as gexc

        detail = self.api_message(err)
        if isinstance(err, gexc.NotFound):
            return NotFound(f"cannot {what}: {detail}")
        if isinstance(err, gexc.PermissionDenied | gexc.Unauthenticated | gexc.Forbidden):
            return Forbidden(
                f"cannot {what}: permission denied: {detail}; check the credentials in use "
                f"and that project {self.cfg.project} exists"
            )
        if isinstance(err, gexc.Conflict | gexc.Aborted | gexc.PreconditionFailed):
            return Conflict(
                f"cannot {what}: {detail}; someone else may be changing {self.cfg.service}: "
                "look again before retrying"
            )
        if isinstance(err, gexc.BadRequest):
            return InvalidTarget(f"cannot {what}: the API refused the request: {detail}")
        if isinstance(err, gexc.DeadlineExceeded | gexc.GatewayTimeout):
            return TimedOut(f"cannot {what}: {detail}")
        if isinstance(err, gexc.ServerError | gexc.TooManyRequests):
            return Unavailable(f"cannot {what}: Cloud Run answered with an error: {detail}")
        return ProviderError(f"cannot {what}: {detail}")

    # ------------------------------------------------------------------ reading

    def read_service(self, budget_s: float | None = None) -> tuple[Any, ServiceView]:
        """Read the service; with ``budget_s``, retries and the request end within it."""
        api = self.api()
        raw = self.call(
            f"read {self.where}",
            lambda: api.services.get_service(
                name=self.full_name,
                retry=self.retry(budget_s),
                timeout=self.timeout(budget_s),
            ),
            retried_s=budget_s,
            timeout_s=self.timeout(budget_s),
        )
        return raw, parse_service(type(raw).to_dict(raw))

    def read_revisions(self) -> tuple[RevisionView, ...]:
        api = self.api()

        def fetch() -> list[Any]:
            pager = api.revisions.list_revisions(
                request={"parent": self.full_name, "page_size": PAGE_SIZE},
                retry=self.retry(),
                timeout=self.request_timeout_s,
            )
            return list(pager)

        raws = self.call(f"list the revisions of {self.where}", fetch)
        views = [parse_revision(type(r).to_dict(r)) for r in raws]
        # Newest first; the API does not promise an order.
        views.sort(key=lambda r: (r.created is not None, r.created or 0, r.name), reverse=True)
        return tuple(views)

    def read_revision(self, name: str) -> dict[str, Any]:
        """Revision ``name`` (its short name) as the client's dict (proto field names)."""
        api = self.api()
        full = f"{self.full_name}/revisions/{name}"
        raw = self.call(
            f"read revision {name} of {self.where}",
            lambda: api.revisions.get_revision(
                name=full, retry=self.retry(), timeout=self.request_timeout_s
            ),
        )
        found: dict[str, Any] = type(raw).to_dict(raw)
        return found

    def state(self) -> State:
        raw, svc = self.read_service()
        return State(raw, svc, self.read_revisions())

    def describe_served(self) -> str:
        """What the service serves now, in words; "unknown (why)" when it cannot be read."""
        try:
            _, svc = self.read_service()
        except ProviderError as err:
            return f"unknown ({err})"
        return describe_routes(svc.statuses, svc.latest_ready)
