"""openai and serverless against a real ``transformers serve`` of the default model."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyter_invoker.exceptions import InvokerResponseError
from jupyter_invoker.invokers import execute, execute_async, execute_many

from .conftest import PromptWriter

pytestmark = pytest.mark.slow

PARAMS = {"max_tokens": 8, "temperature": 0}


def openai_config(serve_url: str, model: str) -> dict[str, Any]:
    return {"type": "openai", "base_url": serve_url, "name": model, "api_key": "unused"}


def serverless_config(serve_url: str, model: str) -> dict[str, Any]:
    return {"type": "serverless", "endpoint": serve_url, "model": model}


@pytest.mark.parametrize("make", [openai_config, serverless_config])
def test_capital_of_france(
    make: Any, serve_url: str, default_model: str, write_prompt: PromptWriter
) -> None:
    result = execute(write_prompt(make(serve_url, default_model), PARAMS))
    assert "Paris" in result.text
    assert result.invoker in {"openai", "serverless"}
    assert result.usage and result.usage["completion_tokens"] <= 8
    assert default_model in (result.model or "")


def test_streaming_matches_plain(
    serve_url: str, default_model: str, write_prompt: PromptWriter
) -> None:
    path = write_prompt(serverless_config(serve_url, default_model), PARAMS)
    chunks: list[str] = []
    streamed = execute(path, on_chunk=chunks.append)
    plain = execute(path)
    assert len(chunks) > 1
    assert "".join(chunks) == streamed.text == plain.text
    assert "Paris" in streamed.text


def test_completion_prompt(serve_url: str, default_model: str, write_prompt: PromptWriter) -> None:
    path = write_prompt(
        openai_config(serve_url, default_model),
        {"max_tokens": 3, "temperature": 0},
        body="The Eiffel Tower is in the city of",
        api="completion",
    )
    assert "Paris" in execute(path).text


def test_eight_concurrent_async_calls(
    serve_url: str, default_model: str, write_prompt: PromptWriter
) -> None:
    path = write_prompt(
        serverless_config(serve_url, default_model),
        {"max_tokens": 3, "temperature": 0},
        body="user:\nName a colour: {{country}}",
    )

    async def eight() -> list[Any]:
        calls = [execute_async(path, {"country": str(i)}) for i in range(8)]
        return list(await asyncio.gather(*calls))

    results = asyncio.run(eight())
    assert len(results) == 8 and all(r.text for r in results)


def test_execute_many_in_order(
    serve_url: str, default_model: str, write_prompt: PromptWriter
) -> None:
    path = write_prompt(
        serverless_config(serve_url, default_model),
        {"max_tokens": 8, "temperature": 0},
    )
    results = execute_many(path, [{"country": "France"}, {"country": "Italy"}], concurrency=2)
    assert "Paris" in results[0].text and "Rome" in results[1].text


def test_wrong_model_is_a_clear_response_error(serve_url: str, write_prompt: PromptWriter) -> None:
    with pytest.raises(InvokerResponseError) as info:
        execute(write_prompt(serverless_config(serve_url, "no-such-model"), PARAMS))
    assert "HTTP 400" in str(info.value) and serve_url in str(info.value)
