"""``load(path) -> Prompty``: fields checked and normalised, ``${file:}`` resolved.

    prompt = load("prompts/weather.prompty")    # relative to the current directory

Known fields: name, description, authors, version, base, model (api, configuration,
parameters), sample, inputs, outputs, template. Unknown fields are kept in
``prompt.extra`` (and unknown ``model`` fields in ``prompt.model.extra``). As in
Prompty 0.1, the string values of ``sample`` and of ``inputs.*.default`` lose their
surrounding whitespace (a YAML ``|`` block's final newline, say), so previews
render as they did with Prompty.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from ..exceptions import PromptyLoadError
from ._config import INVOKER_NAME, invoker_name, normalize_configuration, wrap_secrets
from ._model import Prompty, PromptyInput, PromptyModel
from ._references import resolve_files
from ._source import Source, read_source

__all__ = ["load"]

_KNOWN = frozenset(
    {"name", "description", "authors", "version", "base", "model", "sample", "inputs"}
    | {"outputs", "template"}
)
_MODEL_KNOWN = frozenset({"api", "configuration", "parameters"})
_INPUT_KNOWN = frozenset({"type", "default", "description", "required"})
_ENGINE_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


def _error(source: Source, field: tuple[str, ...], message: str) -> PromptyLoadError:
    return PromptyLoadError(f"{source.where(*field)}: field `{'.'.join(field)}` {message}")


def _text(source: Source, data: dict[str, Any], *field: str) -> str:
    value = data.get(field[-1])
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float, bool)):
        return str(value)
    raise _error(source, field, "must be text, not a mapping or a list.")


def _mapping(source: Source, data: dict[str, Any], field: tuple[str, ...], what: str) -> Any:
    value = data.get(field[-1])
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _error(source, field, f"must be a mapping ({what}), not {_kind(value)}.")
    return value


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    return f"a {type(value).__name__}"


def _strip_strings(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {key: _strip_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strip_strings(item) for item in value]
    return value


def _authors(source: Source, data: dict[str, Any]) -> list[str]:
    value = data.get("authors")
    if value is None:
        return []
    if isinstance(value, str):
        return [value.strip()]
    if isinstance(value, list) and all(isinstance(a, (str, int, float)) for a in value):
        return [str(a).strip() for a in value]
    raise _error(source, ("authors",), "must be a list of names.")


def _model(source: Source, data: dict[str, Any]) -> PromptyModel:
    raw = _mapping(source, data, ("model",), "api, configuration, parameters")
    api = raw.get("api")
    if api is None:
        api = ""
    if not isinstance(api, str):
        raise _error(
            source, ("model", "api"), "must be text: chat, completion, or an invoker name."
        )
    configuration = _mapping(
        source, raw, ("model", "configuration"), "type, endpoint, key, ... of the invoker"
    )
    kind = configuration.get("type")
    if kind is not None and not isinstance(kind, str):
        raise _error(
            source, ("model", "configuration", "type"), "must be an invoker name such as openai."
        )
    parameters = _mapping(source, raw, ("model", "parameters"), "temperature, max_tokens, ...")
    invoker = invoker_name(configuration, api)
    if not INVOKER_NAME.match(invoker):
        field = ("model", "configuration", "type") if kind else ("model", "api")
        shown = (kind or api).strip()
        raise _error(
            source,
            field,
            f"names the invoker {shown[:80]!r}, which no invoker can be called: an invoker "
            "name is letters, digits, '_', '-' or '.' (for example openai, azure, "
            "serverless, local, or chat / completion with `configuration.type`).",
        )
    configuration = normalize_configuration(
        configuration, invoker, where=source.where("model", "configuration")
    )
    extra = {key: value for key, value in raw.items() if key not in _MODEL_KNOWN}
    return PromptyModel(
        api=api.strip(),
        configuration=configuration,
        parameters=dict(parameters),
        extra=dict(wrap_secrets(extra)),
    )


def _inputs(source: Source, data: dict[str, Any]) -> dict[str, PromptyInput]:
    raw = _mapping(
        source, data, ("inputs",), "input name -> {type, default, description, required}"
    )
    inputs: dict[str, PromptyInput] = {}
    for name, spec in raw.items():
        field = ("inputs", str(name))
        if not isinstance(name, str) or not name.isidentifier():
            raise _error(
                source, field, "is not a valid input name (letters, digits, '_'). Rename it."
            )
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise _error(
                source,
                field,
                f"must be a mapping such as `{{type: string, default: ...}}`, not {_kind(spec)}.",
            )
        kind = spec.get("type")
        if kind is not None and not isinstance(kind, str):
            raise _error(source, (*field, "type"), "must be a type name such as string.")
        required = spec.get("required", False)
        if required is None:
            required = False
        if not isinstance(required, bool):
            raise _error(source, (*field, "required"), "must be true or false.")
        inputs[name] = PromptyInput(
            type=kind.strip() if isinstance(kind, str) else None,
            default=_strip_strings(spec.get("default")),
            has_default="default" in spec,
            description=_text(source, spec, *field, "description"),
            required=required,
            extra={key: value for key, value in spec.items() if key not in _INPUT_KNOWN},
        )
    return inputs


def _template(source: Source, data: dict[str, Any]) -> tuple[str, str, str, int]:
    """(text, format, parser, file line of the text's first line)."""
    value = data.get("template")
    fmt, parser = "jinja2", "prompty"
    text, line = source.body, source.body_line
    holds_text = isinstance(value, str) and not _ENGINE_NAME.match(value.strip())
    if isinstance(value, str) and (holds_text or not source.front_matter):
        # The all-YAML form (or front matter with an empty body): the value is the text.
        if source.front_matter and source.body.strip():
            raise _error(
                source,
                ("template",),
                "holds template text, but the file also has a template below the front "
                "matter. Keep only one of them.",
            )
        info = source.info.get(("template",))
        raw = value
        text = raw.lstrip()
        line = (info.value_line + int(info.block_scalar)) if info else 1
        line += raw[: len(raw) - len(text)].count("\n")
    elif isinstance(value, str):
        fmt = value.strip()
    elif isinstance(value, dict):
        engine = value.get("format", value.get("type", fmt))
        parser = value.get("parser", parser)
        if not isinstance(engine, str) or not isinstance(parser, str):
            raise _error(source, ("template",), "must name its format and parser as text.")
        fmt, parser = engine.strip(), parser.strip()
    elif value is not None:
        raise _error(
            source, ("template",), "must be the template text, an engine name or a mapping."
        )
    if not text.strip():
        where = source.where("template") if "template" in data else str(source.path)
        raise PromptyLoadError(
            f"{where}: no template: the file has neither a template body below its front "
            "matter nor template text in a `template:` field. Add the prompt text."
        )
    return text, fmt, parser, line


def _check_finite(source: Source, value: Any, field: tuple[str, ...] = ()) -> None:
    """Refuse ``.nan`` / ``.inf`` anywhere: JSON (the sidebar, the store, every API) has none."""
    if isinstance(value, float) and not math.isfinite(value):
        raise _error(
            source,
            field,
            f"is {value} (not a finite number), which JSON, and so the sidebar and the "
            "invoker APIs, cannot carry. Write a finite number, or quote it to keep it as text.",
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(source, item, (*field, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(source, item, (*field, str(i)))


def load(path: str | os.PathLike[str]) -> Prompty:
    """Load a ``.prompty`` file (either form); relative paths resolve against the cwd.

    Raises :class:`~jupyter_invoker.exceptions.PromptyLoadError` (naming the file, the
    line and the field) or :class:`~jupyter_invoker.exceptions.PromptyReferenceError`
    for a ``${file:}`` that is missing or leaves the prompt's folder, or an ``${env:}``
    outside ``model.configuration``. A file past the bounds of ``_limits`` (over 1 MiB,
    nested over 64 levels, aliases expanding past 100,000 values) is refused, as are
    values JSON cannot carry (``!!binary``, ``!!set``, ``.nan``, ``.inf``).
    """
    absolute = Path(os.path.abspath(Path(os.fspath(path)).expanduser()))
    source = read_source(absolute)
    source.data = resolve_files(source.data, path=absolute, lines=source.lines)
    data = source.data
    _check_finite(source, data)

    model = _model(source, data)
    sample = data.get("sample")
    if sample is None:
        sample = {}
    if not isinstance(sample, dict):
        raise _error(
            source,
            ("sample",),
            f"must be a mapping of input values (or ${{file:sample.json}} holding a JSON "
            f"object), not {_kind(sample)}.",
        )
    outputs = _mapping(source, data, ("outputs",), "output name -> definition")
    text, fmt, parser, line = _template(source, data)
    api = "completion" if model.api.lower() == "completion" else "chat"
    extra = {key: value for key, value in data.items() if key not in _KNOWN}
    return Prompty(
        path=absolute,
        template=text,
        name=_text(source, data, "name"),
        description=_text(source, data, "description"),
        authors=_authors(source, data),
        version=_text(source, data, "version"),
        base=_text(source, data, "base"),
        model=model,
        sample=_strip_strings(sample),
        inputs=_inputs(source, data),
        outputs=dict(outputs),
        template_format=fmt,
        template_parser=parser,
        api=api,
        extra=dict(wrap_secrets(extra)),
        template_line=line,
    )
