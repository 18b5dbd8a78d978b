"""``history``: the rollback-history file listed, one entry in full, or as JSON."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from console.cli.common import load
from console.cli.output import print_json
from console.cli.parser import PROG, UsageError
from console.errors import EXIT_OK
from console.textsafe import printable

if TYPE_CHECKING:
    from console.history import HistoryEntrySummary


def cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    from console.history import format_duration, median_time_to_recover, read_entries

    if args.open is not None and not args.open.strip().lstrip("#"):
        raise UsageError("--open needs an entry: its number (#N in the list) or incident id")
    config = load(args)
    path = config.console.history_file
    if not path.exists():
        if args.open:
            raise UsageError(f"no entry {args.open}: no history yet ({path})")
        if args.json:
            print_json(_history_json(path, [], []), out)
            return EXIT_OK
        print(f"no history yet ({path})", file=out)
        return EXIT_OK
    entries = read_entries(path)
    if args.open:
        number = _find_entry(entries, args.open)
        entry = entries[number - 1]
        if args.json:
            data = {**_entry_json(number, entry), "markdown": entry.raw}
            print_json(data, out, ensure_ascii=False)
        else:
            out.write(entry.raw)
        return EXIT_OK
    first = len(entries) - args.last + 1 if args.last and args.last < len(entries) else 1
    shown = entries[first - 1 :]
    if args.json:
        print_json(_history_json(path, entries, shown, first), out, ensure_ascii=False)
        return EXIT_OK
    print(f"{path}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}", file=out)
    for number, e in enumerate(shown, first):
        ttr = format_duration(e.time_to_recover_s) if e.time_to_recover_s is not None else "-"
        print(
            f"  {printable(e.date):<25} {printable(e.service):<12} "
            f"{printable(e.environment):<11} {printable(e.from_revision)} -> "
            f"{printable(e.to_revision)}  {printable(e.result or e.outcome)}  TTR {ttr}  #{number}",
            file=out,
        )
    median = median_time_to_recover(entries)
    if median is not None:
        print(f"median time to recover: {format_duration(median)}", file=out)
    if shown:
        print(f"full entry: {PROG} history --open N (N = #number or incident id)", file=out)
    return EXIT_OK


def _find_entry(entries: list[HistoryEntrySummary], wanted: str) -> int:
    """The 1-based number of the entry ``wanted`` names (#N, N, or an incident id)."""
    text = wanted.strip().lstrip("#")
    if re.fullmatch(r"[0-9]+", text):  # ASCII digits only: str.isdigit() also takes "²"
        if len(text) <= 9 and 1 <= int(text) <= len(entries):
            return int(text)
        shown = text if len(text) <= 20 else f"{text[:19]}…"
        raise UsageError(f"no entry #{shown}: the history has {len(entries)} (1 = oldest)")
    for number, entry in enumerate(entries, 1):
        if entry.id and entry.id == text:
            return number
    raise UsageError(f"no entry with incident id {wanted!r} in the history")


def _entry_json(number: int, e: HistoryEntrySummary) -> dict[str, Any]:
    return {
        "number": number,
        "id": e.id,
        "date": e.date,
        "service": e.service,
        "environment": e.environment,
        "from": e.from_revision,
        "to": e.to_revision,
        "outcome": e.outcome,
        "result": e.result or e.outcome,
        "action": e.action,
        "time_to_recover_s": e.time_to_recover_s,
        "severity": e.severity,
        "operator": e.operator,
        "reason": e.reason,
        "impact": e.impact,
        "note": e.note,
        "changes": list(e.changes),
        "undone_by": list(e.undone_by),
        "checks": [{"name": n, "live": live, "restored": new} for n, live, new in e.checks],
    }


def _history_json(
    path: Path,
    entries: list[HistoryEntrySummary],
    shown: list[HistoryEntrySummary],
    first: int = 1,
) -> dict[str, Any]:
    from console.history import median_time_to_recover

    return {
        "file": str(path),
        "count": len(entries),
        "median_time_to_recover_s": median_time_to_recover(entries),
        "entries": [_entry_json(n, e) for n, e in enumerate(shown, first)],
    }
