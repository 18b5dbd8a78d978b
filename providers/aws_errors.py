"""AWS failures as one line each: what the console was doing, and what AWS said.

Every botocore failure becomes one ``ProviderError`` naming the operation and
what the console was doing, so an operator reads "access denied:
ecs:UpdateService (pointing web at web:2)" and never a traceback.
Throttling is retried by botocore (standard retry mode) before it becomes
``Unavailable``.  Shared by the providers that speak to AWS (ECS, the load
balancer, the CDN); a setting that is missing is named in the config section
that holds it (``[services.alb]`` for an ``elasticloadbalancing:`` call).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from console.aws import MAX_ATTEMPTS
from console.errors import (
    Forbidden,
    InvalidTarget,
    NotFound,
    ProviderError,
    TimedOut,
    Unavailable,
)

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
        "ListenerNotFound",
        "RuleNotFound",
        "TargetGroupNotFound",
        "LoadBalancerNotFound",
        "NoSuchDistribution",
        "NoSuchInvalidation",
    }
)
UNAVAILABLE_CODES = frozenset(
    {"InternalFailure", "InternalError", "ServerException", "ServiceUnavailable"}
)


#: The config section holding an AWS service's region and profile (default: ``ecs``).
SECTIONS = {"elasticloadbalancing": "alb", "cloudfront": "cdn"}


def section_of(operation: str) -> str:
    """``[services.alb]`` for ``elasticloadbalancing:ModifyListener``, and so on."""
    return f"[services.{SECTIONS.get(operation.split(':', 1)[0], 'ecs')}]"


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
        return ProviderError(f"{exc} (profile in {section_of(operation)})")
    if isinstance(exc, bex.NoRegionError):
        return ProviderError(f"no AWS region for {where}: set region in {section_of(operation)}")
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
