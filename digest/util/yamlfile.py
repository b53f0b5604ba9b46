"""Read YAML while remembering where every value came from, so errors can name the line.

PyYAML's composer gives every node a start mark; we build the Python values from the node
tree ourselves and record the line of each path (`("subscribers", 3, "timezone")`).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:  # libyaml is several times faster on large subscriber lists
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

from ..errors import DigestError

# Where a value sits: mapping keys (YAML allows numbers, booleans and null there) and indexes.
Loc = tuple[str | int | float | None, ...]


@dataclass
class Document:
    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest ancestor that has one (1-based)."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None

    def where(self, loc: Loc = ()) -> str:
        line = self.line(loc)
        return f"{self.path}:{line}" if line else str(self.path)


def load(path: Path) -> Document:
    return parse(read_text(path), path)


def read_text(path: Path) -> str:
    """The file as UTF-8 text, or a DigestError naming the line of the first byte that is not."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DigestError(f"{path}: file not found") from None
    except OSError as exc:
        raise DigestError(f"{path}: cannot read: {exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DigestError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        ) from None


def parse(text: str, path: Path) -> Document:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        doc = Document(path, None)
        if node is not None:
            doc.data = _build(loader, node, (), doc.lines)
        return doc
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, path) from None
    except yaml.YAMLError as exc:
        raise DigestError(f"{path}: YAML error: {exc}") from None
    finally:
        loader.dispose()


def _syntax_error(exc: yaml.MarkedYAMLError, path: Path) -> DigestError:
    mark = exc.problem_mark or exc.context_mark
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    problem = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.context_mark and exc.problem:
        problem += f" ({exc.context} started at line {exc.context_mark.line + 1})"
    return DigestError(f"{where}: YAML syntax error: {problem}")


def _build(loader: Any, node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        _no_duplicate_keys(node)
        loader.flatten_mapping(node)  # resolve YAML merge keys (<<)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise yaml.MarkedYAMLError(
                    problem="a mapping key must be a plain value", problem_mark=key_node.start_mark
                )
            out[key] = _build(loader, value_node, (*loc, key), lines)
            lines[(*loc, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*loc, i), lines) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _no_duplicate_keys(node: yaml.MappingNode) -> None:
    """PyYAML keeps the last of two equal keys and drops the first without a word: two
    `sources:` blocks would silently lose one. (A key after a `<<` merge may override it.)"""
    first: dict[str, Any] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        if key_node.value in first:
            raise yaml.MarkedYAMLError(
                problem=f"duplicate key {key_node.value!r} (also at line {first[key_node.value].line + 1})",
                problem_mark=key_node.start_mark,
            )
        first[key_node.value] = key_node.start_mark


def validation_problems(doc: Document, exc: Any, model: Any, base: Loc = (), label: str = "") -> list[str]:
    """Turn a pydantic ValidationError into lines that name the file, line and field.

    `base` is where the validated value sits in the document; `label` names the entry
    ("entry 3 (bob@example.org)") for lists where a line number alone is hard to act on.
    """
    prefix = f"{label}: " if label else ""
    problems = []
    for err in exc.errors(include_url=False):
        err_loc = _without_union_tags(_at(doc.data, base), err["loc"])
        loc: Loc = (*base, *err_loc)
        field_path = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in err_loc)
        field_path = field_path.replace(".[", "[")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, err["loc"][:-1])
            hint = f"; known fields: {', '.join(allowed)}" if allowed else ""
            problems.append(f"{doc.where(loc)}: {prefix}unknown field '{field_path}'{hint}")
            continue
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            members = _union_members(_annotation_at(model, err["loc"]))
            tags = ", ".join(str(t) for m in members for t in _tags(m))
            found = err.get("ctx", {}).get("tag")
            what = f"unknown kind {found!r}" if found is not None else "no kind"
            problems.append(f"{doc.where(loc)}: {prefix}{field_path}: {what}; use one of: {tags}")
            continue
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if err["type"] == "list_type" and isinstance(err["input"], str | int | float):
            # `keywords: tokenizer` for `keywords: [tokenizer]`: show the list it should be
            if typing.get_args(_annotation_at(model, err["loc"])) == (str,):
                msg += f"; write a list, e.g. [{err['input']}]"
        problems.append(f"{doc.where(loc)}: {prefix}{field_path or 'top level'}: {msg}")
    return problems


def _at(data: Any, loc: Loc) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _without_union_tags(data: Any, loc: tuple[Any, ...]) -> Loc:
    """pydantic puts a tagged union's tag in the error path (`sources.0.feed.url`); the
    document has no such key, so drop the parts that are the `kind` of the mapping they sit in."""
    out: list[Any] = []
    for part in loc:
        if isinstance(data, dict) and part not in data and data.get("kind") == part:
            continue
        out.append(part)
        data = _at(data, (part,))
    return tuple(out)


def _union_members(annotation: Any) -> list[Any]:
    """The models of a (possibly Annotated) tagged union, in declaration order."""
    out = []
    for member in typing.get_args(annotation):
        if getattr(member, "model_fields", None):
            out.append(member)
        elif typing.get_args(member):
            out.extend(_union_members(member))
    return out


def _tags(member: Any) -> tuple[Any, ...]:
    kind = member.model_fields.get("kind")
    return typing.get_args(kind.annotation) if kind else ()


def _annotation_at(model: Any, loc: tuple[Any, ...]) -> Any:
    """The type the model expects at `loc`, walking nested models, lists and tagged unions."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            args = [a for a in typing.get_args(current) if a is not type(None)]
            current = args[0] if args else current
            continue
        fields_ = getattr(current, "model_fields", None)
        if not fields_:
            current = next((m for m in _union_members(current) if part in _tags(m)), None)
            if current is None:
                return None
            continue
        by_alias = {(f.alias or name): f for name, f in fields_.items()}
        if part not in by_alias:
            return None
        current = by_alias[part].annotation
        args = [a for a in typing.get_args(current) if a is not type(None)]
        if args and typing.get_origin(current) is not list:
            current = args[0]
    return current


def _allowed_keys(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The field names (aliases) the model accepts at `loc`; excluded fields are set by the
    code (the config's own path), never written in a file."""
    fields_ = getattr(_annotation_at(model, loc), "model_fields", None) or {}
    return [f.alias or name for name, f in fields_.items() if not f.exclude]


# --- long lists, one entry at a time (issue 6) -------------------------------------------------
# A node tree of 20,000 subscribers takes ~100 MB before a single value is built. Streaming
# builds each entry of a top-level list from the parser's events and forgets it once used, so
# memory stays flat however long the list. Only the plain shape is streamed; anything else
# (another top-level key, anchors and aliases, merge keys) raises NotStreamable, and the
# caller reads the file whole with `load`, which handles and reports all of it.


class NotStreamable(Exception):
    pass


@dataclass
class Entry:
    """One entry of a streamed list: its value, and a Document that places it in the file
    (its lines, under the same paths `load` would give it)."""

    index: int
    value: Any
    doc: Document


def stream_list(path: Path, key: str):
    """Each entry of the list under top-level `key`, in order. Raises DigestError for a file
    that cannot be read or parsed, NotStreamable for a shape only `load` handles."""
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        raise DigestError(f"{path}: file not found") from None
    except OSError as exc:
        raise DigestError(f"{path}: cannot read: {exc}") from None
    loader = _Loader(handle)
    try:
        yield from _entries(loader, path, key)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, path) from None
    except UnicodeDecodeError as exc:
        read_text(path)  # names the line of the first byte that is not UTF-8
        raise DigestError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise DigestError(f"{path}: cannot read: {exc}") from None
    finally:
        loader.dispose()
        handle.close()


def _entries(loader: Any, path: Path, key: str):
    for kind in (yaml.StreamStartEvent, yaml.DocumentStartEvent, yaml.MappingStartEvent):
        if not isinstance(loader.get_event(), kind):
            raise NotStreamable
    first = loader.get_event()
    if not (isinstance(first, yaml.ScalarEvent) and first.value == key and first.implicit[0]):
        raise NotStreamable
    if not isinstance(loader.get_event(), yaml.SequenceStartEvent):
        raise NotStreamable
    index = 0
    tags: dict[tuple[str, Any], str] = {}  # (value, implicit) -> resolved tag
    while not isinstance(loader.peek_event(), yaml.SequenceEndEvent):
        lines: dict[Loc, int] = {}
        value = _from_events(loader, (key, index), lines, tags)
        yield Entry(index, value, Document(path, {key: {index: value}}, lines))
        index += 1
    loader.get_event()
    if not isinstance(loader.peek_event(), yaml.MappingEndEvent):  # more top-level keys
        raise NotStreamable


def _from_events(loader: Any, loc: Loc, lines: dict[Loc, int], tags: dict[tuple[str, Any], str]) -> Any:
    event = loader.get_event()
    lines[loc] = event.start_mark.line + 1
    if isinstance(event, yaml.ScalarEvent):
        return _scalar(loader, event, tags)
    if isinstance(event, yaml.SequenceStartEvent):
        items: list[Any] = []
        while not isinstance(loader.peek_event(), yaml.SequenceEndEvent):
            items.append(_from_events(loader, (*loc, len(items)), lines, tags))
        loader.get_event()
        return items
    if isinstance(event, yaml.MappingStartEvent):
        out: dict[Any, Any] = {}
        while not isinstance(key_event := loader.get_event(), yaml.MappingEndEvent):
            if not isinstance(key_event, yaml.ScalarEvent) or key_event.value == "<<":
                raise NotStreamable  # a complex key or a merge key: `load` reports or resolves it
            key = _scalar(loader, key_event, tags)
            if key in out:
                raise NotStreamable  # a duplicate key: `load` reports it
            out[key] = _from_events(loader, (*loc, key), lines, tags)
            if key_event.start_mark is not None:  # a parser's events always carry one
                lines[(*loc, key)] = key_event.start_mark.line + 1
        return out
    raise NotStreamable  # an alias


def _scalar(loader: Any, event: Any, tags: dict[tuple[str, Any], str]) -> Any:
    if event.anchor is not None:
        raise NotStreamable
    tag = event.tag
    if tag in (None, "!"):
        # The resolver tries a dozen patterns; a list repeats its values (keywords, times).
        cached = (event.value, event.implicit) if len(tags) < 10_000 else None
        tag = tags.get(cached) if cached else None
        if tag is None:
            tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            if cached:
                tags[cached] = tag
    if tag == "tag:yaml.org,2002:str":
        return event.value
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    constructor = loader.yaml_constructors.get(tag) or loader.yaml_constructors[None]
    return constructor(loader, node)
