"""The five example files of the seed page (Prompty invokers), written there verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_invoker._secrets import Secret, reveal
from jupyter_invoker.prompty import load, prepare

SEED = Path(__file__).resolve().parent / "assets" / "seed"

EXPECTED = {
    "azure.prompty": ("azure", "What is the weather like in Seattle?"),
    "openai.prompty": ("openai", "Write a poem about nature."),
    "serverless.prompty": (
        "serverless",
        "Summarize the following text: Serverless computing is a cloud-computing execution "
        "model in which the cloud provider dynamically manages the allocation of machine "
        "resources.",
    ),
    "custom.prompty": ("custom", "Hello, World!"),
    "basic_hf.prompty": (
        "local",  # `api: huggingface`, an alias of local
        "Generate a story based on the following prompt: Once upon a time",
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_seed_file_loads_names_its_invoker_and_renders_its_sample(name: str) -> None:
    invoker, text = EXPECTED[name]
    prompt = load(SEED / name)
    assert prompt.invoker == invoker
    assert prompt.api == "chat"
    assert prompt.path == SEED / name
    assert prompt.render() == [{"role": "user", "content": text}]
    assert prepare(prompt) == prompt.render()


def test_seed_azure_configuration_uses_prompty_field_names() -> None:
    config = load(SEED / "azure.prompty").model.configuration
    assert config["azure_endpoint"] == "https://api.openai.azure.com/v1/engines/davinci/completions"
    assert isinstance(config["api_key"], Secret)
    assert reveal(config["api_key"]) == "YOUR_AZURE_API_KEY"
    assert "endpoint" not in config and "apiKey" not in config


def test_seed_openai_and_serverless_keys_are_secrets_under_their_field_names() -> None:
    openai = load(SEED / "openai.prompty").model.configuration
    assert reveal(openai["api_key"]) == "YOUR_OPENAI_API_KEY"
    serverless = load(SEED / "serverless.prompty").model.configuration
    assert serverless["endpoint"] == "https://api.github.com/models/summarize"
    assert isinstance(serverless["key"], Secret)
    assert reveal(serverless["key"]) == "YOUR_SERVERLESS_API_KEY"


def test_seed_huggingface_keeps_its_model_and_custom_its_type() -> None:
    assert load(SEED / "basic_hf.prompty").model.configuration == {"model": "gpt2"}
    custom = load(SEED / "custom.prompty")
    assert custom.model.api == "custom"
    assert custom.model.configuration == {"type": "custom"}


def test_seed_template_is_the_text_with_engine_defaults() -> None:
    prompt = load(SEED / "custom.prompty")
    assert prompt.template == "Hello, {{name}}!\n"
    assert (prompt.template_format, prompt.template_parser) == ("jinja2", "prompty")
    assert prompt.template_line == 3
    assert prompt.sample == {"name": "World"}


def test_seed_render_with_explicit_inputs() -> None:
    prompt = load(SEED / "azure.prompty")
    assert prompt.render({"city": "Paris"}) == [
        {"role": "user", "content": "What is the weather like in Paris?"}
    ]
