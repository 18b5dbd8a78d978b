"""The history file's own syntax: entry markers, and the escaping that keeps text in its cell.

Every entry starts with a machine-readable line of its own::

    <!-- rollback-console entry id=web-20261125T021405Z-3f9a -->

which is how entries are split again.  No text that came from outside the
console (a reason, a command's output, a revision label) ever starts a line of
an entry: it is always inside a table cell or after a list marker, with line
breaks turned into ``<br>`` (``escape_text``, ``escape_cell``), so it cannot
forge a marker or a heading; ``unescape_cell`` reads a cell back as it was.
"""

from __future__ import annotations

import re
import unicodedata

TITLE = "# Rollback history\n\n"
MARKER_PREFIX = "<!-- rollback-console entry"

MARKER = re.compile(r"^<!-- rollback-console entry\b(?P<attrs>[^\n]*?)-->[ \t]*$", re.MULTILINE)
MARKER_ID = re.compile(r"\bid=(?P<id>[^\s>]+)")
_NOT_ID = re.compile(r"[^A-Za-z0-9._:+-]+")


def escape_text(value: str) -> str:
    """Line breaks become ``<br>``, tabs spaces, other control characters go.

    A lone surrogate (an argv byte that was not UTF-8) becomes U+FFFD, so the
    file stays valid UTF-8.  So that a cell reads back as it was written
    (``unescape_cell``), what the operator typed that looks like the encoding
    is escaped first: a ``<`` opening ``<br`` (a literal ``<br>`` is not a line
    break) or ``<!--`` (an HTML comment would hide the rest of the line when
    rendered) becomes ``&lt;``, and an ``&`` opening ``lt;`` or ``amp;``
    becomes ``&amp;``.  Both render in markdown as the characters typed.
    """
    parts = []
    for line in value.splitlines():
        line = line.replace("\t", " ")
        line = "".join(_SHOWN.get(unicodedata.category(c), c) for c in line)
        parts.append(_ENCODED_LOOKALIKE.sub(lambda m: _ESCAPES[m[0][0]], line))
    return "<br>".join(parts).strip()


#: Unicode category -> what a character of it becomes in the file (others stay as they are).
_SHOWN = {"Cc": "", "Cs": "\ufffd"}
#: Typed text that would read back as an encoded character; its first character is escaped.
_ENCODED_LOOKALIKE = re.compile(r"(?i)<(?=br|!--)|&(?=lt;|amp;)")
_ESCAPES = {"<": "&lt;", "&": "&amp;"}
#: What ``escape_text`` encodes, decoded in one pass (so ``&amp;lt;`` reads back as ``&lt;``).
_ENCODED = re.compile(r"<br>|&lt;|&amp;")
_DECODED = {"<br>": "\n", "&lt;": "<", "&amp;": "&"}


def escape_cell(value: str) -> str:
    return escape_text(value).replace("|", "\\|")


def unescape_cell(value: str) -> str:
    """A cell's text as it was before ``escape_cell``: line breaks, ``|``, ``<`` and ``&`` back.

    Files written before ``<`` and ``&`` were escaped read the same: their
    ``<br>`` was a line break and their ``&lt;!--`` an escaped ``<!--``.
    """
    value = unescape_text(value.strip().replace("\\|", "|"))
    return "" if value == "—" else value


def unescape_text(value: str) -> str:
    """A list item's text as it was before ``escape_text``: line breaks, ``<`` and ``&`` back."""
    return _ENCODED.sub(lambda m: _DECODED[m[0]], value)


def marker_id(incident_id: str) -> str:
    """The id as it appears in the marker: no spaces and no ``--`` (it is inside a comment)."""
    cleaned = re.sub(r"-{2,}", "-", _NOT_ID.sub("-", incident_id)).strip("-")
    return cleaned or "unknown"


def holds_entry(text: str, incident_id: str) -> bool:
    """Whether ``text`` (a history file) has an entry marker for ``incident_id``."""
    wanted = marker_id(incident_id)
    for match in MARKER.finditer(text):
        found = MARKER_ID.search(match.group("attrs"))
        if found is not None and found.group("id").rstrip("-") == wanted:
            return True
    return False
