"""No key in any repr, str or error message: literal keys and ${env:} keys alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_invoker._secrets import Secret, reveal
from jupyter_invoker.exceptions import PromptyError
from jupyter_invoker.prompty import Prompty, load, resolve_configuration

Write = Callable[..., Path]
FAKE_KEY = "sk-FAKE-LEAK-CHECK-123456"

LITERAL = f"""\
---
name: leak check
model:
  api: chat
  configuration:
    type: openai
    base_url: https://example.invalid/v1
    api_key: {FAKE_KEY}
    nested:
      client_secret: {FAKE_KEY}
      password: {FAKE_KEY}
      access_token: {FAKE_KEY}
  connection:
    token: {FAKE_KEY}
x-credentials:
  private_key: {FAKE_KEY}
---
user:
hi
"""


def _texts(prompt: Prompty) -> list[str]:
    model = prompt.model
    config = model.configuration
    return [
        repr(prompt),
        str(prompt),
        repr(model),
        str(model),
        repr(config),
        str(config),
        repr(prompt.extra),
        str(model.extra),
        f"{prompt!r} {model} {config}",
    ]


def test_literal_key_loads_as_a_secret_and_never_shows(write: Write) -> None:
    prompt = load(write("k.prompty", LITERAL))
    config = prompt.model.configuration
    assert isinstance(config["api_key"], Secret)
    assert reveal(config["api_key"]) == FAKE_KEY
    assert all(isinstance(v, Secret) for v in config["nested"].values())
    assert config["base_url"] == "https://example.invalid/v1"
    for text in _texts(prompt):
        assert FAKE_KEY not in text
    assert FAKE_KEY not in repr(prompt.with_overrides(parameters={"temperature": 0}).model)
    resolved = resolve_configuration(prompt)
    assert reveal(resolved["api_key"]) == FAKE_KEY
    assert FAKE_KEY not in repr(resolved) and FAKE_KEY not in str(resolved)


def test_env_key_is_a_secret_once_resolved(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JI_LEAK_KEY", FAKE_KEY)
    text = (
        "---\nmodel:\n  configuration:\n    type: azure\n    api_key: ${env:JI_LEAK_KEY}\n"
        f"    key: ${{env:JI_LEAK_UNSET:{FAKE_KEY}}}\n---\nhi\n"
    )
    prompt = load(write("e.prompty", text))
    assert prompt.model.configuration["api_key"] == "${env:JI_LEAK_KEY}"  # no secret in it
    assert isinstance(prompt.model.configuration["key"], Secret)  # its default is one
    for item in _texts(prompt):
        assert FAKE_KEY not in item
    resolved = resolve_configuration(prompt)
    assert resolved["api_key"] == Secret(FAKE_KEY) and resolved["key"] == Secret(FAKE_KEY)
    assert FAKE_KEY not in repr(resolved)


def test_override_with_a_literal_key_is_a_secret(write: Write) -> None:
    prompt = load(write("o.prompty", "---\n---\nhi\n"))
    other = prompt.with_overrides(invoker="openai", configuration={"apiKey": FAKE_KEY})
    assert other.model.configuration["api_key"] == Secret(FAKE_KEY)
    assert FAKE_KEY not in repr(other.model)


@pytest.mark.parametrize(
    "text",
    [
        f"---\nmodel:\n  configuration:\n    api_key: {FAKE_KEY}: oops\n---\nhi\n",
        f'---\nmodel:\n  configuration:\n    api_key: "{FAKE_KEY}\n---\nhi\n',
        f"---\nmodel:\n  configuration:\n    api_key: [{FAKE_KEY}\n---\nhi\n",
        f"---\nmodel:\n  api: serverless\n  configuration:\n    key: {FAKE_KEY}\n    apiKey: {FAKE_KEY}\n---\nhi\n",
        f"---\nmodel:\n  configuration:\n    api_key: {FAKE_KEY}\n  parameters: 3\n---\nhi\n",
        f"---\nmodel:\n  configuration:\n    api_key: {FAKE_KEY}\n    base_url: ${{nope:x}}\n---\nhi\n",
        f"model:\n  configuration:\n    api_key: {FAKE_KEY}\n",
    ],
)
def test_no_key_in_load_errors(write: Write, text: str) -> None:
    with pytest.raises(PromptyError) as info:
        load(write("bad.prompty", text))
    assert FAKE_KEY not in str(info.value)
    assert FAKE_KEY not in repr(info.value)


def test_no_key_in_resolve_or_render_errors(write: Write) -> None:
    text = f"---\nmodel:\n  configuration:\n    api_key: {FAKE_KEY}\n    base_url: ${{env:JI_LEAK_UNSET_URL}}\n---\nhi {{{{ who }}}}\n"
    prompt = load(write("e.prompty", text))
    with pytest.raises(PromptyError) as info:
        resolve_configuration(prompt)
    assert FAKE_KEY not in str(info.value)
    with pytest.raises(PromptyError) as info:
        prompt.render()
    assert FAKE_KEY not in str(info.value)
