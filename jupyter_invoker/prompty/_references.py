"""``${env:VAR}``, ``${env:VAR:default}`` and ``${file:path}`` references.

    api_key: ${env:OPENAI_API_KEY}               # kept at load, resolved at execute
    base_url: ${env:BASE_URL:http://127.0.0.1:8000/v1}   # the default may contain ':'
    sample: ${file:sample.json}                  # resolved at load, JSON parsed

A reference is a whole YAML value, as in Prompty. ``${file:}`` resolves at load
against the ``.prompty`` file's folder and never leaves that folder tree: ``..``,
absolute paths and symlinks pointing outside are refused. ``${env:}`` is kept as
written at load (a prompt with an unset variable still loads and previews) and
resolved by :func:`resolve_configuration` when an invoker runs the prompt.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

from .._files import NotFinite, TooLarge, read_limited, strict_json
from .._secrets import Secret
from ..exceptions import PromptyReferenceError
from ._config import is_secret_key
from ._limits import MAX_FILE_BYTES, MAX_NESTING

if TYPE_CHECKING:
    from ._model import Prompty

__all__ = [
    "EnvReference",
    "parse_env_reference",
    "resolve_configuration",
    "resolve_env",
    "resolve_files",
]

_REFERENCE = re.compile(r"^\$\{(?P<kind>[^:}]*):(?P<arg>.*)\}$", re.S)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_FILE_DEPTH = 8  # JSON files may reference other files; this stops cycles


@dataclass(frozen=True)
class EnvReference:
    """A parsed ``${env:variable[:default]}``."""

    variable: str
    default: str | None


def _reference_text(value: Any) -> str | None:
    """The stripped text of a string value that looks like ``${...}``, else None."""
    text = value.get_secret() if isinstance(value, Secret) else value
    if not isinstance(text, str):
        return None
    text = text.strip()
    return text if text.startswith("${") and text.endswith("}") else None


def parse_env_reference(value: Any) -> EnvReference | None:
    """``"${env:URL:https://a.b:8080/v1}"`` -> ``EnvReference("URL", "https://a.b:8080/v1")``."""
    text = _reference_text(value)
    if text is None or not text.startswith("${env:"):
        return None
    variable, sep, default = text[len("${env:") : -1].partition(":")
    return EnvReference(variable.strip(), default if sep else None)


def _where(path: Path, lines: Mapping[tuple[str, ...], int], field: tuple[str, ...]) -> str:
    for end in range(len(field), 0, -1):
        line = lines.get(field[:end])
        if line is not None:
            return f"{path}:{line}"
    return str(path)


def _dotted(field: tuple[str, ...]) -> str:
    return ".".join(field) or "(top level)"


def _check_reference(
    text: str, *, path: Path, lines: Mapping[tuple[str, ...], int], field: tuple[str, ...]
) -> tuple[str, str]:
    match = _REFERENCE.match(text)
    kind = match.group("kind").strip() if match else ""
    if match is None or kind not in {"env", "file"}:
        raise PromptyReferenceError(
            f"{_where(path, lines, field)}: field `{_dotted(field)}` holds an unknown reference "
            f"`${{{kind or '...'}:...}}`. Use ${{env:VAR}}, ${{env:VAR:default}} or "
            "${file:relative/path} (a whole value), or quote the text differently."
        )
    arg = match.group("arg")
    if kind == "env":
        variable = arg.partition(":")[0].strip()
        if not _ENV_NAME.match(variable):
            raise PromptyReferenceError(
                f"{_where(path, lines, field)}: field `{_dotted(field)}` has "
                f"${{env:{variable}}}, which is not a valid environment variable name "
                "(letters, digits and '_', not starting with a digit). Fix the name."
            )
    return kind, arg.strip()


def _read_file(
    ref: str, *, path: Path, lines: Mapping[tuple[str, ...], int], field: tuple[str, ...]
) -> Any:
    where = f"{_where(path, lines, field)}: field `{_dotted(field)}`"
    folder = path.parent
    parts = set(PurePosixPath(ref).parts) | set(PureWindowsPath(ref).parts)
    if not ref:
        raise PromptyReferenceError(f"{where} has an empty ${{file:}} reference; name a file.")
    if "\x00" in ref:
        raise PromptyReferenceError(
            f"{where}: the ${{file:}} reference holds a NUL character, which no file name "
            "can; fix the path."
        )
    if (
        PurePosixPath(ref).is_absolute()
        or PureWindowsPath(ref).is_absolute()
        or PureWindowsPath(ref).drive
        or ref.startswith(("\\", "~"))
    ):
        raise PromptyReferenceError(
            f"{where}: ${{file:{ref}}} is an absolute path, which is refused: a ${{file:}} "
            f"reference must stay inside the prompt's folder {folder}. Copy the file there "
            "and use a relative path."
        )
    if ".." in parts:
        raise PromptyReferenceError(
            f"{where}: ${{file:{ref}}} uses '..', which is refused: a ${{file:}} reference "
            f"must stay inside the prompt's folder {folder}. Copy the file there."
        )
    try:
        base = folder.resolve()
        target = (folder / ref).resolve()
    except (OSError, RuntimeError) as exc:  # too long a name, a symbolic-link loop
        raise PromptyReferenceError(
            f"{where}: ${{file:{_shown(ref)}}} cannot be followed ({_reason(exc)}); fix the path."
        ) from None
    if not target.is_relative_to(base):
        raise PromptyReferenceError(
            f"{where}: ${{file:{ref}}} leads outside the prompt's folder {folder} (through a "
            f"symbolic link, to {target}), which is refused. Copy the file into the folder."
        )
    try:
        text = read_limited(target, MAX_FILE_BYTES).decode("utf-8-sig")
    except FileNotFoundError:
        raise PromptyReferenceError(
            f"{where}: ${{file:{ref}}} names {folder / ref}, which does not exist or is not "
            "a file. Create it or fix the path (relative to the .prompty file's folder)."
        ) from None
    except TooLarge as exc:
        raise PromptyReferenceError(
            f"{where}: ${{file:{ref}}} holds {exc.size:,} bytes, more than the {exc.limit:,} "
            "a file read by a prompt may hold, so it was not read. Shorten it."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptyReferenceError(
            f"{where}: ${{file:{ref}}} could not be read as UTF-8 text ({_reason(exc)}). "
            "Name a plain UTF-8 text file."
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if target.suffix.lower() != ".json":
        return text
    try:
        return strict_json(text)
    except NotFinite as exc:
        raise PromptyReferenceError(
            f"{where}: ${{file:{ref}}} is not valid JSON ({target}: {exc} is not a number "
            "JSON allows). Fix the JSON, or use another extension to read it as text."
        ) from None
    except RecursionError:
        raise PromptyReferenceError(
            f"{where}: ${{file:{ref}}} nests lists or objects too deeply to read; flatten it."
        ) from None
    except json.JSONDecodeError as exc:
        raise PromptyReferenceError(
            f"{where}: ${{file:{ref}}} is not valid JSON ({target}, line {exc.lineno}: "
            f"{exc.msg}). Fix the JSON, or use another extension to read it as text."
        ) from exc


def _shown(text: str) -> str:
    return text if len(text) <= 200 else text[:200] + "..."


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def _outside_configuration(field: tuple[str, ...], variable: str, where: str) -> Exception:
    return PromptyReferenceError(
        f"{where}: field `{_dotted(field)}` uses ${{env:{variable}}}, but environment "
        "references are allowed only under `model.configuration` (the endpoint, key and "
        "other connection settings). A prompt's sample, inputs, parameters and template "
        "are sent to the model's endpoint, so an environment value there would leave this "
        "machine with them. Move the reference under model.configuration, or write the "
        "value itself."
    )


def resolve_files(
    value: Any,
    *,
    path: Path,
    lines: Mapping[tuple[str, ...], int],
    field: tuple[str, ...] = (),
    strip: bool = False,
    _depth: int = 0,
) -> Any:
    """Replace every ``${file:}`` in ``value`` by the file's content; check ``${env:}``:
    its syntax, and that it stands under ``model.configuration`` (nowhere else).

    ``strip`` strips the surrounding whitespace of every string in JSON files (as Prompty).
    """
    if len(field) > MAX_NESTING:
        raise PromptyReferenceError(
            f"{_where(path, lines, field)}: the values nest more than {MAX_NESTING} levels "
            "deep (through ${file:} references too), which is refused. Flatten them."
        )
    text = _reference_text(value)
    if text is not None:
        kind, arg = _check_reference(text, path=path, lines=lines, field=field)
        if kind == "env":
            if field[:2] != ("model", "configuration"):
                variable = arg.partition(":")[0].strip()
                raise _outside_configuration(field, variable, _where(path, lines, field))
            return value
        if _depth >= _MAX_FILE_DEPTH:
            raise PromptyReferenceError(
                f"{_where(path, lines, field)}: field `{_dotted(field)}`: ${{file:}} references "
                f"nest more than {_MAX_FILE_DEPTH} deep (a cycle?). Remove the cycle."
            )
        loaded = _read_file(arg, path=path, lines=lines, field=field)
        if isinstance(loaded, str):
            return loaded
        return resolve_files(
            loaded, path=path, lines=lines, field=field, strip=True, _depth=_depth + 1
        )
    if isinstance(value, dict):
        return {
            key: resolve_files(
                item, path=path, lines=lines, field=(*field, str(key)), strip=strip, _depth=_depth
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            resolve_files(
                item, path=path, lines=lines, field=(*field, str(i)), strip=strip, _depth=_depth
            )
            for i, item in enumerate(value)
        ]
    if strip and isinstance(value, str):
        return value.strip()
    return value


def _env_value(ref: EnvReference, *, path: Path, field: str, owner: str | None = None) -> str:
    value = os.environ.get(ref.variable)
    if value is not None:
        return value
    if ref.default is not None:
        return ref.default
    other = (
        f"or write a default as ${{env:{ref.variable}:value}}"
        if owner is None
        else "or change it there to name a variable that is set"
    )
    raise PromptyReferenceError(
        f"Environment variable {ref.variable} is not set, and {owner or path} needs it for "
        f"`{field}` (written there as ${{env:{ref.variable}}}). Set it before running the "
        f"prompt: `export {ref.variable}=...` in the shell that starts Jupyter, or "
        f'`os.environ["{ref.variable}"] = ...` in the notebook; {other}.'
    )


def resolve_env(
    value: Any,
    *,
    path: Path,
    field: str,
    secret: bool = False,
    secrets: bool = True,
    owner: str | None = None,
) -> Any:
    """Resolve every ``${env:}`` in ``value``.

    With ``secrets`` (configuration), strings under key-like names come back as Secret.
    ``owner``: where ``value`` was written when not in the file ``path`` (a stored
    connection); an unset variable's error names it.
    """
    ref = parse_env_reference(value)
    if ref is not None:
        resolved = _env_value(ref, path=path, field=field, owner=owner)
        return Secret(resolved) if secret or isinstance(value, Secret) else resolved
    if isinstance(value, Mapping):
        return {
            key: resolve_env(
                item,
                path=path,
                field=f"{field}.{key}",
                secret=secret or (secrets and is_secret_key(key)),
                secrets=secrets,
                owner=owner,
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            resolve_env(
                item,
                path=path,
                field=f"{field}.{i}",
                secret=secret,
                secrets=secrets,
                owner=owner,
            )
            for i, item in enumerate(value)
        ]
    if secret and isinstance(value, str):
        return Secret(value)
    return value


def resolve_configuration(prompty: Prompty) -> dict[str, Any]:
    """``prompty.model.configuration`` with every ``${env:}`` resolved, for an invoker to use.

        config = resolve_configuration(prompt)
        client = OpenAI(api_key=reveal(config.get("api_key")), base_url=config.get("base_url"))

    Values under key-like names (``api_key``, ``key``, ``token``, ...) are
    :class:`~jupyter_invoker._secrets.Secret`; unwrap them with ``reveal()`` only at
    the SDK boundary. An unset variable without a default raises
    :class:`~jupyter_invoker.exceptions.PromptyReferenceError` naming the variable,
    the file (or, for a field from a stored connection, the connection and the store:
    ``prompty.configuration_sources``) and the ``export`` that fixes it.
    """
    sources = prompty.configuration_sources
    return {
        key: resolve_env(
            value,
            path=prompty.path,
            field=f"configuration.{key}" if key in sources else f"model.configuration.{key}",
            secret=is_secret_key(key),
            owner=sources.get(key),
        )
        for key, value in prompty.model.configuration.items()
    }
