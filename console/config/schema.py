"""``config schema``: a JSON Schema of the config, generated from the readers' own code.

Editors (Taplo, VS Code's Even Better TOML) complete and check a TOML file
against a JSON Schema.  Writing one by hand would drift from what the console
accepts, so it is read out of the readers themselves (``console/config/*.py``,
parsed with ``ast``, nothing run): each ``read_NAME(r: Reader)`` function is a
table; its ``r.expect(...)`` is the table's closed list of keys; the typed
getters give each key its type (``r.get(k, str)``, ``r.duration(k, …)``,
``r.require(k, …)`` also makes it required); ``r.sub(k)`` / ``r.subs(k)`` /
a key with a ``read_<k>`` function of its own is a nested table (or a list of
them), read by ``read_<k>`` (or ``read_<k without its s>``), or by the function
a dict constant maps it to (``r.expect(*ENGINE_READERS)``: the PITR engines'
sub-tables), or in place through the name it is bound to (``for check in
r.subs("checks"): check.require(...)``).  A helper called with ``r``
(``_gitops(r)``) adds its keys to the same table; one also handed a key
(``_action(r, "check")``) is read with that key in its parameter's place, and a
key read both as a list and as a table (``check``: an argv or an HTTP request)
may be either.  ``for k in r.table: ... if k not in NAMES: raise`` makes NAMES
the table's keys (``[keys]``: the binding ids).  The document itself is the
``Reader`` ``load_config`` makes (``console``, ``services``, ``keys``).

``tests/test_config_file.py`` fails when a key of ``config.example.toml`` (its
commented keys and example services uncommented) is not described here.

What the code does not say this way is left open (a key of unknown type
accepts anything, a table without ``expect`` accepts other keys): the schema
never refuses what the console accepts; ``check-config`` stays the judge.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

_KINDS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "list": {"type": "array"},
    "dict": {"type": "object"},
}
_TYPED: dict[str, dict[str, Any]] = {
    "number": {"type": "number"},
    "duration": {"type": "number"},
    "fraction": {"type": "number", "minimum": 0, "maximum": 1},
    "integer": {"type": "integer"},
    "argv": {"type": "array", "items": {"type": "string"}},
    "path_value": {"type": "string"},
}


@dataclass
class _Table:
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    closed: bool = False
    #: key -> ("sub" | "subs", reader function name or "")
    nested: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: key -> the table read in place, through a name bound to ``r.sub(k)``/``r.subs(k)``
    #: (``for item in r.subs("checklist"): item.get(...)``), when no function reads it.
    inline: dict[str, _Table] = field(default_factory=dict)
    helpers: list[str] = field(default_factory=list)
    #: each helper call's parameters given a constant (``_action(r, "check")``), by position
    bound: list[dict[str, str]] = field(default_factory=list)
    #: key -> what else it may be besides the table (``check``: an argv or an HTTP table)
    alternatives: dict[str, dict[str, Any]] = field(default_factory=dict)


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a rollback-console config file."""
    functions, constants, readers = _parse()
    tables: dict[str, _Table] = {}
    for name, node in functions.items():
        tables[name] = _table_of(node, node.args.args[0].arg, constants, readers)
    _specialize(tables, functions, constants, readers)

    def schema_of(function: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
        return table_schema(_merge(function, tables, set()), (*seen, function))

    def table_schema(merged: _Table, seen: tuple[str, ...]) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for key in merged.keys:
            properties[key] = dict(merged.keys[key])
        for key, (how, reader) in merged.nested.items():
            found = reader if reader in tables else ""
            if not found and key not in merged.inline:
                found = _reader_for(key, tables)
            inner: dict[str, Any]
            if key in merged.inline and not found:
                inner = table_schema(merged.inline[key], seen)
            elif found and found not in seen:
                inner = schema_of(found, seen)
            else:
                inner = {"type": "object"}
            properties[key] = {"type": "array", "items": inner} if how == "subs" else inner
            if key in merged.alternatives:
                properties[key] = {"anyOf": [merged.alternatives[key], properties[key]]}
        out: dict[str, Any] = {"type": "object", "properties": properties}
        required = sorted(k for k in merged.required if k in properties)
        if required:
            out["required"] = required
        if merged.closed:
            out["additionalProperties"] = False
        return out

    # The file itself: the ``Reader`` ``load_config`` makes of the whole document.
    load = _root_function()
    root_name = _reader_made_in(load)
    root = table_schema(_table_of(load, root_name, constants, readers), ())
    services = root["properties"].get("services")
    if isinstance(services, dict) and services.get("type") == "array":
        services["minItems"] = 1  # "at least one [[services]] entry is required"
    root["required"] = sorted({*root.get("required", ()), "services"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "rollback-console config",
        "description": "Generated by `rollback-console config schema` from the config readers.",
        **root,
    }


def _modules() -> list[ast.Module]:
    return [
        ast.parse(entry.read_text(encoding="utf-8"))
        for entry in sorted(resources.files("console.config").iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".py")
    ]


def _parse() -> tuple[
    dict[str, ast.FunctionDef], dict[str, tuple[str, ...]], dict[str, dict[str, str]]
]:
    """Every function of ``console/config/*.py`` taking a ``Reader`` first; the
    module-level collections of strings (key lists such as ``_SERVICE_KEYS``, a
    ``frozenset({...})`` of names, a dict's keys); and the dicts naming a reader
    function for each key (``ENGINE_READERS = {"rds": read_rds, ...}``)."""
    functions: dict[str, ast.FunctionDef] = {}
    constants: dict[str, tuple[str, ...]] = {}
    readers: dict[str, dict[str, str]] = {}
    for module in _modules():
        for node in module.body:
            if isinstance(node, ast.FunctionDef) and _takes_reader(node):
                functions.setdefault(node.name, node)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                value = node.value
                if not isinstance(target, ast.Name) or value is None:
                    continue
                if (
                    isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Name)
                    and value.func.id in ("frozenset", "set", "tuple")
                    and len(value.args) == 1
                ):
                    value = value.args[0]
                if isinstance(value, ast.Tuple | ast.List | ast.Set):
                    strings = _strings(value.elts)
                    if strings is not None:
                        constants[target.id] = strings
                elif isinstance(value, ast.Dict):
                    keys = _strings([k for k in value.keys if k is not None])
                    if keys is not None and len(keys) == len(value.keys):
                        constants[target.id] = keys
                        readers[target.id] = {
                            k: v.id
                            for k, v in zip(keys, value.values, strict=True)
                            if isinstance(v, ast.Name)
                        }
    return functions, constants, readers


def _root_function() -> ast.FunctionDef:
    """``load_config``: where the whole document's ``Reader`` is made."""
    for module in _modules():
        for node in module.body:
            if isinstance(node, ast.FunctionDef) and node.name == "load_config":
                return node
    raise LookupError("console.config has no load_config")


def _reader_made_in(function: ast.FunctionDef) -> str:
    """The name bound to ``Reader(loader, data, "")`` (the document's reader)."""
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "Reader"
        ):
            return node.targets[0].id
    raise LookupError(f"{function.name} makes no Reader")


def _takes_reader(node: ast.FunctionDef) -> bool:
    """Its first parameter is annotated ``Reader`` (or ``Reader | None``)."""
    args = node.args.args
    if not args or not isinstance(args[0].annotation, ast.Name | ast.Constant | ast.BinOp):
        return False
    names = ast.unparse(args[0].annotation).strip("'\"").replace(" ", "").split("|")
    return "Reader" in names and set(names) <= {"Reader", "None"}


def _strings(nodes: list[ast.expr]) -> tuple[str, ...] | None:
    if all(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in nodes):
        return tuple(n.value for n in nodes)  # type: ignore[attr-defined]
    return None


def _specialize(
    tables: dict[str, _Table],
    functions: dict[str, ast.FunctionDef],
    constants: dict[str, tuple[str, ...]],
    readers: dict[str, dict[str, str]],
) -> None:
    """A helper handed a key as well as the reader (``_action(r, "check")``) reads that
    key: its table is read again with the parameter bound, as ``_action(check)``."""
    pending = list(tables)
    while pending:
        table = tables[pending.pop()]
        for i, (helper, bound) in enumerate(zip(table.helpers, table.bound, strict=True)):
            if not bound or helper not in functions:
                continue
            name = f"{helper}({','.join(bound.values())})"
            if name not in tables:
                node = functions[helper]
                params = node.args.args
                named = {params[int(i)].arg: v for i, v in bound.items() if int(i) < len(params)}
                tables[name] = _table_of(node, params[0].arg, constants, readers, named)
                pending.append(name)
            table.helpers[i] = name


def _table_of(
    node: ast.FunctionDef,
    reader: str,
    constants: dict[str, tuple[str, ...]],
    readers: dict[str, dict[str, str]],
    bound: dict[str, str] | None = None,
) -> _Table:
    """What ``node`` reads from the ``Reader`` named ``reader`` (``bound``: parameters
    known to hold a key's name)."""
    bound = bound or {}
    table = _Table()
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        if isinstance(func, ast.Name) and call.args:
            first = call.args[0]
            if isinstance(first, ast.Name) and first.id == reader:
                table.helpers.append(func.id)
                given = {
                    i: arg.value
                    for i, arg in enumerate(call.args[1:], 1)
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                }
                table.bound.append({f"{i}": v for i, v in given.items()})
            continue
        if not (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == reader
        ):
            continue
        method = func.attr
        if method == "expect":
            _expect(table, call, constants, readers)
            continue
        if not call.args:
            continue
        names = _names_of(node, call.args[0], bound)
        if names is None:
            if method in ("get", "require"):
                _checked_names(node, table, call, constants)
            continue
        for key in names:
            if "." not in key and "[" not in key:
                _read(table, node, reader, call, key, constants, readers)
    return table


def _names_of(
    node: ast.FunctionDef, arg: ast.expr, bound: dict[str, str]
) -> tuple[str, ...] | None:
    """The key(s) ``arg`` names: a string, a parameter bound to one, or the variable of a
    loop over literal strings (``for key in ("base_backup_dir", ...): r.get(key, str)``)."""
    if isinstance(arg, ast.Constant):
        return (arg.value,) if isinstance(arg.value, str) else ()
    if not isinstance(arg, ast.Name):
        return ()
    if arg.id in bound:
        return (bound[arg.id],)
    for loop in ast.walk(node):
        if (
            isinstance(loop, ast.For)
            and isinstance(loop.target, ast.Name)
            and loop.target.id == arg.id
            and isinstance(loop.iter, ast.Tuple | ast.List)
        ):
            return _strings(loop.iter.elts)
    return None


def _read(
    table: _Table,
    node: ast.FunctionDef,
    reader: str,
    call: ast.Call,
    key: str,
    constants: dict[str, tuple[str, ...]],
    readers: dict[str, dict[str, str]],
) -> None:
    """What ``r.METHOD(key, ...)`` says of ``key``."""
    method = call.func.attr  # type: ignore[attr-defined]
    if method in ("get", "require"):
        kind = _kind(call.args[1]) if len(call.args) > 1 else {}
        table.keys[key] = _combine(table.keys.get(key), kind)
        if method == "require":
            table.required.add(key)
    elif method in _TYPED:
        table.keys[key] = _combine(table.keys.get(key), _TYPED[method])
    elif method in ("sub", "subs"):
        alias = _alias_of(node, call)
        table.nested[key] = (method, _reader_called_on(node, call, alias))
        if alias and alias != reader:
            inner = _table_of(node, alias, constants, readers)
            if inner.keys or inner.nested:
                table.inline[key] = inner


def _checked_names(
    node: ast.FunctionDef, table: _Table, call: ast.Call, constants: dict[str, tuple[str, ...]]
) -> None:
    """``for name in r.table: r.get(name, kind)``, each ``name`` refused unless ``name in NAMES``
    (``[keys]``: binding ids): NAMES are the table's keys, and no other."""
    name = call.args[0].id  # type: ignore[attr-defined]
    reader = call.func.value.id  # type: ignore[attr-defined]
    every_key = any(
        isinstance(loop, ast.For)
        and isinstance(loop.target, ast.Name)
        and loop.target.id == name
        and ast.unparse(loop.iter) == f"{reader}.table"
        for loop in ast.walk(node)
    )
    if not every_key:  # ``r.get(provider, dict)``: one computed key, not the table's
        return
    kind = _kind(call.args[1]) if len(call.args) > 1 else {}
    for compare in ast.walk(node):
        if (
            isinstance(compare, ast.Compare)
            and isinstance(compare.left, ast.Name)
            and compare.left.id == name
            and isinstance(compare.ops[0], ast.NotIn | ast.In)
            and isinstance(compare.comparators[0], ast.Name)
            and compare.comparators[0].id in constants
        ):
            for key in constants[compare.comparators[0].id]:
                table.keys[key] = _combine(table.keys.get(key), kind)
            table.closed = True


def _alias_of(function: ast.FunctionDef, sub_call: ast.Call) -> str:
    """The name one table of ``r.sub(k)`` / ``r.subs(k)`` is read through in ``function``:
    ``x = r.sub(k)``, or ``item`` of ``for item in r.subs(k)`` (directly or through a name)."""
    bound = ""
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and any(n is sub_call for n in ast.walk(node.value))
        ):
            bound = node.targets[0].id
    for node in ast.walk(function):
        if isinstance(node, ast.For | ast.comprehension):
            source = node.iter
            if (
                isinstance(source, ast.Call)
                and isinstance(source.func, ast.Name)
                and source.func.id == "enumerate"
            ):
                source = source.args[0]
            if source is sub_call or (isinstance(source, ast.Name) and source.id == bound):
                target = node.target
                if isinstance(target, ast.Tuple):
                    target = target.elts[-1]
                if isinstance(target, ast.Name):
                    return target.id
    return bound


def _expect(
    table: _Table,
    call: ast.Call,
    constants: dict[str, tuple[str, ...]],
    readers: dict[str, dict[str, str]],
) -> None:
    closed = True
    for arg in call.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            table.keys.setdefault(arg.value, {})
        elif isinstance(arg, ast.Starred) and isinstance(arg.value, ast.Name):
            for key in constants.get(arg.value.id, ()):
                table.keys.setdefault(key, {})
            # ``*ENGINE_READERS``: each key is a table read by the function it maps to.
            for key, function in readers.get(arg.value.id, {}).items():
                table.keys.pop(key, None)
                table.nested[key] = ("sub", function)
            closed = closed and arg.value.id in constants
        else:
            closed = False  # computed names (a dataclass's fields, other distributions')
    # A list that is only partly known would refuse keys the console accepts.
    table.closed = table.closed or (closed and bool(call.args))


def _reader_called_on(function: ast.FunctionDef, sub_call: ast.Call, alias: str = "") -> str:
    """The ``read_*`` function the result of ``r.sub(k)`` is handed to, directly or through
    the name it is bound to (``alias``)."""
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.args
            and (
                node.args[0] is sub_call
                or (alias and isinstance(node.args[0], ast.Name) and node.args[0].id == alias)
                or (isinstance(node.args[0], ast.BoolOp) and sub_call in node.args[0].values)
            )
        ):
            return node.func.id
    return ""


def _kind(node: ast.expr) -> dict[str, Any]:
    names = [e for e in node.elts] if isinstance(node, ast.Tuple) else [node]
    kinds = [_KINDS.get(n.id) for n in names if isinstance(n, ast.Name)]
    if not kinds or None in kinds:
        return {}
    types = sorted({k["type"] for k in kinds if k})
    if "integer" in types and "number" in types:
        types.remove("integer")
    return {"type": types[0] if len(types) == 1 else types}


def _combine(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    if not old:
        return dict(new)
    if not new or old == new:
        return old
    return {}  # read two ways: leave it open


def _merge(function: str, tables: dict[str, _Table], seen: set[str]) -> _Table:
    """``function``'s table with what the helpers it hands its reader to read."""
    seen.add(function)
    own = tables.get(function, _Table())
    merged = _Table(
        keys=dict(own.keys),
        required=set(own.required),
        closed=own.closed,
        nested=dict(own.nested),
        inline=dict(own.inline),
        alternatives=dict(own.alternatives),
    )
    for helper in own.helpers:
        if helper in tables and helper not in seen and not helper.startswith("read_"):
            extra = _merge(helper, tables, seen)
            for key, kind in extra.keys.items():
                merged.keys[key] = _combine(merged.keys.get(key), kind)
            merged.required |= extra.required
            merged.nested.update(extra.nested)
            merged.inline.update(extra.inline)
            merged.alternatives.update(extra.alternatives)
        elif helper.startswith("read_") and helper in tables and helper not in seen:
            # ``read_checklist(r)``: reads its own key of this same table.
            extra = _merge(helper, tables, seen)
            merged.nested.update(extra.nested)
            merged.inline.update(extra.inline)
            merged.alternatives.update(extra.alternatives)
            for key, kind in extra.keys.items():
                # ``read_wal(r)`` reads ``host`` as a string: a key, not the host table.
                merged.keys[key] = kind if kind else merged.keys.get(key, {})
    # Keys of the closed list that name a table read by ``read_<key>``: nested tables.
    for key in list(merged.keys):
        if not merged.keys[key] and key not in merged.nested and _reader_for(key, tables):
            merged.nested[key] = ("sub", _reader_for(key, tables))
            del merged.keys[key]
    for key, (how, _) in merged.nested.items():
        # ``r.get(k, (list, dict))`` then ``r.sub(k)`` for a table: a list is accepted too.
        kind = merged.keys.pop(key, {})
        types = kind.get("type", [])
        others = [t for t in ([types] if isinstance(types, str) else types) if t != "object"]
        if how == "sub" and others and key not in merged.alternatives:
            merged.alternatives[key] = {"type": others[0] if len(others) == 1 else others}
    return merged


def _reader_for(key: str, tables: dict[str, _Table]) -> str:
    """The function reading the table at ``key``: ``read_<key>`` or ``read_<key without s>``
    (``read_step`` for ``steps``) -- not one that reads ``key`` itself out of the table
    above (``read_steps(r)`` does ``r.subs("steps")``)."""
    for name in (f"read_{key.rstrip('s')}", f"read_{key}", f"_{key}"):
        if name in tables and key not in tables[name].nested:
            return name
    return ""
