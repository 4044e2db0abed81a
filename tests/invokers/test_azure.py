"""The azure invoker on the wire: deployment URL, api-version, api-key header."""

from __future__ import annotations

import pytest

from jupyter_invoker.exceptions import InvokerAuthError, InvokerConfigError
from jupyter_invoker.invokers import execute

from ._fake_server import FakeServer, Reply
from .conftest import FAKE_KEY, PromptWriter


def azure(url: str, **extra: object) -> dict[str, object]:
    return {
        "type": "azure",
        "azure_endpoint": url,
        "azure_deployment": "my-gpt",
        "api_version": "2024-10-21",
        **extra,
    }


def test_azure_request_on_the_wire(
    fake_server: FakeServer, write_prompt: PromptWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_AZURE_KEY", FAKE_KEY)
    path = write_prompt(azure(fake_server.url, api_key="${env:MY_AZURE_KEY}"), {"max_tokens": 4})
    result = execute(path)
    assert result.text == "Paris" and result.invoker == "azure"
    (request,) = fake_server.requests
    assert request.path == "/openai/deployments/my-gpt/chat/completions"
    assert request.query["api-version"] == ["2024-10-21"]
    assert request.headers["api-key"] == FAKE_KEY
    assert "authorization" not in request.headers
    assert request.json["max_tokens"] == 4


def test_azure_openai_alias_and_env_fallbacks(
    fake_server: FakeServer, write_prompt: PromptWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake_server.url)
    path = write_prompt({"type": "azure_openai", "azure_deployment": "dep2"})
    result = execute(path)
    assert result.invoker == "azure"
    (request,) = fake_server.requests
    assert request.path == "/openai/deployments/dep2/chat/completions"
    assert request.query["api-version"] == ["2024-10-21"]  # the documented default
    assert request.headers["api-key"] == FAKE_KEY


def test_azure_seed_camel_case_fields(
    fake_server: FakeServer, write_prompt: PromptWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZ_KEY", FAKE_KEY)
    path = write_prompt(
        {
            "type": "azure",
            "endpoint": fake_server.url,
            "azureDeployment": "seed",
            "apiVersion": "2024-06-01",
            "apiKey": "${env:AZ_KEY}",
        }
    )
    execute(path)
    (request,) = fake_server.requests
    assert request.path == "/openai/deployments/seed/chat/completions"
    assert request.query["api-version"] == ["2024-06-01"]


def test_azure_401_names_endpoint_and_key_setting(
    fake_server: FakeServer, write_prompt: PromptWriter
) -> None:
    fake_server.script(
        Reply(status=401, body={"error": {"code": "401", "message": "Access denied"}})
    )
    with pytest.raises(InvokerAuthError) as info:
        execute(write_prompt(azure(fake_server.url, api_key=FAKE_KEY)))
    message = str(info.value)
    assert f"{fake_server.url}/openai/deployments/my-gpt" in message
    assert "AZURE_OPENAI_API_KEY" in message and "Access denied" in message


def test_azure_missing_fields(write_prompt: PromptWriter) -> None:
    with pytest.raises(InvokerConfigError, match="AZURE_OPENAI_ENDPOINT"):
        execute(write_prompt({"type": "azure", "azure_deployment": "d", "api_key": "k1234"}))
    with pytest.raises(InvokerConfigError, match="azure_deployment"):
        execute(write_prompt({"type": "azure", "azure_endpoint": "http://127.0.0.1:9"}))
    with pytest.raises(InvokerConfigError, match="AZURE_OPENAI_API_KEY"):
        execute(write_prompt(azure("http://127.0.0.1:9")))


def test_azure_streaming_and_completion_urls(
    fake_server: FakeServer, write_prompt: PromptWriter
) -> None:
    fake_server.script(Reply(stream=["Pa", "ris"]))
    chunks: list[str] = []
    result = execute(write_prompt(azure(fake_server.url, api_key=FAKE_KEY)), on_chunk=chunks.append)
    # A chunk ending like the start of the key is held back until the next one says
    # whether the key follows (here "s", as in "sk-..."): the pieces join to the answer.
    assert "".join(chunks) == "Paris" and chunks[0] == "Pa" and result.text == "Paris"
    fake_server.script(Reply())
    completion = write_prompt(
        azure(fake_server.url, api_key=FAKE_KEY), body="The capital of France is", api="completion"
    )
    assert execute(completion).text == " Paris"
    paths = [request.path for request in fake_server.requests]
    assert paths == [
        "/openai/deployments/my-gpt/chat/completions",
        "/openai/deployments/my-gpt/completions",
    ]
    assert fake_server.requests[0].json["stream"] is True
