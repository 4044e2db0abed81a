"""No key in any repr, str, error (chain and traceback included), log line or output.

A recognisable fake key goes in through the environment and through a literal in
the file, then every path runs: success, streaming, 401 (with the server echoing
the key back), 500, a dead endpoint, a timeout, a cut stream.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from jupyter_invoker.exceptions import InvokerError
from jupyter_invoker.invokers import execute
from jupyter_invoker.invokers._execute import plan
from jupyter_invoker.prompty import load

from ._fake_server import FakeServer, Reply
from .conftest import FAKE_KEY, PromptWriter

LOGGERS = ("openai", "httpx", "httpx2", "httpcore", "httpcore2", "jupyter_invoker")


def _scenarios(
    server: FakeServer, dead: str
) -> list[tuple[str, Reply | None, str, dict[str, Any]]]:
    ok = server.url + "/v1"
    return [
        ("success", Reply(), ok, {}),
        ("stream", Reply(stream=["Pa", "ris"]), ok, {"stream": True}),
        ("401-echo", Reply(status=401, echo_key=True), ok, {}),
        ("400-echo", Reply(status=400, echo_key=True), ok, {}),
        ("500-echo", Reply(status=500, echo_key=True, headers={"Retry-After": "0"}), ok, {}),
        ("dead", None, dead, {}),
        ("timeout", Reply(hang=True), ok, {"timeout": 0.5}),
        ("cut", Reply(stream=["a", "b", "c", "d"], cut=True), ok, {"stream": True}),
    ]


def _configs(url: str, timeout: float | None) -> dict[str, dict[str, Any]]:
    extra = {"timeout": timeout} if timeout else {}
    return {
        "openai-env": {"type": "openai", "base_url": url, "name": "m", **extra},
        "openai-literal": {
            "type": "openai",
            "base_url": url,
            "name": "m",
            "api_key": FAKE_KEY,
            **extra,
        },
        "serverless-literal": {
            "type": "serverless",
            "endpoint": url,
            "model": "m",
            "key": FAKE_KEY,
            **extra,
        },
        "azure-env": {
            "type": "azure",
            "azure_endpoint": url.removesuffix("/v1"),
            "azure_deployment": "d",
            "api_key": "${env:LEAKY_AZURE_KEY}",
            **extra,
        },
    }


def _texts(value: Any) -> list[str]:
    texts = [repr(value), str(value)]
    if isinstance(value, BaseException):
        texts.append("".join(traceback.format_exception(value)))
    return texts


def test_no_key_anywhere(
    fake_server: FakeServer,
    dead_url: str,
    write_prompt: PromptWriter,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("LEAKY_AZURE_KEY", FAKE_KEY)
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    seen: list[str] = []
    outcomes: dict[str, str] = {}
    for scenario, reply, url, opts in _scenarios(fake_server, dead_url):
        for label, config in _configs(url, opts.get("timeout")).items():
            if reply is not None:
                fake_server.script(reply)
            path = write_prompt(config, {"max_tokens": 3})
            prompt = load(path)
            seen += _texts(prompt) + _texts(prompt.model) + _texts(plan(prompt)[1])
            on_chunk: Callable[[str], Any] | None = seen.append if opts.get("stream") else None
            try:
                result = execute(prompt, on_chunk=on_chunk)
            except InvokerError as exc:
                outcomes[f"{scenario}/{label}"] = type(exc).__name__
                seen += _texts(exc)
            else:
                outcomes[f"{scenario}/{label}"] = "ok"
                seen += [*_texts(result), repr(vars(result))]
    # the scenarios really ran their paths
    assert outcomes["success/openai-env"] == "ok"
    assert outcomes["401-echo/azure-env"] == "InvokerAuthError"
    assert outcomes["500-echo/openai-literal"] == "InvokerServerError"
    assert outcomes["dead/serverless-literal"] == "InvokerConnectionError"
    assert outcomes["timeout/openai-env"] == "InvokerConnectionError"
    assert outcomes["cut/azure-env"] == "InvokerResponseError"
    # ... and the server really received the key (so a leak was possible)
    assert any(
        FAKE_KEY in (r.headers.get("authorization", "") + r.headers.get("api-key", ""))
        for r in fake_server.requests
    )
    out, err = capfd.readouterr()
    seen += [out, err, caplog.text] + [r.getMessage() for r in caplog.records]
    assert caplog.records, "DEBUG logging was captured"
    leaks = [text for text in seen if FAKE_KEY in text]
    assert not leaks, leaks[0][:500]
    # the echoed message itself still reaches the user, redacted
    assert any("Incorrect API key provided: ***" in text for text in seen)
