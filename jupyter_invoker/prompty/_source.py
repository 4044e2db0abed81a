"""Reading a ``.prompty`` file: bytes -> text -> (YAML mapping, template body).

    source = read_source(Path("weather.prompty"))
    source.data            # the YAML mapping (dates kept as the text written)
    source.body            # the template after the front matter ("" in the all-YAML form)
    source.lines[("model", "api")]   # 1-based line of that key in the file

Two forms: Prompty's front matter (YAML between ``---`` lines, the template below)
and the seed page's all-YAML form (``template: |`` holding the text). The body is
taken as Prompty 0.1 takes it: everything after the closing ``---``, with its
leading whitespace removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .._files import NotAFile, TooLarge, read_limited
from ..exceptions import PromptyLoadError
from ._limits import MAX_FILE_BYTES, MAX_NESTING, LimitExceeded, check_yaml_graph

__all__ = ["Source", "read_source"]

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
# Tags whose values JSON (and so the sidebar, the store, an API request) cannot carry.
_REFUSED_TAGS = {
    "tag:yaml.org,2002:binary": "binary data (!!binary)",
    "tag:yaml.org,2002:set": "a set (!!set)",
    "tag:yaml.org,2002:omap": "an ordered map (!!omap)",
    "tag:yaml.org,2002:pairs": "a list of pairs (!!pairs)",
}
# libyaml's own bound on flow nesting ("[[[[..."), far below Python's recursion limit.
_LIBYAML_NESTING = "maximum nesting depth"


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that keeps ``2024-10-21`` as the string written (an ``api_version``)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _timestamp_as_text(loader: _Loader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_Loader.add_constructor(_TIMESTAMP, _timestamp_as_text)


def _refused_tag(loader: Any, node: yaml.Node) -> Any:
    line = node.start_mark.line + 1 + getattr(loader, "line_offset", 0)
    raise PromptyLoadError(
        f"{getattr(loader, 'source_path', '')}:{line}: {_REFUSED_TAGS[node.tag]} is not "
        "allowed in a .prompty file: its values must be text, numbers, true/false, null, "
        "lists and mappings. Write the value as text."
    )


for _tag in _REFUSED_TAGS:
    _Loader.add_constructor(_tag, _refused_tag)


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser (~6x faster; workspace discovery loads every file) with the
    same resolvers; a file it rejects is re-read by ``_Loader`` for PyYAML's message."""


_FastLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
_FastLoader.add_constructor(_TIMESTAMP, _timestamp_as_text)
for _tag in _REFUSED_TAGS:
    _FastLoader.add_constructor(_tag, _refused_tag)


@dataclass
class ValueInfo:
    """Where a mapping key sits in the file (1-based lines) and how its value was written."""

    key_line: int
    value_line: int
    block_scalar: bool  # `|` or `>`: the text starts on the line after value_line


@dataclass
class Source:
    path: Path
    data: dict[str, Any]
    body: str
    front_matter: bool
    body_line: int  # file line of the body's first line (front-matter form)
    info: dict[tuple[str, ...], ValueInfo] = field(default_factory=dict)

    @property
    def lines(self) -> dict[tuple[str, ...], int]:
        return {key: value.key_line for key, value in self.info.items()}

    def where(self, *field: str) -> str:
        """``"/abs/x.prompty:7"`` for the nearest known key of ``field`` (or just the path)."""
        for end in range(len(field), 0, -1):
            info = self.info.get(field[:end])
            if info is not None:
                return f"{self.path}:{info.key_line}"
        return str(self.path)


def _fail(path: Path, message: str) -> PromptyLoadError:
    return PromptyLoadError(f"{path}: {message}")


def _read_text(path: Path) -> str:
    try:
        raw = read_limited(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        raise _fail(
            path,
            "no such file. Check the name; relative paths resolve against the current "
            f"working directory ({Path.cwd()}).",
        ) from None
    except IsADirectoryError:
        raise _fail(path, "is a directory, not a .prompty file. Name the file itself.") from None
    except NotAFile as exc:
        raise _fail(
            path, f"{exc}; only a plain file can be a prompt. Name a .prompty file."
        ) from None
    except TooLarge as exc:
        raise _fail(
            path,
            f"the file holds {exc.size:,} bytes, more than the {exc.limit:,} a .prompty may "
            "hold, so it was not read. Move long text into the inputs at run time.",
        ) from None
    except OSError as exc:
        raise _fail(
            path, f"cannot be read ({exc.strerror or exc}). Check its name and permissions."
        ) from None
    if b"\x00" in raw:
        raise _fail(path, "looks like a binary file, not a text .prompty file. Check the path.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _fail(
            path,
            f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}). "
            "Save the file as UTF-8.",
        ) from None
    if not text.strip():
        raise _fail(
            path,
            "the file is empty. A .prompty file needs at least a template: YAML front "
            "matter between `---` lines followed by the template, or a `template:` field.",
        )
    # Universal newlines, as Python's text mode (and so Prompty) reads files.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _collect(
    node: yaml.Node, offset: int, prefix: tuple[str, ...], out: dict[tuple[str, ...], ValueInfo]
) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        key = (*prefix, str(key_node.value))
        out[key] = ValueInfo(
            key_line=key_node.start_mark.line + 1 + offset,
            value_line=value_node.start_mark.line + 1 + offset,
            block_scalar=isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">"),
        )
        _collect(value_node, offset, key, out)


def _document(
    loader: Any, node: yaml.Node | None, path: Path, offset: int
) -> tuple[Any, dict[tuple[str, ...], ValueInfo]]:
    """Check the composed ``node`` against the bounds, then construct it."""
    if node is None:
        return None, {}
    try:
        check_yaml_graph(node, where=str(path), offset=offset)
    except LimitExceeded as exc:
        raise PromptyLoadError(str(exc)) from None
    info: dict[tuple[str, ...], ValueInfo] = {}
    _collect(node, offset, (), info)
    loader.source_path, loader.line_offset = str(path), offset
    return loader.construct_document(node), info


def _parse_yaml(
    text: str, *, path: Path, offset: int
) -> tuple[Any, dict[tuple[str, ...], ValueInfo]]:
    fast = _FastLoader(text)
    try:
        return _document(fast, fast.get_single_node(), path, offset)
    except yaml.YAMLError as exc:
        if _LIBYAML_NESTING in str(exc):
            raise _fail(path, _too_deep()) from None
        # Otherwise the pure-Python loader below words the error (tests pin its messages).
    finally:
        fast.dispose()
    loader = _Loader(text)
    try:
        return _document(loader, loader.get_single_node(), path, offset)
    except RecursionError:
        raise _fail(path, _too_deep()) from None
    except yaml.MarkedYAMLError as exc:
        # Only the problem and its line: YAML's own snippet could show a key.
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark is not None and "end of stream" in (exc.problem or ""):
            mark = exc.context_mark  # an unclosed quote/bracket: where it was opened
        line = mark.line + 1 + offset if mark is not None else offset + 1
        problem = exc.problem or exc.context or "invalid YAML"
        context = ""
        if exc.context and exc.problem:
            started = exc.context_mark
            at = f" from line {started.line + 1 + offset}" if started is not None else ""
            context = f" ({exc.context}{at})"
        raise PromptyLoadError(
            f"{path}:{line}: malformed YAML: {problem}{context}. Fix line {line} "
            "(indentation, a missing ':' after a key, unbalanced quotes or brackets)."
        ) from None
    except yaml.YAMLError as exc:
        raise PromptyLoadError(
            f"{path}: malformed YAML ({type(exc).__name__}). Check the YAML syntax."
        ) from None
    finally:
        loader.dispose()


def _too_deep() -> str:
    return (
        f"the YAML nests more than {MAX_NESTING} levels deep (lists or mappings inside "
        "each other), which is refused. Flatten it."
    )


def read_source(path: Path) -> Source:
    """Read ``path`` and split it into its YAML mapping and template body."""
    text = _read_text(path)
    lines = text.split("\n")
    first = next(i for i, line in enumerate(lines) if line.strip())
    if lines[first].strip() == "---":
        close = next((i for i in range(first + 1, len(lines)) if lines[i].rstrip() == "---"), None)
        if close is None:
            raise _fail(
                path,
                f"unterminated front matter: the `---` on line {first + 1} has no closing "
                "`---` line. Add a `---` line after the YAML and put the template below it "
                "(or, for the all-YAML form, remove the leading `---`).",
            )
        yaml_text = "".join(line + "\n" for line in lines[first + 1 : close])
        data, info = _parse_yaml(yaml_text, path=path, offset=first + 1)
        rest = "\n".join(lines[close + 1 :])
        body = rest.lstrip()  # Prompty 0.1: `---\s*(.+)$`
        body_line = close + 2 + rest[: len(rest) - len(body)].count("\n")
        front_matter = True
    else:
        data, info = _parse_yaml(text, path=path, offset=0)
        body, body_line, front_matter = "", 0, False
    if data is None:
        data = {}
        if not front_matter:
            raise _fail(
                path,
                "holds no fields (only comments?). Add a `template:` field, or YAML front "
                "matter between `---` lines followed by the template.",
            )
    if not isinstance(data, dict):
        kind = f"a {type(data).__name__}"
        if isinstance(data, (list, str)):
            kind = "a list" if isinstance(data, list) else "plain text"
        raise _fail(
            path,
            f"the YAML {'front matter ' if front_matter else ''}is {kind}, not a mapping of "
            "fields. Write `key: value` lines (name, model, inputs, sample, template, ...); "
            "a plain template needs front matter above it, even an empty `---` / `---` pair.",
        )
    return Source(
        path=path,
        data=data,
        body=body,
        front_matter=front_matter,
        body_line=body_line,
        info=info,
    )
