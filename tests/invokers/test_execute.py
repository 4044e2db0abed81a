"""execute / execute_many: invoker selection order, overrides, custom invokers,
bounded concurrency, results in order."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from jupyter_invoker.exceptions import PromptyRenderError
from jupyter_invoker.invokers import (
    ExecutionResult,
    Invoker,
    InvokerFactory,
    execute,
    execute_many,
    execute_many_async,
    select_invoker,
)
from jupyter_invoker.prompty import load

from ._fake_server import FakeServer, Reply
from .conftest import PromptWriter

ASSETS = Path(__file__).parent / "assets"


class Recorder(Invoker):
    """Returns what it saw: its configuration and the data."""

    async def invoke(self, data: Any) -> Any:
        config = dict(self.prompty.model.configuration)
        return ExecutionResult(text=f"{config.get('type')}:{data!r}", raw=config)


def test_seed_custom_invoker_both_registration_forms() -> None:
    # As on the seed page: a class with invoke + invoke_sync, registered, then used.
    class CustomInvoker(Invoker):
        def __init__(self, prompty: Any) -> None:
            super().__init__(prompty)

        async def invoke(self, data: Any) -> Any:
            return data

        def invoke_sync(self, data: Any) -> Any:
            return data

    InvokerFactory.get_instance().register("custom", CustomInvoker)
    prompt = load(ASSETS / "custom.prompty")
    assert prompt.invoker == "custom"
    data = [{"role": "user", "content": "Hello, World!"}]
    assert InvokerFactory.call("custom", prompt, data) is data
    assert asyncio.run(InvokerFactory.call_async("custom", prompt, data)) is data

    result = execute(ASSETS / "custom.prompty")  # path form, sample inputs
    assert result.invoker == "custom"
    assert result.text == "Hello, World!"
    assert result.prepared == [{"role": "user", "content": "Hello, World!"}]
    assert result.messages == result.prepared
    assert execute(prompt, {"name": "Ada"}).text == "Hello, Ada!"


def test_decorated_custom_invoker_through_execute(write_prompt: PromptWriter) -> None:
    @InvokerFactory.register("shout")
    class Shout(Invoker):
        def invoke_sync(self, data: Any) -> str:
            return str(data[-1]["content"]).upper()

    path = write_prompt({"type": "shout"}, body="user:\nhello {{country}}")
    result = execute(path)
    assert (
        result.text == "HELLO FRANCE" and result.invoker == "shout" and result.raw == "HELLO FRANCE"
    )


def test_a_misspelt_input_is_an_error_not_the_sample(write_prompt: PromptWriter) -> None:
    InvokerFactory.register("rec", Recorder)
    path = write_prompt({"type": "rec"})
    assert "Peru" in execute(path, {"country": "Peru"}).text
    with pytest.raises(PromptyRenderError, match=r"'contry'.*Did you mean 'country'"):
        execute(path, {"contry": "Peru"})
    with pytest.raises(PromptyRenderError, match="'contry'"):
        execute_many(path, [{"country": "Peru"}, {"contry": "Peru"}])


def test_selection_order(write_prompt: PromptWriter) -> None:
    for name in ("file-inv", "picked", "explicit"):
        InvokerFactory.register(name, Recorder)
    path = write_prompt({"type": "file-inv"})
    assert execute(path).invoker == "file-inv"  # the file's own
    select_invoker(path, "picked")
    assert execute(path).invoker == "picked"  # the store beats the file
    assert execute(path, invoker="explicit").invoker == "explicit"  # the argument beats both
    plain = write_prompt({})
    from jupyter_invoker.invokers._execute import plan

    assert plan(plain)[0] == "local"  # nothing anywhere: the local default


def test_selection_store_configuration_and_copy(write_prompt: PromptWriter) -> None:
    InvokerFactory.register("file-inv", Recorder)
    InvokerFactory.register("picked", Recorder)
    path = write_prompt({"type": "file-inv", "base_url": "http://file"})
    prompt = load(path)
    select_invoker(path, "picked", configuration={"base_url": "http://stored"})
    result = execute(prompt)
    # another backend: the file's connection settings do not apply, the stored ones do
    assert result.raw == {"type": "picked", "base_url": "http://stored"}
    explicit = execute(prompt, configuration={"base_url": "http://arg"})
    assert explicit.raw["base_url"] == "http://arg"
    # the loaded prompt never changes
    assert prompt.model.configuration == {"type": "file-inv", "base_url": "http://file"}


def test_same_backend_keeps_file_configuration(write_prompt: PromptWriter) -> None:
    InvokerFactory.register("file-inv", Recorder)
    path = write_prompt({"type": "file-inv", "base_url": "http://file", "extra": 1})
    result = execute(path, invoker="file-inv", configuration={"extra": 2})
    assert result.raw == {"type": "file-inv", "base_url": "http://file", "extra": 2}


def test_execute_many_in_order_with_bounded_concurrency(write_prompt: PromptWriter) -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    @InvokerFactory.register("slow")
    class Slow(Invoker):
        async def invoke(self, data: Any) -> Any:
            nonlocal active, peak
            with lock:
                active += 1
                peak = max(peak, active)
            await asyncio.sleep(0.02 if "0" in str(data) else 0.05)
            with lock:
                active -= 1
            return data[-1]["content"]

    path = write_prompt({"type": "slow"}, body="user:\n{{country}}")
    inputs = [{"country": str(i)} for i in range(20)]
    results = execute_many(path, inputs, concurrency=3)
    assert [r.text for r in results] == [str(i) for i in range(20)]
    assert peak == 3
    assert all(r.invoker == "slow" for r in results)


def test_execute_many_against_server(fake_server: FakeServer, write_prompt: PromptWriter) -> None:
    fake_server.script(Reply(delay=1.0))
    path = write_prompt(
        {"type": "serverless", "endpoint": fake_server.url + "/v1", "model": "m"},
        body="user:\n{{country}}",
    )
    results = execute_many(path, [{"country": c} for c in "abcdefgh"], concurrency=8)
    # Counted at the server, not timed: serial calls would never overlap (1), 8 at once do.
    # Allow a slow machine to start a few late, but far from one at a time.
    assert fake_server.max_in_flight >= 4, fake_server.max_in_flight
    assert [r.text for r in results] == ["Paris"] * 8
    sent = sorted(req.json["messages"][0]["content"] for req in fake_server.requests)
    assert sent == list("abcdefgh")


def test_execute_many_first_failure_is_raised(write_prompt: PromptWriter) -> None:
    @InvokerFactory.register("flaky")
    class Flaky(Invoker):
        async def invoke(self, data: Any) -> Any:
            if data[-1]["content"] == "3":
                raise RuntimeError("input 3 failed")
            await asyncio.sleep(0.01)
            return "ok"

    path = write_prompt({"type": "flaky"}, body="user:\n{{country}}")
    with pytest.raises(RuntimeError, match="input 3 failed"):
        execute_many(path, [{"country": str(i)} for i in range(8)], concurrency=2)
    with pytest.raises(ValueError, match="concurrency"):
        execute_many(path, [{}], concurrency=0)


def test_execute_many_async(write_prompt: PromptWriter) -> None:
    InvokerFactory.register("rec", Recorder)
    path = write_prompt({"type": "rec"}, body="user:\n{{country}}")
    results = asyncio.run(execute_many_async(path, [{"country": "x"}, {"country": "y"}]))
    assert [r.prepared[-1]["content"] for r in results] == ["x", "y"]


def test_result_repr_and_str() -> None:
    result = ExecutionResult(text="Paris" * 30, invoker="openai", model="gpt")
    assert repr(result).startswith("ExecutionResult(invoker='openai', model='gpt', text='Paris")
    assert len(repr(result)) < 140
    assert str(result) == "Paris" * 30


def test_an_unset_variable_is_blamed_on_where_it_was_written(
    write_prompt: PromptWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_invoker.exceptions import PromptyReferenceError
    from jupyter_invoker.invokers import save_connection, set_default
    from jupyter_invoker.invokers._store import store_path

    monkeypatch.delenv("QA_KEY", raising=False)
    path = write_prompt()  # capital.prompty: no configuration, no key
    connection = {"name": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1"}
    save_connection("work-openai", "openai", {**connection, "api_key": "${env:QA_KEY}"})
    set_default("openai", "work-openai")
    with pytest.raises(PromptyReferenceError) as info:
        execute(path, invoker="openai")
    message = str(info.value)
    assert "Environment variable QA_KEY is not set" in message
    assert f"connection 'work-openai' (in the invoker store {store_path()})" in message
    assert "`configuration.api_key` (written there as ${env:QA_KEY})" in message
    assert str(path) not in message and "model.configuration" not in message
    # A selection's stored configuration names the selection and the store.
    select_invoker(path, "openai", configuration={**connection, "api_key": "${env:QA_KEY}"})
    with pytest.raises(PromptyReferenceError) as info:
        execute(path)
    assert f"the selection for {path} (in the invoker store {store_path()})" in str(info.value)
    # A key given to execute() is the override's; the file's own key is the file's.
    with pytest.raises(PromptyReferenceError, match="the configuration override needs it"):
        execute(path, configuration={"api_key": "${env:QA_KEY}"})
    own = write_prompt({"type": "openai", **connection, "api_key": "${env:QA_KEY}"})
    with pytest.raises(PromptyReferenceError) as info:
        execute(own)
    assert f"{own} needs it for `model.configuration.api_key`" in str(info.value)
