"""Text from outside, made safe to put on a terminal.

Release folder names, reasons, unit names, command output and error messages
come from places an attacker (or an accident) controls.  Written as they are,
an escape sequence in a release name sets the terminal's title, clears the
screen or hides what follows.  Everything the console prints or shows that
did not come from its own code goes through ``printable`` (one line) or
``printable_lines`` (line breaks kept): control characters, line and
paragraph separators, lone surrogates and the bidirectional overrides that
reorder what is read become their visible escapes (``\\x1b``, ``\\n``,
``\\u202e``).  Other characters, Japanese text and spaces included, stay as
they are.  ``one_line`` is for values that must fit on a line of a template
or a message: runs of white space become one space first.
"""

from __future__ import annotations

import unicodedata
from typing import Any, TextIO, cast

#: Format characters that change the order or direction text is read in.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Unicode categories shown as escapes: controls, lone surrogates, line/paragraph separators.
_ESCAPED = frozenset(("Cc", "Cs", "Zl", "Zp"))


def _unsafe(c: str) -> bool:
    return c in _BIDI or unicodedata.category(c) in _ESCAPED


def _escape(c: str) -> str:
    return c.encode("unicode_escape", errors="backslashreplace").decode("ascii")


def printable(text: str) -> str:
    """``text`` on one line, every unsafe character (line breaks too) as its escape."""
    if text.isprintable():
        return text
    return "".join(_escape(c) if _unsafe(c) else c for c in text)


def printable_lines(text: str) -> str:
    """``text`` with its line breaks kept and every other unsafe character escaped.

    ``\\r\\n`` and ``\\r`` count as line breaks (written as ``\\n``); a tab stays.
    """
    if text.isprintable():
        return text
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(
        "".join(_escape(c) if _unsafe(c) and c != "\t" else c for c in line) for line in lines
    )


def one_line(text: str, limit: int | None = None) -> str:
    """White space collapsed to single spaces, unsafe characters escaped, cut at ``limit``."""
    line = printable(" ".join(text.split()))
    if limit is not None and len(line) > limit:
        return line[: max(0, limit - 1)] + "…"
    return line


def _stream_escape(c: str) -> str:
    """``\\u001b``: an escape that reads the same in text and is valid inside a JSON string."""
    code = ord(c)
    if code > 0xFFFF:  # pragma: no cover - no unsafe character lies above the BMP
        return _escape(c)
    return f"\\u{code:04x}"


class TerminalStream:
    """A text stream that writes only what is safe for a terminal, and nothing secret.

    The CLI wraps stdout and stderr in it, as the net under every line it
    prints: each write is redacted (``console.redact.active()``: the loaded
    config's redactor) and every unsafe character but the line break and the
    tab becomes ``\\uXXXX``, which reads plainly and stays valid inside a JSON
    string (``status --json`` goes through it too).  Values are still made
    ``printable`` where they are printed, so a line break inside a release
    name cannot start a line of its own.
    """

    def __init__(self, stream: TextIO):
        self.stream = stream

    @classmethod
    def wrap(cls, stream: TextIO) -> TextIO:
        """``stream`` behind a ``TerminalStream`` (typed as the stream it stands in for)."""
        return cast(TextIO, cls(stream))

    def write(self, text: str) -> int:
        from console.redact import active

        text = active()(text)
        if not text.isprintable():
            text = "".join(_stream_escape(c) if _unsafe(c) and c not in "\n\t" else c for c in text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
