"""Every error the console reports, with the exit code the CLI ends with.

Exit codes are a public contract (DESIGN.md): 0 done, 1 the rollback failed
or was not verified, 2 bad input (config, arguments, unknown service or
revision), 3 refused because someone else holds the lock.  Each error is one
line (``str(err)``) naming what went wrong; the CLI prints it after its
``prefix`` with ``hint`` appended, in one ``except`` (``console.cli``), and
the screens show the same line.  A traceback is never shown.

The platform errors (``ProviderError`` and its kinds) are defined here and
re-exported by ``providers.base``, the contract layer providers implement.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_LOCKED = 3


class ConsoleError(Exception):
    """An error the console reports as one line; ``exit_code`` ends the CLI."""

    exit_code = EXIT_FAILED
    #: The word the CLI's line starts with.
    prefix = "error"
    #: What the operator can do about it, appended to the CLI's line ("" = nothing).
    hint = ""


class BadInput(ConsoleError):
    """Bad input: a config value, an argument, an unknown name (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class ReadOnlyRefused(BadInput):
    """A command that would change something, in read-only mode (``console.readonly``)."""

    prefix = "read-only"


# --------------------------------------------------------------------------- platforms


class ProviderError(ConsoleError):
    """A platform operation failed; ``str(err)`` is the one line to show."""


class NotFound(ProviderError):
    """The service, revision or release does not exist (bad input: exit 2)."""

    exit_code = EXIT_BAD_INPUT


class InvalidTarget(ProviderError):
    """The target exists but cannot be rolled to (already current, paused...): exit 2."""

    exit_code = EXIT_BAD_INPUT


class Forbidden(ProviderError):
    """The credentials in use may not do this."""


class Conflict(ProviderError):
    """Someone else changed the object between our read and our write."""


class LockHeld(ProviderError):
    """Another operator holds the rollback lock (exit 3)."""

    exit_code = EXIT_LOCKED
    prefix = "refused"


class Unavailable(ProviderError):
    """The platform did not answer or answered with a server error."""


class TimedOut(ProviderError):
    """An operation or command ran past its time limit."""


class OutcomeUnknown(ProviderError):
    """A change was sent, its answer was lost, and reading the object again failed too.

    Neither "done" nor "failed" would be true.  The step is left as started and
    the incident open, exactly as if the console had been killed there, so
    ``resume`` asks the platform once it answers and finishes (or sends the change
    again only when it did not take effect).  Raised only after the provider
    tried to read the object back.
    """


class CommandFailed(ProviderError):
    """A configured command exited non-zero."""


def one_line(err: BaseException | None) -> str:
    """The line a screen shows for ``err``: its message, or its type when it is not ours."""
    if err is None:
        return "unknown error"
    if isinstance(err, OSError) and err.strerror:  # "No space left on device: /path"
        where = f": {err.filename}" if err.filename else ""
        return f"{err.strerror}{where}"
    if isinstance(err, ConsoleError):
        return str(err)
    return f"{type(err).__name__}: {err}"
