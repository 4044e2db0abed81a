"""What the invoker store accepts: names, and configurations that hold no secret.

    check_name("work-openai", "Connection")                  # the name, or InvokerConfigError
    check_configuration({"api_key": "${env:OPENAI_API_KEY}"}, "The connection 'w'")  # a copy
    check_configuration({"api_key": "sk-..."}, "...")         # InvokerConfigError, not echoed
    store_path()                                             # where the store lives

Every writer of the store (the kernel API, the server's routes) checks through here,
so the store never holds a secret: a field with a key-like name may only be an
``${env:VAR}`` reference (no default), and under any name a value shaped like a
provider key or an HTTP credential, a URL with a password, a variable "name" that is
a key itself, a key-shaped ``${env:}`` default, and a number JSON cannot carry are
refused. Messages name the field, never its value.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._secrets import Secret, has_url_password, looks_like_key, looks_like_key_name
from .._secrets import is_secret_key as is_secret_field
from ..exceptions import InvokerConfigError

__all__ = ["CONFIG_DIR_ENV", "ENV_REFERENCE", "check_configuration", "check_name", "store_path"]

CONFIG_DIR_ENV = "JUPYTER_INVOKER_CONFIG_DIR"
#: ``${env:VAR}``: the only form a key may take in the store (no default: a default
#: would be a literal key in disguise).
ENV_REFERENCE = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
_ANY_ENV_REFERENCE = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def store_path() -> Path:
    """Where the store lives (see the module docstring); the file may not exist yet."""
    explicit = os.environ.get(CONFIG_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser() / "selections.json"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "jupyter_invoker" / "selections.json"


def check_name(name: object, what: str) -> str:
    """``name`` if it is a valid invoker / connection name, else a sentence saying why not."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvokerConfigError(
            f"{what} name {name!r} is not valid; use 1 to 64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (for example 'work-openai')."
        )
    return name


def check_configuration(configuration: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A JSON-clean copy of ``configuration``; any literal key is refused (never echoed).

    Refused: a value under a key-like name (``api_key``, ``auth``, ``passphrase``,
    ``Authorization``...) that is not ``${env:VAR}``; anywhere, a value shaped like a
    provider key or a ``Bearer``/``Basic`` credential, a URL with a password in it
    (``http://user:PASS@host``), a ``${env:VAR}`` whose VAR is a key itself or whose
    default is one; and numbers JSON cannot carry (``NaN``, ``Infinity``).
    """
    clean: dict[str, Any] = {}
    for name, value in configuration.items():
        field = str(name)
        if is_secret_field(field):
            if value is None or value == "":
                continue  # "no key" (a local server): nothing to store
            if not (isinstance(value, str) and ENV_REFERENCE.match(value.strip())):
                raise _literal_key(field, where)
            value = value.strip()
        clean[field] = _check_value(value, field, where)
    return clean


def _check_text(value: str, field: str, where: str) -> None:
    reference = _ANY_ENV_REFERENCE.match(value.strip())
    if reference is not None:
        variable, default = reference.group(1), reference.group(2)
        if looks_like_key_name(variable) or (default and looks_like_key(default)):
            raise _literal_key(field, where)
        if default and has_url_password(default):
            value = default
    elif looks_like_key(value):
        raise _literal_key(field, where)
    if has_url_password(value):
        raise InvokerConfigError(
            f"{where} gives `{field}` a URL with a password in it, which is refused: the "
            f"store ({store_path()}) never holds secrets. Give the URL without "
            "`user:password@`, and the key as `${env:MY_KEY}` in the key field."
        )


def _check_value(value: Any, field: str, where: str) -> Any:
    """One value of ``field`` (or an item of a list under it), checked and JSON-clean."""
    if isinstance(value, Secret):
        raise _literal_key(field, where)
    if isinstance(value, str):
        _check_text(value, field, where)
    elif isinstance(value, Mapping):
        return check_configuration(value, where)
    elif isinstance(value, list):
        return [_check_value(item, field, where) for item in value]
    elif isinstance(value, float) and not math.isfinite(value):
        raise _not_finite(field, where)
    elif not isinstance(value, int | float | bool | type(None)):
        raise InvokerConfigError(
            f"{where} has a `{field}` of type {type(value).__name__}; only JSON values "
            "(text, numbers, true/false, lists, objects) can be stored."
        )
    return value


def _not_finite(field: str, where: str) -> InvokerConfigError:
    return InvokerConfigError(
        f"{where} gives `{field}` a number that is not finite (NaN or Infinity), which "
        "JSON cannot carry; give a finite number."
    )


def _literal_key(field: str, where: str) -> InvokerConfigError:
    return InvokerConfigError(
        f"{where} gives `{field}` a literal key, which is refused: the store "
        f"({store_path()}) never holds secrets. Give the key as an environment variable "
        f"reference, `{field}: ${{env:MY_KEY}}`, and set MY_KEY where the kernel and the "
        "server run."
    )
