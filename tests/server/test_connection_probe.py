"""POST /connections/<name>/test: the smallest real request through a connection."""

from __future__ import annotations

import json

import pytest

from .conftest import Api


async def test_dead_port_is_a_mapped_error(
    api: Api, dead_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JI_TEST_SERVE_KEY", "sk-FAKE-LEAK-CHECK-123456")
    connection = {
        "name": "dead",
        "invoker": "serverless",
        "configuration": {"endpoint": dead_url, "model": "m"},
        "key_env": "JI_TEST_SERVE_KEY",
    }
    assert (await api("POST", "connections", body=connection))[0] == 201
    status, body = await api("POST", "connections", "dead", "test")
    assert status == 200 and body["ok"] is False
    assert body["invoker"] == "serverless" and body["connection"] == "dead"
    assert "could not connect to" in body["error"] and dead_url in body["error"]
    assert "sk-FAKE" not in json.dumps(body)


async def test_unknown_connection_is_404(api: Api) -> None:
    status, body = await api("POST", "connections", "ghost", "test")
    assert status == 404 and "ghost" in body["message"]


async def test_a_missing_setting_is_reported_not_raised(api: Api) -> None:
    await api("POST", "connections", body={"name": "o", "invoker": "openai"})
    status, body = await api("POST", "connections", "o", "test")
    assert status == 200 and body["ok"] is False and "OPENAI_API_KEY" in body["error"]


@pytest.mark.slow
async def test_real_request_through_transformers_serve(
    api: Api, serve_url: str, default_model: str
) -> None:
    connection = {
        "name": "local-serve",
        "invoker": "serverless",
        "configuration": {"endpoint": serve_url, "model": default_model},
    }
    assert (await api("POST", "connections", body=connection))[0] == 201
    status, body = await api("POST", "connections", "local-serve", "test", request_timeout=60)
    assert status == 200 and body["ok"] is True, body
    assert body["invoker"] == "serverless" and default_model in (body["model"] or "")
    assert body["text"] and body["elapsed_s"] > 0
