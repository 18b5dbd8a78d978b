"""``[[services.checklist]]``: a service's own checklist, replacing the runbook's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.config.reader import Reader, shown

if TYPE_CHECKING:
    from console.model import ChecklistItem


def read_checklist(r: Reader) -> tuple[ChecklistItem, ...] | None:
    readers = r.subs("checklist")
    if not readers and "checklist" not in r.table:
        return None
    # Only a config with its own checklist needs the model before the first frame.
    from console.model import ChecklistItem

    items: list[ChecklistItem] = []
    phases = ("prepare", "execute", "verify", "after")
    for i, item in enumerate(readers):
        phase = item.get("phase", str, "prepare")
        if phase not in phases:
            raise item.error("phase", f"must be one of {', '.join(phases)}, got {phase!r}")
        item_id = item.get("id", str, f"custom-{i + 1}")
        if not item_id.strip():
            raise item.error("id", "must not be empty")
        if any(earlier.id == item_id for earlier in items):
            # Ticks are kept per id: two items with one id would be ticked together.
            raise item.error("id", f"duplicate checklist id {shown(item_id)}")
        items.append(
            ChecklistItem(
                id=item_id,
                phase=phase,
                text=item.require("text", str),
                required=bool(item.get("required", bool, False)),
            )
        )
        item.done()
    return tuple(items)
