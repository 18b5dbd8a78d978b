"""The TOML reader kit: typed getters whose errors name ``file:line: key``.

Every table of the config is walked by a ``Reader`` that knows which keys it
consumed, so an unknown key, a wrong type, a number out of bounds or a missing
path becomes one ``ConfigError`` naming the file, the line and the dotted key
(``services[1].host.restart``).  The ``Loader`` holds the file's text (for the
line numbers) and folder (relative paths are resolved against it).

A whole run reports every problem it finds, not only the first: a table's
reader stops at its first problem, but ``Loader.attempt`` records it and the
walk goes on with the next table (every unknown key of a table is recorded,
too); ``Loader.finish`` then raises one ``ConfigProblems`` holding them all,
which the CLI prints a line each.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from console.config.bounds import MAX_DURATION_S, MIN_DURATION_S
from console.errors import BadInput
from console.textsafe import printable


class ConfigError(BadInput):
    """Bad configuration: ``str(err)`` is one line naming the file, line and key."""

    exit_code = 2

    def __init__(self, file: Path | str, key: str, message: str, line: int | None = None):
        self.file = str(file)
        self.key = key
        self.message = message
        self.line = line
        where = f"{self.file}:{line}" if line else self.file
        label = f" {key}:" if key else ""
        # Keys and values in messages come from the file itself, and a TOML key may
        # hold a newline or a control character.
        super().__init__(printable(f"{where}:{label} {message}"))


class ConfigProblems(ConfigError):
    """Several problems found in one run: ``str(err)`` is the first (with how many there
    are); ``problems`` holds every one, each its own line, in the order the file was read."""

    def __init__(self, problems: list[ConfigError]):
        first = problems[0]
        more = f" (1 of {len(problems)} problems)" if len(problems) > 1 else ""
        super().__init__(first.file, first.key, first.message + more, first.line)
        self.problems = tuple(problems)


class AlreadyReported(ConfigError):
    """A table whose problems were all recorded already (``Loader.attempt`` records nothing
    more): raised by a reader that went on after them to find the others."""

    def __init__(self) -> None:
        super().__init__("", "", "already reported")


class ConfigNotFound(ConfigError):
    """No file at the config path (exit 2); the CLI adds how to start when none was named."""


T = TypeVar("T")


class Reader:
    """Walks one TOML table, checking types and remembering which keys were read."""

    def __init__(self, loader: Loader, table: Mapping[str, Any], path: str):
        self.loader = loader
        self.table = table
        self.path = path
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, message: str) -> ConfigError:
        return self.loader.error(self.key(name), message)

    def get(self, name: str, kind: type[T] | tuple[type, ...], default: Any = None) -> Any:
        self.seen.add(name)
        if name not in self.table:
            return default
        value = self.table[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python; never accept true for a number.
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(name, f"expected {_kind_name(kinds)}, got {shown(value)}")
        if not isinstance(value, kinds):
            raise self.error(name, f"expected {_kind_name(kinds)}, got {shown(value)}")
        return value

    def require(self, name: str, kind: type[T]) -> T:
        if name not in self.table:
            self.seen.add(name)
            raise self.error(name, "is required")
        value: T = self.get(name, kind)
        if isinstance(value, str) and not value.strip():
            raise self.error(name, "must not be empty")
        return value

    def number(self, name: str, default: float | None, *, positive: bool = True) -> Any:
        value = self.get(name, (int, float), default)
        if value is None:
            return None
        value = self._finite(name, value)
        if positive and value <= 0:
            raise self.error(name, f"must be greater than 0, got {shown(value)}")
        return value

    def duration(
        self,
        name: str,
        default: float | None,
        *,
        low: float = MIN_DURATION_S,
        high: float = MAX_DURATION_S,
        unit: str = "s",
    ) -> Any:
        """A positive, finite number of seconds (or ``unit``) between ``low`` and ``high``."""
        value = self.number(name, default)
        if value is None:
            return None
        if value < low:
            raise self.error(name, f"must be at least {low:g} {unit}, got {shown(value)}")
        if value > high:
            raise self.error(name, f"must be at most {high:g} {unit}, got {shown(value)}")
        return value

    def fraction(self, name: str, default: float) -> float:
        value = self._finite(name, self.get(name, (int, float), default))
        if not 0 <= value <= 1:
            raise self.error(name, f"must be a fraction between 0 and 1, got {shown(value)}")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value: int = self.get(name, int, default)
        if not low <= value <= high:
            raise self.error(name, f"must be between {low} and {high}, got {shown(value)}")
        return value

    def _finite(self, name: str, value: float) -> float:
        """``value`` as a float; inf, nan and integers too large for a float are refused."""
        try:
            number = float(value)
        except OverflowError:
            raise self.error(name, "is too large a number") from None
        if not math.isfinite(number):
            raise self.error(name, f"must be a finite number, got {number!r}")
        return number

    def argv(self, name: str) -> tuple[str, ...]:
        value = self.get(name, list, [])
        if not all(isinstance(v, str) for v in value):
            raise self.error(name, "must be a list of strings (an argv, run without a shell)")
        if any("\x00" in v for v in value):
            raise self.error(name, "must not contain a NUL character")
        return tuple(value)

    def path_value(self, name: str, *, must_exist: bool = False) -> Path | None:
        raw = self.get(name, str)
        if raw is None:
            return None
        if not raw.strip():
            raise self.error(name, "must not be empty")
        if "\x00" in raw:
            raise self.error(name, "must not contain a NUL character")
        try:
            resolved = self.loader.resolve(raw)
        except RuntimeError:  # "~name/..." for a user this machine does not know
            raise self.error(name, f"cannot expand {shown(raw)}: no such user") from None
        if must_exist:
            try:
                os.stat(resolved)
            except (FileNotFoundError, NotADirectoryError):
                raise self.error(name, f"path does not exist: {resolved}") from None
            except OSError as exc:
                raise self.error(name, f"cannot use {resolved}: {exc.strerror}") from None
        return resolved

    def sub(self, name: str) -> Reader | None:
        value = self.get(name, dict)
        return None if value is None else Reader(self.loader, value, self.key(name))

    def subs(self, name: str) -> list[Reader]:
        value = self.get(name, list, [])
        readers = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.error(f"{name}[{i}]", "expected a table")
            readers.append(Reader(self.loader, item, f"{self.key(name)}[{i}]"))
        return readers

    def expect(self, *names: str) -> None:
        """Reject unknown keys up front, before a missing key hides the typo behind it.

        Every unknown key is recorded (``Loader.report``); the table is still read,
        so its other problems are found in the same run.
        """
        for name in self.table:
            if name not in names:
                self.seen.add(name)  # reported once, not again by done()
                self.loader.report(self.error(name, "unknown key"))

    def done(self) -> None:
        """Reject keys nobody read: a typo must not silently change behaviour."""
        for name in self.table:
            if name not in self.seen:
                self.seen.add(name)
                self.loader.report(self.error(name, "unknown key"))


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters."""
    try:
        text = repr(value)
    except ValueError:  # an integer with more digits than Python will print
        return "a number too large to show"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


class Loader:
    def __init__(self, path: Path, text: str, env: Mapping[str, str] | None = None):
        self.path = path
        self.text = text
        self.base = path.parent
        #: The environment the config is read in (defaults from it: the AWS region).
        self.env: Mapping[str, str] = os.environ if env is None else env
        #: Every problem found so far, in the order found (``report``, ``attempt``).
        self.problems: list[ConfigError] = []

    def report(self, problem: ConfigError) -> None:
        """Record a problem and go on reading."""
        self.problems.append(problem)

    def attempt(self, read: Callable[[], T]) -> T | None:
        """``read()``; a ``ConfigError`` it raises is recorded and None returned."""
        try:
            result = read()
        except AlreadyReported:
            return None
        except ConfigError as problem:
            self.report(problem)
            return None
        return result

    def check_since(self, count: int) -> None:
        """Raise ``AlreadyReported`` when problems were recorded since there were ``count``."""
        if len(self.problems) > count:
            raise AlreadyReported()

    def finish(self) -> None:
        """Raise every problem recorded, as one ``ConfigProblems`` in the file's order;
        nothing if none."""
        self.problems.sort(key=lambda p: p.line or 0)
        if len(self.problems) == 1:
            raise self.problems[0]
        if self.problems:
            raise ConfigProblems(self.problems)

    def resolve(self, raw: str) -> Path:
        p = Path(raw).expanduser()
        if p.is_absolute():
            return p
        full = self.base / p
        if full.name in ("", ".", ".."):
            return full.resolve()
        # Resolve the folder but not the last part: ``current_link`` *is* a symlink,
        # and following it would hand the provider the live release folder instead.
        return full.parent.resolve() / full.name

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(self.path, key, message, line_of(self.text, key))


def line_of(text: str, dotted: str) -> int | None:
    """Best-effort line number of ``dotted`` (``services[1].host.restart``) in ``text``.

    tomllib reports no positions for valid documents, so walk the headers:
    find the n-th ``[[services]]``, then the sub-table header, then the key.
    A table written without a header of its own (dotted keys ``host.restart =``,
    an inline table ``host = { restart = … }``) is found by its name at the
    start of a key instead, and the key then on that line or the lines after.
    """
    parts = re.findall(r"([A-Za-z0-9_\-]+)(?:\[(\d+)\])?", dotted)
    lines = text.splitlines()
    start = 0
    prefix: list[str] = []
    key = ""
    inline = False  # the table was found as a dotted key or an inline table, not a header
    for i, (name, index) in enumerate(parts):
        last = i == len(parts) - 1
        prefix.append(name)
        header = ".".join(prefix)
        if index:
            pattern = re.compile(rf"^\s*\[\[\s*{re.escape(header)}\s*\]\]")
            hits = [n for n in range(start, len(lines)) if pattern.match(lines[n])]
            if int(index) < len(hits):
                start = hits[int(index)]
            continue
        if last:
            key = name
            break
        pattern = re.compile(rf"^\s*\[\s*{re.escape(header)}\s*\]")
        found = _first(lines, start, pattern.match, stop_at_header=False)
        if found is None:
            # ``name.key = …`` or ``name = { … }`` inside the table found so far.
            keyed = re.compile(rf"(^\s*|[{{,.]\s*)\"?{re.escape(name)}\"?\s*[.=]")
            found = _first(lines, start, keyed.search)
            inline = found is not None or inline
        if found is not None:
            start = found
    if not key:
        return start + 1 if lines else None
    if inline:
        key_re = re.compile(rf"(^\s*|[{{,.]\s*)\"?{re.escape(key)}\"?\s*=")
        found = _first(lines, start, key_re.search)
    else:
        found = _first(lines, start, re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=").match)
    if found is None and not inline:
        # ``key`` may name a table of its own: its ``[a.b.key]`` header.
        table_header = re.compile(rf"^\s*\[\s*{re.escape('.'.join(prefix))}\s*\]")
        found = _first(lines, start, table_header.match, stop_at_header=False)
    if found is not None:
        return found + 1
    return start + 1 if start else None


def _first(
    lines: list[str], start: int, test: Callable[[str], Any], *, stop_at_header: bool = True
) -> int | None:
    """The first line from ``start`` that ``test`` accepts (not past the next table header
    unless told)."""
    for n in range(start, len(lines)):
        if test(lines[n]):
            return n
        if stop_at_header and n > start and re.match(r"^\s*\[", lines[n]):
            return None
    return None
