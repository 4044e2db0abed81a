"""GET /prompts, /prompts/<path>, /invokers; authentication and path confinement."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from .conftest import Api


async def test_prompts_lists_every_prompt_file_and_skips_the_rest(api: Api) -> None:
    status, body = await api("GET", "prompts")
    assert status == 200 and body["truncated"] is False
    paths = [p["path"] for p in body["prompts"]]
    assert paths == [
        "broken/broken.prompty",
        "literal.prompty",
        "notebooks/prompts/capital.prompty",
        "notebooks/prompts/weather.prompty",
    ]  # no .hidden/, node_modules/ or venv/ (it holds pyvenv.cfg)
    capital = body["prompts"][2]
    assert capital["name"] == "capital" and capital["folder"] == "notebooks/prompts"
    assert capital["api"] == "chat" and capital["asks_for"] == "local"
    assert capital["selected"] is None and capital["error"] is None
    assert capital["inputs"]["country"]["default"] == "France"
    assert capital["runs_on"] == {"invoker": "local", "connection": None}
    weather = body["prompts"][3]
    assert weather["asks_for"] == "azure"  # azure_openai resolved
    assert weather["ready"] is False and weather["needs"] == ["JI_TEST_AZURE_KEY"]


async def test_a_broken_file_is_listed_with_its_error(api: Api) -> None:
    _, body = await api("GET", "prompts")
    broken = body["prompts"][0]
    assert broken["name"] == "broken" and broken["api"] is None
    assert "malformed YAML" in broken["error"] and "broken/broken.prompty:" in broken["error"]


async def test_no_secret_in_any_answer(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JI_TEST_AZURE_KEY", "az-SECRET-VALUE-987654321")
    answers = [await api("GET", "prompts"), await api("GET", "invokers")]
    for path in ("literal.prompty", "notebooks/prompts/weather.prompty"):
        answers.append(await api("GET", "prompts", path))
    text = json.dumps([body for _, body in answers])
    assert "sk-FAKE-LEAK-CHECK" not in text and "az-SECRET-VALUE" not in text
    literal = answers[2][1]
    assert literal["configuration"]["api_key"] == "***"
    weather = answers[3][1]
    assert weather["configuration"]["api_key"] == "${env:JI_TEST_AZURE_KEY}"
    assert weather["ready"] is True  # the variable is set now


async def test_one_prompt_with_preview(api: Api) -> None:
    status, body = await api("GET", "prompts", "notebooks/prompts/capital.prompty")
    assert status == 200
    assert body["preview"]["error"] is None
    assert body["preview"]["messages"] == [
        {"role": "system", "content": "You are a concise geography assistant."},
        {"role": "user", "content": "What is the capital of France? Answer in one word."},
    ]
    assert body["parameters"] == {"max_tokens": 8}
    status, body = await api("GET", "prompts", "broken/broken.prompty")
    assert status == 200 and "malformed YAML" in body["preview"]["error"]


async def test_a_preview_that_cannot_render_says_why(api: Api, workspace: Path) -> None:
    (workspace / "needs.prompty").write_text("---\nname: n\n---\nuser:\n{{ missing }}\n")
    status, body = await api("GET", "prompts", "needs.prompty")
    assert status == 200 and body["preview"]["messages"] == []
    assert "missing" in body["preview"]["error"]


async def test_missing_prompt_is_404(api: Api) -> None:
    status, body = await api("GET", "prompts", "nowhere/x.prompty")
    assert status == 404 and "nowhere/x.prompty" in body["message"]


async def test_invokers_lists_builtins_with_needs(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, body = await api("GET", "invokers")
    rows = {row["name"]: row for row in body["invokers"]}
    assert status == 200 and {"local", "openai", "azure", "serverless"} <= set(rows)
    assert "azure_openai" not in rows and rows["azure"]["aliases"] == ["azure_openai"]
    assert rows["openai"] == {
        "name": "openai",
        "kind": "builtin",
        "ready": False,
        "needs": ["OPENAI_API_KEY"],
        "aliases": [],
        "default_connection": None,
    }
    monkeypatch.setenv("OPENAI_API_KEY", "sk-FAKE-LEAK-CHECK-123456")
    _, body = await api("GET", "invokers")
    rows = {row["name"]: row for row in body["invokers"]}
    assert rows["openai"]["ready"] is True and "sk-FAKE" not in json.dumps(body)


# -- authentication and confinement -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "prompts"),
        ("GET", "prompts/literal.prompty"),
        ("GET", "invokers"),
        ("GET", "selections/literal.prompty"),
        ("PUT", "selections/literal.prompty"),
        ("DELETE", "selections/literal.prompty"),
        ("GET", "connections"),
        ("POST", "connections"),
        ("GET", "connections/x"),
        ("PUT", "connections/x"),
        ("DELETE", "connections/x"),
        ("POST", "connections/x/test"),
    ],
)
async def test_every_route_is_403_without_a_token(
    http_server_client: Any, jp_base_url: str, workspace: Path, method: str, path: str
) -> None:
    body = "{}" if method in ("POST", "PUT") else None
    with pytest.raises(HTTPClientError) as info:
        await http_server_client.fetch(
            f"{jp_base_url}jupyter-invoker/{path}", method=method, body=body
        )
    assert info.value.code == 403


async def _raw(client: Any, base: str, auth: dict[str, str], path: str) -> tuple[int, Any]:
    try:
        response = await client.fetch(f"{base}jupyter-invoker/{path}", headers=auth)
    except HTTPClientError as exc:
        response = exc.response
    return response.code, json.loads(response.body or b"null")


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("prompts/..%2F..%2Fetc%2Fpasswd.prompty", 400, "'..'"),
        ("prompts/notebooks/%2E%2E/%2E%2E/literal.prompty", 400, "'..'"),
        ("prompts/%2Fetc%2Fx.prompty", 400, "absolute"),
        ("prompts/~root/x.prompty", 400, "absolute"),
        ("selections/..%2Fx.prompty", 400, "'..'"),
        ("prompts/notebooks/capital.ipynb", 400, "not a .prompty"),
        ("prompts/out/outside.prompty", 403, "outside the server root"),
        ("prompts/outside-link.prompty", 403, "outside the server root"),
        ("selections/out/outside.prompty", 403, "outside the server root"),
    ],
)
async def test_paths_never_leave_the_root(
    http_server_client: Any,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
    workspace: Path,
    tmp_path: Path,
    path: str,
    status: int,
    words: str,
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "outside.prompty").write_text("---\nname: out\n---\nOUTSIDE-MARKER\n")
    os.symlink(outside, workspace / "out")
    os.symlink(outside / "outside.prompty", workspace / "outside-link.prompty")
    code, body = await _raw(http_server_client, jp_base_url, jp_auth_header, path)
    assert code == status and words in body["message"]
    assert "OUTSIDE-MARKER" not in json.dumps(body)


async def test_discovery_does_not_follow_links_out(
    api: Api, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "outside.prompty").write_text("---\nname: out\n---\nhi\n")
    os.symlink(outside, workspace / "out")
    os.symlink(outside / "outside.prompty", workspace / "outside-link.prompty")
    os.symlink(workspace / "literal.prompty", workspace / "inside-link.prompty")
    _, body = await api("GET", "prompts")
    paths = [p["path"] for p in body["prompts"]]
    assert "inside-link.prompty" in paths
    assert not [p for p in paths if "out" in p.split("/")[0]]


async def test_the_walk_is_bounded(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_invoker.server import _discovery

    monkeypatch.setattr(_discovery, "MAX_ENTRIES", 3)
    status, body = await api("GET", "prompts")
    assert status == 200 and body["truncated"] is True and len(body["prompts"]) <= 3


async def test_a_changed_file_is_reread(api: Api, workspace: Path) -> None:
    path = workspace / "literal.prompty"
    first = (await api("GET", "prompts", "literal.prompty"))[1]
    assert first["error"] is None and first["version"]
    listed = {p["path"]: p for p in (await api("GET", "prompts"))[1]["prompts"]}
    assert listed["literal.prompty"]["version"] == first["version"]  # unchanged file, same
    path.write_text("---\nname: [broken\n---\nhi\n")
    _, body = await api("GET", "prompts", "literal.prompty")
    assert body["error"] is not None and "malformed YAML" in body["error"]
    # The sidebar polls the list and reloads an open preview when its version moves.
    assert body["version"] != first["version"]


LEAK = "sk-QA-LEAK-0123456789"
SAMPLE_LEAK = "---\nname: s\nsample:\n  token: ${env:QA_KEY}\n---\nuser:\nhello {{token}}\n"
DEFAULT_LEAK = (
    "---\nname: d\ninputs:\n  token:\n    default: ${env:QA_KEY}\n---\nuser:\nhello {{token}}\n"
)
COMPLETION_LEAK = (
    "---\nname: c\nmodel:\n  api: completion\n  parameters:\n    user: ${env:QA_PLAIN}\n"
    "sample:\n  who: ${env:QA_PLAIN:x}\n---\nfor {{who}}\n"
)


async def test_env_outside_configuration_is_each_files_error_and_never_sent(
    api: Api, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cloned prompt may not carry ${env:} in its sample, defaults or parameters: those
    go to its endpoint. Each such file is listed with its error, naming the field."""
    monkeypatch.setenv("QA_KEY", LEAK)
    monkeypatch.setenv("QA_PLAIN", "plain-VALUE-4242")  # not key-named: masked as referenced
    (workspace / "leak").mkdir()
    (workspace / "leak/sample.prompty").write_text(SAMPLE_LEAK)
    (workspace / "leak/default.prompty").write_text(DEFAULT_LEAK)
    (workspace / "leak/completion.prompty").write_text(COMPLETION_LEAK)
    answers = [await api("GET", "prompts")]
    for name in ("sample", "default", "completion"):
        answers.append(await api("GET", "prompts", f"leak/{name}.prompty"))
    assert all(status == 200 for status, _ in answers)
    text = json.dumps([body for _, body in answers])
    assert LEAK not in text and "sk-QA-LEAK" not in text and "plain-VALUE" not in text
    rows = {row["path"]: row for row in answers[0][1]["prompts"]}
    sample, default, completion = (body for _, body in answers[1:])
    for body, field in (
        (sample, "sample.token"),
        (default, "inputs.token.default"),
        (completion, "model.parameters.user"),
    ):
        assert f"field `{field}` uses ${{env:QA_" in body["error"], body["error"]
        assert body["preview"]["error"] == body["error"] and body["preview"]["messages"] == []
        assert rows[body["path"]]["error"] == body["error"]
    assert rows["notebooks/prompts/capital.prompty"]["error"] is None  # the others still list


def test_preview_masks_an_environment_value_that_still_reaches_the_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_invoker.server._listing import ListingContext, details

    monkeypatch.setenv("QA_KEY", LEAK)
    prompt = tmp_path / "typed.prompty"
    # The key typed into the file itself (and so into the template) is still masked.
    prompt.write_text(f"---\nname: t\n---\nuser:\nhello {LEAK} ${{env:QA_KEY}}\n")
    body = details("typed.prompty", prompt, ListingContext.now())
    assert LEAK not in json.dumps(body)
    assert body["preview"]["messages"] == [{"role": "user", "content": "hello *** ${env:QA_KEY}"}]
