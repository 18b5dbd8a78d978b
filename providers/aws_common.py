"""AWS plumbing shared by the ECS provider and its RDS helper: clients, errors, commands.

boto3 is imported here lazily, inside :meth:`AwsClients.client`, so importing
this module (and ``providers.ecs``) costs nothing until the first call that
really talks to AWS: the dashboard paints before any SDK is loaded.

Every botocore failure becomes one ``ProviderError`` line naming what the
console was doing, so an operator reads "access denied: ecs:UpdateService
(pointing web at web:2)" and never a traceback.  Throttling is retried by
botocore (standard retry mode) before it becomes ``Unavailable``.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from providers.base import (
    Forbidden,
    InvalidTarget,
    NotFound,
    ProviderError,
    TimedOut,
    Unavailable,
)

#: Attempts botocore makes per call (standard retry mode: throttling and 5xx answers
#: are retried with jittered exponential back-off) before an error reaches the console.
MAX_ATTEMPTS = 3
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0

FORBIDDEN_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
        "NotAuthorized",
        "SignatureDoesNotMatch",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
    }
)
THROTTLED_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)
NOT_FOUND_CODES = frozenset(
    {
        "ClusterNotFoundException",
        "DBInstanceNotFound",
        "DBInstanceNotFoundFault",
        "DBSnapshotNotFound",
        "DBSnapshotNotFoundFault",
        "ImageNotFoundException",
        "RepositoryNotFoundException",
        "ResourceNotFoundException",
        "ServiceNotFoundException",
    }
)
UNAVAILABLE_CODES = frozenset(
    {"InternalFailure", "InternalError", "ServerException", "ServiceUnavailable"}
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    """The first line of the AWS error message (or of the exception)."""
    response = getattr(exc, "response", None)
    message = ""
    if isinstance(response, dict):
        message = str(response.get("Error", {}).get("Message", ""))
    if not message:
        message = str(exc)
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first[:300]


def http_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return int(status or 0)
    return 0


def translate(
    exc: Exception, operation: str, doing: str, attempts: int = MAX_ATTEMPTS
) -> ProviderError:
    """One ``ProviderError`` line for a botocore failure of ``operation`` ("ecs:UpdateService").

    ``doing`` says what the console was doing ("pointing web at web:2");
    ``attempts`` how many times botocore tried before giving up.
    """
    from botocore import exceptions as bex

    where = f"{operation} ({doing})" if doing else operation
    if isinstance(exc, bex.ClientError):
        code = error_code(exc)
        message = error_message(exc)
        if code in FORBIDDEN_CODES:
            return Forbidden(f"access denied: {where}: {code}: {message}")
        if code in THROTTLED_CODES:
            return Unavailable(
                f"AWS is throttling {where} ({code}: {message}) after {attempts} "
                f"attempt{'s' if attempts != 1 else ''}; wait a minute and try again"
            )
        if code in NOT_FOUND_CODES:
            return NotFound(f"{message} ({where})")
        status = http_status(exc)
        if code in UNAVAILABLE_CODES or status >= 500:
            return Unavailable(f"AWS answered {code or status} to {where}: {message}")
        return ProviderError(f"{where} failed: {code}: {message}")
    if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError):
        return Forbidden(
            f"no usable AWS credentials for {where}: {exc} (environment, profile, SSO or "
            "instance role)"
        )
    if isinstance(exc, bex.ProfileNotFound):
        return ProviderError(f"{exc} (profile in [services.ecs])")
    if isinstance(exc, bex.NoRegionError):
        return ProviderError(f"no AWS region for {where}: set region in [services.ecs]")
    if isinstance(exc, bex.ConnectTimeoutError | bex.ReadTimeoutError):
        return TimedOut(f"AWS did not answer {where} in time: {exc}")
    if isinstance(exc, bex.EndpointConnectionError | bex.ConnectionClosedError):
        return Unavailable(f"cannot reach AWS for {where}: {exc}")
    if isinstance(exc, bex.ParamValidationError):
        return InvalidTarget(f"invalid request for {where}: {' '.join(str(exc).split())}")
    return ProviderError(f"{where} failed: {type(exc).__name__}: {exc}")


@contextlib.contextmanager
def aws_errors(operation: str, doing: str = "") -> Iterator[None]:
    """Turn botocore exceptions raised inside the block into one-line ``ProviderError``s."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, operation, doing) from None


def call(
    operation: str,
    doing: str,
    fn: Callable[..., Any],
    /,
    *,
    missing: Mapping[str, ProviderError] | None = None,
    attempts: int = MAX_ATTEMPTS,
    **kwargs: Any,
) -> Any:
    """``fn(**kwargs)`` with botocore failures translated; ``missing`` maps error codes to
    the error to raise instead (a ``NotFound`` naming the config key, say)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except ClientError as exc:
        if missing and error_code(exc) in missing:
            raise missing[error_code(exc)] from None
        raise translate(exc, operation, doing, attempts) from None
    except BotoCoreError as exc:
        raise translate(exc, operation, doing, attempts) from None


#: One boto3 session per profile for the whole process: a session loads and caches
#: the API models, so a second provider (another service, a re-built provider)
#: makes its clients from warm caches.  Sessions are not thread-safe: every use
#: goes through ``_SESSION_LOCK``.
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

        ``read_timeout_s`` / ``max_attempts`` make a separate client with a
        shorter leash, e.g. for the polls of a wait that has its own time limit
        and retries on its own.
        """
        region = region or self.region
        timeout = READ_TIMEOUT_S if read_timeout_s is None else read_timeout_s
        attempts = self.max_attempts if max_attempts is None else max_attempts
        key: tuple[str, ...] = (service, region)
        if (timeout, attempts) != (READ_TIMEOUT_S, self.max_attempts):
            key = (service, region, f"{timeout:g}", str(attempts))
        with _SESSION_LOCK:
            if key in self._clients:
                return self._clients[key]
            with aws_errors(f"{service}:client", "creating the AWS client"):
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
        """The ``aws`` CLI options that make a shown command reach the same place."""
        flags = ["--region", region or self.region]
        if self.profile:
            flags += ["--profile", self.profile]
        if self.endpoint_url:
            flags += ["--endpoint-url", self.endpoint_url]
        return flags

    def command(self, service: str, operation: str, *args: str, region: str = "") -> str:
        """A copyable ``aws SERVICE OPERATION ...`` command line for a plan step."""
        return shlex.join(["aws", service, operation, *args, *self.cli_flags(region)])


def as_utc(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from what botocore returns (datetime or epoch seconds)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    return None


def hhmm(value: datetime | None) -> str:
    """``2025-06-01 10:15 UTC``: how a time reads in a fact or a note."""
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "unknown time"
