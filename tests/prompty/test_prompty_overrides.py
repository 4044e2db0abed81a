"""with_overrides(): a modified deep copy; the loaded prompt never changes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_invoker._secrets import Secret
from jupyter_invoker.prompty import load

Write = Callable[..., Path]

TEXT = """\
---
name: o
model:
  api: chat
  configuration:
    type: azure_openai
    endpoint: https://a.example
    api_key: literal-key
  parameters:
    temperature: 0.5
    stop: [x]
    nested: {a: 1}
sample:
  items: [1, 2]
inputs:
  q:
    type: string
    default: [d]
---
user:
{{ q }}
"""


def test_overrides_return_a_modified_copy(write: Write) -> None:
    prompt = load(write("o.prompty", TEXT))
    before = prompt.copy()
    other = prompt.with_overrides(
        configuration={"deployment": "gpt-4o", "api_version": "2024-10-21"},
        parameters={"temperature": 0, "max_tokens": 5},
    )
    assert other is not prompt
    assert other.model.configuration == {
        "type": "azure_openai",
        "azure_endpoint": "https://a.example",
        "api_key": Secret("literal-key"),
        "azure_deployment": "gpt-4o",
        "api_version": "2024-10-21",
    }
    assert other.model.parameters == {
        "temperature": 0,
        "stop": ["x"],
        "nested": {"a": 1},
        "max_tokens": 5,
    }
    assert prompt == before
    assert prompt.model.parameters["temperature"] == 0.5
    assert "azure_deployment" not in prompt.model.configuration


def test_overrides_copy_deeply(write: Write) -> None:
    prompt = load(write("o.prompty", TEXT))
    other = prompt.with_overrides()
    other.model.parameters["stop"].append("y")
    other.model.parameters["nested"]["a"] = 2
    other.sample["items"].append(3)
    other.inputs["q"].default.append("e")
    other.model.configuration["azure_endpoint"] = "changed"
    other.extra["new"] = 1
    assert prompt.model.parameters == {"temperature": 0.5, "stop": ["x"], "nested": {"a": 1}}
    assert prompt.sample == {"items": [1, 2]}
    assert prompt.inputs["q"].default == ["d"]
    assert prompt.model.configuration["azure_endpoint"] == "https://a.example"
    assert prompt.extra == {}


def test_invoker_override(write: Write) -> None:
    prompt = load(write("o.prompty", TEXT))
    other = prompt.with_overrides(invoker="OpenAI", configuration={"model": "gpt-4o-mini"})
    assert other.invoker == "openai"
    assert other.model.configuration["name"] == "gpt-4o-mini"
    assert prompt.invoker == "azure"
    assert prompt.with_overrides(invoker="azure_openai").invoker == "azure"
    seed = load(Path(__file__).parent / "assets" / "seed" / "basic_hf.prompty")
    assert seed.with_overrides(invoker="local").invoker == "local"
    assert seed.invoker == "local"  # `api: huggingface`: an alias of local


@pytest.mark.parametrize(
    "kwargs",
    [{"invoker": ""}, {"invoker": 3}, {"configuration": ["a"]}, {"parameters": "x"}],
)
def test_bad_overrides(write: Write, kwargs: dict[str, object]) -> None:
    prompt = load(write("o.prompty", TEXT))
    with pytest.raises(TypeError):
        prompt.with_overrides(**kwargs)  # type: ignore[arg-type]
