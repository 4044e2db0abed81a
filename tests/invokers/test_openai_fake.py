"""The openai / serverless invokers against a scriptable loopback server: wire
format, streaming, retries, timeouts and every failure mapping."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from jupyter_invoker.exceptions import (
    InvokerAuthError,
    InvokerConfigError,
    InvokerConnectionError,
    InvokerRateLimitError,
    InvokerResponseError,
    InvokerServerError,
)
from jupyter_invoker.invokers import execute, execute_async

from ._bounded import returns_within
from ._fake_server import FakeServer, Reply
from .conftest import FAKE_KEY, PromptWriter

# Far above any timeout these tests configure, below the fake server's 60 s hang and
# the 60 s default timeout: a call that outlives it was not bounded by its setting.
HANG_GUARD_S = 30.0


def serverless(server_url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "serverless", "endpoint": server_url, "model": "fake-model", **extra}


def causes(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and what it was raised from, outermost first."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


class _RecordingAsyncio:
    """``asyncio`` as the retry loop sees it: each ``sleep`` is recorded, then slept."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        self.waits.append(delay)
        return await asyncio.sleep(delay, result)


@pytest.fixture
def retry_waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The waits between tries that the retry loop (``_errors.with_retries``) asked for."""
    from jupyter_invoker.invokers import _errors

    recording = _RecordingAsyncio()
    monkeypatch.setattr(_errors, "asyncio", recording)
    yield recording.waits


def test_serverless_chat_on_the_wire(fake_server: FakeServer, write_prompt: PromptWriter) -> None:
    path = write_prompt(
        serverless(fake_server.url + "/v1", key=FAKE_KEY), {"max_tokens": 7, "temperature": 0}
    )
    result = execute(path)
    assert result.text == "Paris"
    assert result.invoker == "serverless"
    assert result.model == "fake-model"
    assert result.usage == {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    assert result.finish_reason == "stop"
    (request,) = fake_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert request.json["model"] == "fake-model"
    assert request.json["max_tokens"] == 7 and request.json["temperature"] == 0
    assert request.json["messages"] == [
        {"role": "user", "content": "What is the capital of France? Answer in one word."}
    ]


def test_openai_completion_prompt_goes_to_completions(
    fake_server: FakeServer, write_prompt: PromptWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    path = write_prompt(
        {"type": "openai", "base_url": fake_server.url + "/v1", "name": "fake-model"},
        body="The capital of {{country}} is",
        api="completion",
    )
    result = execute(path)
    assert result.text == " Paris" and result.invoker == "openai"
    (request,) = fake_server.requests
    assert request.path == "/v1/completions"
    assert request.json["prompt"] == "The capital of France is"
    assert request.headers["authorization"] == f"Bearer {FAKE_KEY}"


def test_streaming_chunks_arrive_and_join(
    fake_server: FakeServer, write_prompt: PromptWriter
) -> None:
    fake_server.script(Reply(stream=["The", " capital", " is", " Paris", "."]))
    chunks: list[str] = []
    result = execute(write_prompt(serverless(fake_server.url + "/v1")), on_chunk=chunks.append)
    assert chunks == ["The", " capital", " is", " Paris", "."]
    assert result.text == "The capital is Paris."
    assert result.finish_reason == "stop" and result.invoker == "serverless"
    assert fake_server.requests[0].json["stream"] is True
    assert fake_server.requests[0].json["stream_options"] == {"include_usage": True}


def test_dead_endpoint_fails_fast_naming_it(
    dead_url: str, write_prompt: PromptWriter, retry_waits: list[float]
) -> None:
    with pytest.raises(InvokerConnectionError) as info:
        execute(write_prompt(serverless(dead_url)))
    # Fast: it ends on the refused connection itself, not a timeout, and never waits to retry.
    assert any(isinstance(e, ConnectionRefusedError) for e in causes(info.value)), causes(
        info.value
    )
    assert retry_waits == []
    message = str(info.value)
    assert dead_url in message and "serverless" in message and "running" in message


def test_endpoint_that_never_accepts_is_bounded_by_connect_timeout(
    write_prompt: PromptWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A listening socket whose backlog is full: the kernel drops new SYNs, so a
    # connect hangs the way it does for a firewalled host.
    built: list[openai.Timeout] = []

    class Recording(openai.AsyncOpenAI):
        def __init__(self, **kwargs: Any) -> None:
            built.append(kwargs["timeout"])
            super().__init__(**kwargs)

    monkeypatch.setattr(openai, "AsyncOpenAI", Recording)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))
    try:
        path = write_prompt(
            serverless(f"http://127.0.0.1:{port}/v1", connect_timeout=1, timeout=30)
        )
        with pytest.raises(InvokerConnectionError) as info:
            returns_within(HANG_GUARD_S, lambda: execute(path), "a connect nothing accepts")
        # The client was given the 1 s connect timeout (not the 5 s default or the 30 s
        # timeout), and it is a connect timeout that ended the call.
        assert [(t.connect, t.read) for t in built] == [(1, 30)], built
        assert any(isinstance(e, httpx2.ConnectTimeout) for e in causes(info.value)), causes(
            info.value
        )
        assert f"could not connect to http://127.0.0.1:{port}/v1 within 1 s" in str(info.value)
        assert "connect_timeout" in str(info.value)
    finally:
        filler.close()
        server.close()


def test_401_maps_to_auth_error(fake_server: FakeServer, write_prompt: PromptWriter) -> None:
    fake_server.script(Reply(status=401, body={"error": {"message": "Incorrect API key"}}))
    with pytest.raises(InvokerAuthError) as info:
        execute(write_prompt(serverless(fake_server.url + "/v1", key=FAKE_KEY)))
    message = str(info.value)
    assert "HTTP 401" in message and "Incorrect API key" in message
    assert fake_server.url in message and "key" in message
    assert len(fake_server.requests) == 1  # never retried


def test_403_maps_to_auth_error(fake_server: FakeServer, write_prompt: PromptWriter) -> None:
    fake_server.script(Reply(status=403, body={"error": {"message": "forbidden"}}))
    with pytest.raises(InvokerAuthError, match="HTTP 403"):
        execute(write_prompt(serverless(fake_server.url + "/v1")))


def test_429_then_success_is_retried(fake_server: FakeServer, write_prompt: PromptWriter) -> None:
    fake_server.script(Reply(status=429, headers={"Retry-After": "0.1"}), Reply())
    result = execute(write_prompt(serverless(fake_server.url + "/v1")))
    assert result.text == "Paris"
    assert len(fake_server.requests) == 2


def test_429_forever_gives_up_after_bounded_retries(
    fake_server: FakeServer, write_prompt: PromptWriter, retry_waits: list[float]
) -> None:
    fake_server.script(
        Reply(status=429, headers={"Retry-After": "0.1"}, body={"error": "slow down"})
    )
    with pytest.raises(InvokerRateLimitError) as info:
        execute(write_prompt(serverless(fake_server.url + "/v1")))
    assert retry_waits == [0.1, 0.1]  # the server's Retry-After, before each retry
    assert len(fake_server.requests) == 3  # one try + 2 retries
    assert "HTTP 429 after 2 retries" in str(info.value)


def test_retry_after_is_capped(
    fake_server: FakeServer,
    write_prompt: PromptWriter,
    monkeypatch: pytest.MonkeyPatch,
    retry_waits: list[float],
) -> None:
    # The server asks for an hour; we wait at most the cap (shrunk here for speed).
    from jupyter_invoker.invokers import _errors

    assert _errors.RETRY_AFTER_CAP <= 5
    monkeypatch.setattr(_errors, "RETRY_AFTER_CAP", 0.3)
    fake_server.script(Reply(status=429, headers={"Retry-After": "3600"}))
    with pytest.raises(InvokerRateLimitError):
        execute(write_prompt(serverless(fake_server.url + "/v1", max_retries=1)))
    assert retry_waits == [0.3]  # the cap, not the hour asked for
    first, second = fake_server.requests
    assert second.at - first.at >= 0.3  # and the retry did wait it


def test_retries_stop_at_the_time_budget(
    fake_server: FakeServer, write_prompt: PromptWriter, retry_waits: list[float]
) -> None:
    # Retry-After 3600 is capped at 5 s, which would overrun a 0.2 s budget: no retry.
    fake_server.script(Reply(status=503, headers={"Retry-After": "3600"}))
    from jupyter_invoker.invokers import _errors

    ctx = _errors.CallContext(invoker="x", endpoint="e", max_retries=5, retry_budget=0.2)
    calls = 0

    async def call() -> Any:
        nonlocal calls
        calls += 1
        import openai

        client = openai.AsyncOpenAI(base_url=fake_server.url + "/v1", api_key="k", max_retries=0)
        try:
            return await client.chat.completions.create(model="m", messages=[])
        finally:
            await client.close()

    with pytest.raises(InvokerServerError):
        asyncio.run(_errors.with_retries(call, ctx))
    assert calls == 1 and retry_waits == []  # it gave up at once, without waiting


def test_500_is_retried_then_server_error(
    fake_server: FakeServer, write_prompt: PromptWriter
) -> None:
    fake_server.script(Reply(status=500, body={"error": {"message": "boom"}}))
    with pytest.raises(InvokerServerError) as info:
        execute(write_prompt(serverless(fake_server.url + "/v1", max_retries=1)))
    assert "HTTP 500 after 1 retry" in str(info.value) and "boom" in str(info.value)
    assert len(fake_server.requests) == 2


def test_503_then_success(fake_server: FakeServer, write_prompt: PromptWriter) -> None:
    fake_server.script(Reply(status=503, headers={"Retry-After": "0"}), Reply())
    assert execute(write_prompt(serverless(fake_server.url + "/v1"))).text == "Paris"


def test_other_4xx_is_a_response_error_not_retried(
    fake_server: FakeServer, write_prompt: PromptWriter
) -> None:
    fake_server.script(Reply(status=400, body={"detail": "Server is pinned to 'x'"}))
    with pytest.raises(InvokerResponseError) as info:
        execute(write_prompt(serverless(fake_server.url + "/v1")))
    assert "HTTP 400" in str(info.value) and "pinned" in str(info.value)
    assert len(fake_server.requests) == 1
    fake_server.script(Reply(status=404, body={"error": {"message": "no such model"}}))
    with pytest.raises(InvokerResponseError, match="model / deployment name"):
        execute(write_prompt(serverless(fake_server.url + "/v1")))


def test_bad_body_is_a_response_error(fake_server: FakeServer, write_prompt: PromptWriter) -> None:
    fake_server.script(Reply(body={"object": "chat.completion", "choices": []}))
    with pytest.raises(InvokerResponseError, match="without a completion"):
        execute(write_prompt(serverless(fake_server.url + "/v1")))


def test_stream_cut_midway_is_a_response_error(
    fake_server: FakeServer, write_prompt: PromptWriter
) -> None:
    fake_server.script(Reply(stream=["a", "b", "c", "d", "e", "f"], cut=True))
    chunks: list[str] = []
    with pytest.raises(InvokerResponseError) as info:
        execute(write_prompt(serverless(fake_server.url + "/v1")), on_chunk=chunks.append)
    assert chunks == ["a", "b", "c"]
    assert fake_server.url in str(info.value) and "midway" in str(info.value)


def test_server_that_never_answers_times_out(
    fake_server: FakeServer, write_prompt: PromptWriter
) -> None:
    fake_server.script(Reply(hang=True))
    path = write_prompt(serverless(fake_server.url + "/v1", timeout=1))
    with pytest.raises(InvokerConnectionError) as info:
        returns_within(HANG_GUARD_S, lambda: execute(path), "a call to a silent server")
    # The client's read timeout ended it (the server never answered), after one request.
    assert any(isinstance(e, httpx2.ReadTimeout) for e in causes(info.value)), causes(info.value)
    assert len(fake_server.requests) == 1
    assert "within 1 s" in str(info.value) and "timeout" in str(info.value)


def test_timeout_from_environment(
    fake_server: FakeServer, write_prompt: PromptWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_INVOKER_TIMEOUT", "0.5")
    fake_server.script(Reply(hang=True))
    path = write_prompt(serverless(fake_server.url + "/v1"))
    with pytest.raises(InvokerConnectionError, match=r"within 0\.5 s") as info:
        returns_within(HANG_GUARD_S, lambda: execute(path), "a call to a silent server")
    assert any(isinstance(e, httpx2.ReadTimeout) for e in causes(info.value)), causes(info.value)


def test_bad_timeout_value_is_a_config_error(
    fake_server: FakeServer, write_prompt: PromptWriter
) -> None:
    with pytest.raises(InvokerConfigError, match="timeout"):
        execute(write_prompt(serverless(fake_server.url + "/v1", timeout="soon")))
    with pytest.raises(InvokerConfigError, match="max_retries"):
        execute(write_prompt(serverless(fake_server.url + "/v1", max_retries=-1)))


def test_missing_configuration_is_explained(write_prompt: PromptWriter) -> None:
    with pytest.raises(InvokerConfigError, match="needs an endpoint"):
        execute(write_prompt({"type": "serverless", "model": "m"}))
    with pytest.raises(InvokerConfigError, match="needs a model name"):
        execute(write_prompt({"type": "serverless", "endpoint": "http://127.0.0.1:9/v1"}))
    with pytest.raises(InvokerConfigError, match="OPENAI_API_KEY"):
        execute(write_prompt({"type": "openai", "name": "gpt-4o-mini"}))


def test_four_concurrent_calls_overlap_at_the_server(
    fake_server: FakeServer, write_prompt: PromptWriter
) -> None:
    # Counted at the server, not timed (a loaded CI machine stretches any wall clock):
    # calls made one after another would never be answered at the same time.
    fake_server.script(Reply(delay=1.0))
    path = write_prompt(serverless(fake_server.url + "/v1"))

    async def four() -> list[Any]:
        return list(await asyncio.gather(*(execute_async(path) for _ in range(4))))

    results = asyncio.run(four())
    assert [r.text for r in results] == ["Paris"] * 4
    assert fake_server.max_in_flight == 4, fake_server.max_in_flight


def test_execute_inside_a_running_loop(fake_server: FakeServer, write_prompt: PromptWriter) -> None:
    path = write_prompt(serverless(fake_server.url + "/v1"))

    async def cell() -> str:  # what a Jupyter cell does: sync call, loop running
        return execute(path).text

    assert asyncio.run(cell()) == "Paris"


def test_execute_async_streaming(fake_server: FakeServer, write_prompt: PromptWriter) -> None:
    fake_server.script(Reply(stream=["Pa", "ris"]))
    chunks: list[str] = []
    path = write_prompt(serverless(fake_server.url + "/v1"))
    result = asyncio.run(execute_async(path, on_chunk=chunks.append))
    assert chunks == ["Pa", "ris"] and result.text == "Paris"


def test_parameters_override_applies_to_a_copy(
    fake_server: FakeServer, write_prompt: PromptWriter, tmp_path: Path
) -> None:
    from jupyter_invoker.prompty import load

    prompt = load(write_prompt(serverless(fake_server.url + "/v1"), {"max_tokens": 5}))
    execute(prompt, {"country": "Italy"}, parameters={"max_tokens": 9})
    assert prompt.model.parameters == {"max_tokens": 5}
    request = fake_server.requests[0].json
    assert request["max_tokens"] == 9
    assert "Italy" in request["messages"][0]["content"]
