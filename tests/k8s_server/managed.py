"""``metadata.managedFields``, and the write rules of ConfigMaps and Secrets, as the API has them.

The real API server (``k8s.io/apiserver`` ``fieldmanager``, ``managedFieldsUpdater``)
records, for every write through the main resource, which manager changed which
fields: one entry per (manager, operation, subresource) with ``apiVersion``,
``fieldsType: FieldsV1``, ``fieldsV1`` (the owned fields as a trie of ``f:`` keys,
``.`` for a map the manager created) and ``time``.  The rules followed here:

* the manager is the request's ``fieldManager``, else the User-Agent up to its
  first ``/`` (the Python client: ``OpenAPI-Generator``); the operation is
  ``Update`` (POST, PUT, PATCH);
* a write that changes, adds or removes a field gives the fields it changed or
  added to its manager, takes them from every other manager, drops removed
  fields everywhere, and sets its manager's ``time`` to now; a write that
  changes nothing leaves every entry (and its time) alone;
* a manager left owning nothing loses its entry;
* a request carrying ``managedFields: []`` or ``[{}]`` resets them: the
  write starts from none (so a write that resets and changes nothing leaves
  the object without ``managedFields``, as ``kubectl patch ... -p
  '{"metadata":{"managedFields":[{}]}}'`` does); one carrying entries of its
  own has them taken as they are; one carrying none keeps the live ones;
* entries are sorted by operation, time, then manager (``sortEncodedManagedFields``).

Only ConfigMaps and Secrets carry them in this fake (the console reads them
there, to say whether a ConfigMap changed after a revision was created).
Secrets also get the API's ``type: Opaque`` default and have ``stringData``
folded into ``data`` (base64) and never stored; an ``immutable`` object's
data cannot change.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

#: Resources whose objects carry ``metadata.managedFields`` in this fake.
TRACKED = frozenset({"configmaps", "secrets"})

Path = tuple[str, ...]

_MAPS = (("metadata", "labels"), ("metadata", "annotations"), ("data",), ("binaryData",))


def manager_of(field_manager: str | None, user_agent: str) -> str:
    """The manager name the API server records: ``fieldManager``, else the User-Agent's prefix."""
    if field_manager:
        return field_manager
    return user_agent.split("/", 1)[0] or "unknown"


def _get(obj: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def fields_of(obj: dict[str, Any]) -> dict[Path, Any]:
    """Every field a write to a ConfigMap or Secret can own, with its value."""
    out: dict[Path, Any] = {}
    for where in _MAPS:
        value = _get(obj, where)
        if isinstance(value, dict):
            out[(*where, ".")] = True
            for key, item in value.items():
                out[(*where, key)] = item
    for key in ("immutable", "type"):
        if key in obj:
            out[(key,)] = obj[key]
    return out


def _decode(fields: Any, prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    if not isinstance(fields, dict):
        return paths
    for key, value in fields.items():
        if key == ".":
            paths.add((*prefix, "."))
            continue
        name = key[2:] if key.startswith("f:") else key
        inner = _decode(value, (*prefix, name))
        paths |= inner or {(*prefix, name)}
    return paths


def _encode(paths: set[Path]) -> dict[str, Any]:
    trie: dict[str, Any] = {}
    for path in sorted(paths):
        node = trie
        for key in path:
            node = node.setdefault("." if key == "." else f"f:{key}", {})
    return trie


def _is_reset(entries: Any) -> bool:
    """``isResetManagedFields``: a list that is empty, or holds one empty entry."""
    if not isinstance(entries, list):
        return False
    return len(entries) == 0 or (len(entries) == 1 and entries[0] == {})


def track(
    current: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    stamp: str,
) -> None:
    """Set ``new``'s ``metadata.managedFields`` for a write by ``manager`` (in place).

    ``current`` is the live object (None for a create); ``stamp`` is the time
    now, as the API writes it (RFC 3339, seconds).
    """
    meta = new.setdefault("metadata", {})
    given = meta.pop("managedFields", None)
    if _is_reset(given):
        entries: list[dict[str, Any]] = []
    elif isinstance(given, list) and given:
        entries = copy.deepcopy(given)
    else:
        entries = copy.deepcopy((current or {}).get("metadata", {}).get("managedFields") or [])
    before = fields_of(current) if current is not None else {}
    after = fields_of(new)
    changed = {p for p, v in after.items() if p not in before or before[p] != v}
    removed = set(before) - set(after)
    if changed or removed:
        owned = {i: _decode(e.get("fieldsV1")) - changed - removed for i, e in enumerate(entries)}
        mine = next(
            (
                i
                for i, e in enumerate(entries)
                if e.get("manager") == manager
                and e.get("operation") == "Update"
                and not e.get("subresource")
            ),
            None,
        )
        kept = []
        for i, entry in enumerate(entries):
            if i == mine:
                continue
            if owned[i]:
                kept.append({**entry, "fieldsV1": _encode(owned[i])})
        previous = _decode(entries[mine].get("fieldsV1")) if mine is not None else set()
        mine_now = (previous | changed) - removed
        if mine_now:
            kept.append(
                {
                    "manager": manager,
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": stamp,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": _encode(mine_now),
                }
            )
        entries = kept
    entries.sort(
        key=lambda e: (
            str(e.get("operation", "")),
            str(e.get("time") or ""),
            str(e.get("manager", "")),
            str(e.get("subresource", "")),
        )
    )
    if entries:
        meta["managedFields"] = entries


def prepare(resource: str, current: dict[str, Any] | None, new: dict[str, Any]) -> str | None:
    """The API's defaults and rules for a ConfigMap or Secret write (in place).

    Returns why the write is invalid (an ``immutable`` object's data changed), or None.
    """
    if resource == "secrets":
        new.setdefault("type", "Opaque")
        string_data = new.pop("stringData", None)
        if isinstance(string_data, dict):
            data = new.setdefault("data", {}) or {}
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            new["data"] = data
    if current is not None and current.get("immutable") is True:
        for key in ("data", "binaryData"):
            if (current.get(key) or {}) != (new.get(key) or {}):
                return f"{key}: Forbidden: field is immutable when `immutable` is set"
        if new.get("immutable") is not True:
            return "immutable: Forbidden: field is immutable when `immutable` is set"
    return None
