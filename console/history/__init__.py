"""The rollback-history file: one markdown entry per rollback, appended, never rewritten.

Runbook 003 ("ロールバック履歴の記録") asks for 日時, 実施者, 対象環境, ロールバック元,
ロールバック先, 理由, 影響 and 復旧時間 in ``docs/operations/rollback-history.md``;
DESIGN.md ("History") adds the severity, outcome, timeline, checklist and the
error rate / latency before and after.  ``render_entry`` (``render``) turns a
``HistoryRecord`` into that markdown, ``append_entry`` (``append``) appends it
atomically (two consoles on one bastion never interleave or lose an entry, a
full disk leaves the file byte-for-byte as it was), and ``read_entries``
(``read``) parses the file back for the ``history`` command.  The markers that
split entries and the escaping that keeps outside text inside its cell are
``format``.

Everything public is re-exported here: import it from ``console.history``.
"""

from __future__ import annotations

from console.history.append import HistoryWriteError, append_entry, has_entry
from console.history.format import MARKER_PREFIX, TITLE
from console.history.read import (
    HistoryEntrySummary,
    median_time_to_recover,
    parse_duration,
    parse_entries,
    read_entries,
)
from console.history.render import format_duration, render_entry

__all__ = [
    "MARKER_PREFIX",
    "TITLE",
    "HistoryEntrySummary",
    "HistoryWriteError",
    "append_entry",
    "format_duration",
    "has_entry",
    "median_time_to_recover",
    "parse_duration",
    "parse_entries",
    "read_entries",
    "render_entry",
]
