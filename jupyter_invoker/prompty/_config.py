"""Invoker names, configuration field names and secrets.

    invoker_name({"type": "azure_openai"}, "chat")          # "azure"
    normalize_configuration({"endpoint": "https://x", "apiKey": "k"}, "azure", where="f")
    # {"azure_endpoint": "https://x", "api_key": Secret('***')}

Field names are Prompty's, per invoker: openai ``base_url``, ``api_key``, ``name``,
``organization``; azure ``azure_endpoint``, ``azure_deployment``, ``api_version``,
``api_key``; serverless ``endpoint``, ``key``, ``model``; local / huggingface
``model``. The seed page's camelCase spellings are accepted as aliases. Unknown
fields are kept.

Every string under a key-like name (``api_key``, ``key``, ``token``, ``password``,
``secret``, ``auth``, ``Authorization``, ``passphrase``, anything ending in ``_key`` /
``_token`` / ``secret``...), and under any name a URL with a password in it or a
value shaped like a provider key or a ``Bearer`` credential, is wrapped in
:class:`~jupyter_invoker._secrets.Secret`, except a bare ``${env:VAR}`` reference,
which holds no secret and stays readable so a user can see which variable to set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .._secrets import Secret, has_url_password, is_secret_key, looks_like_key
from ..exceptions import PromptyLoadError

__all__ = [
    "INVOKER_ALIASES",
    "INVOKER_NAME",
    "canonical_invoker",
    "invoker_name",
    "is_secret_key",
    "normalize_configuration",
    "wrap_secrets",
]

#: Other names of the built-in invokers: the one place they are written (the invoker
#: registry starts from these; ``InvokerFactory.canonical_name`` resolves them).
INVOKER_ALIASES = {"azure_openai": "azure", "huggingface": "local"}

_PROMPT_APIS = frozenset({"chat", "completion"})
#: What an invoker may be called (lower case): the registry refuses any other name.
INVOKER_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")

_COMMON_ALIASES = {"apiKey": "api_key", "apikey": "api_key", "api-key": "api_key"}

_ALIASES: dict[str, dict[str, str]] = {
    "openai": {
        **_COMMON_ALIASES,
        "model": "name",
        "baseUrl": "base_url",
        "baseURL": "base_url",
        "endpoint": "base_url",
    },
    "azure": {
        **_COMMON_ALIASES,
        "endpoint": "azure_endpoint",
        "azureEndpoint": "azure_endpoint",
        "deployment": "azure_deployment",
        "azureDeployment": "azure_deployment",
        "apiVersion": "api_version",
    },
    "serverless": {"apiKey": "key", "apikey": "key", "api-key": "key", "api_key": "key"},
}

_ENV_ONLY = re.compile(r"^\$\{env:[^:}]*\}$")


def canonical_invoker(name: str) -> str:
    """``"Azure_OpenAI"`` -> ``"azure"``: lower-cased, aliases resolved."""
    key = name.strip().lower()
    return INVOKER_ALIASES.get(key, key)


def invoker_name(configuration: Mapping[str, Any], api: str) -> str:
    """``configuration.type`` if present, else ``api`` when not chat/completion, else ``local``."""
    kind = configuration.get("type")
    if isinstance(kind, str) and kind.strip():
        return canonical_invoker(kind)
    if isinstance(api, str) and api.strip() and api.strip().lower() not in _PROMPT_APIS:
        return canonical_invoker(api)
    return "local"


def wrap_secrets(value: Any, *, secret: bool = False) -> Any:
    """Wrap strings under key-like names (at any depth) in :class:`Secret`."""
    if isinstance(value, Mapping):
        return {key: wrap_secrets(item, secret=is_secret_key(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [wrap_secrets(item, secret=secret) for item in value]
    wrap = isinstance(value, str) and not _ENV_ONLY.match(value.strip())
    if wrap and (secret or has_url_password(value) or looks_like_key(value)):
        return Secret(value)
    if secret and isinstance(value, (int, float)) and not isinstance(value, bool):
        return Secret(str(value))
    return value


def _strip(value: Any) -> Any:
    if isinstance(value, Secret):
        return Secret(value.get_secret().strip())
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Mapping):
        return {key: _strip(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


def normalize_configuration(
    configuration: Mapping[str, Any], invoker: str, *, where: str
) -> dict[str, Any]:
    """Rename alias fields for ``invoker``, strip strings, wrap secrets. Idempotent.

    ``where`` names the file (and line) for error messages.
    """
    aliases = _ALIASES.get(canonical_invoker(invoker), _COMMON_ALIASES)
    result: dict[str, Any] = {}
    renamed_from: dict[str, str] = {}
    for key, value in configuration.items():
        name = aliases.get(key, key) if isinstance(key, str) else key
        if name in result:
            first = renamed_from.get(name, name)
            raise PromptyLoadError(
                f"{where}: model.configuration gives both `{first}` and `{key}`, which mean "
                f"the same field `{name}` for the {invoker} invoker. Keep only one of them."
            )
        if name != key:
            renamed_from[name] = key
        result[name] = _strip(value)
    return dict(wrap_secrets(result))
