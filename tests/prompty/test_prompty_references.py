"""${env:} kept at load and resolved at execute; ${file:} resolved at load, confined."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_invoker._secrets import Secret, reveal
from jupyter_invoker.exceptions import PromptyReferenceError
from jupyter_invoker.prompty import load, resolve_configuration

Write = Callable[..., Path]

ENV_PROMPT = """\
---
model:
  api: chat
  configuration:
    type: openai
    base_url: ${env:JI_TEST_BASE_URL}
    organization: ${env:JI_TEST_ORG:org-default}
    name: ${env:JI_TEST_MODEL:}
    api_key: ${env:JI_TEST_API_KEY}
    headers:
      x-token: ${env:JI_TEST_HEADER_TOKEN:tok}
---
user:
hi
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("JI_TEST_"):
            monkeypatch.delenv(name)


def test_env_references_are_kept_at_load_and_the_prompt_previews(write: Write) -> None:
    prompt = load(write("e.prompty", ENV_PROMPT))
    assert prompt.model.configuration["base_url"] == "${env:JI_TEST_BASE_URL}"
    assert prompt.model.configuration["api_key"] == "${env:JI_TEST_API_KEY}"
    assert prompt.render() == [{"role": "user", "content": "hi"}]


def test_resolve_configuration_reads_the_environment_at_call_time(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompt = load(write("e.prompty", ENV_PROMPT))
    monkeypatch.setenv("JI_TEST_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("JI_TEST_API_KEY", "key-1")
    config = resolve_configuration(prompt)
    assert config["base_url"] == "http://127.0.0.1:8000/v1"
    assert config["organization"] == "org-default"
    assert config["name"] == ""  # an empty default is a default
    assert config["api_key"] == Secret("key-1")
    assert config["headers"]["x-token"] == Secret("tok")
    assert config["type"] == "openai"
    monkeypatch.setenv("JI_TEST_ORG", "org-env")
    assert resolve_configuration(prompt)["organization"] == "org-env"
    assert prompt.model.configuration["organization"] == "${env:JI_TEST_ORG:org-default}"


def test_unset_variable_without_default_names_variable_file_and_fix(write: Write) -> None:
    path = write("e.prompty", ENV_PROMPT)
    with pytest.raises(PromptyReferenceError) as info:
        resolve_configuration(load(path))
    message = str(info.value)
    assert "JI_TEST_BASE_URL" in message
    assert str(path) in message
    assert "export JI_TEST_BASE_URL=" in message
    assert "model.configuration.base_url" in message


def test_env_default_may_contain_colons(write: Write) -> None:
    text = "---\nmodel:\n  configuration:\n    base_url: ${env:JI_TEST_U:https://a.b:8080/v1}\n---\nhi\n"
    assert (
        resolve_configuration(load(write("e.prompty", text)))["base_url"] == "https://a.b:8080/v1"
    )


@pytest.mark.parametrize(
    ("yaml_text", "field"),
    [
        ("sample:\n  a: ${env:JI_TEST_A}\n", "sample.a"),
        ("inputs:\n  b:\n    default: ${env:JI_TEST_B:bee}\n", "inputs.b.default"),
        ("model:\n  parameters:\n    user: ${env:JI_TEST_A}\n", "model.parameters.user"),
        ("sample:\n  deep:\n    - x: ${env:JI_TEST_A}\n", "sample.deep.0.x"),
        ("template: ${env:JI_TEST_A}\n", "template"),
        ("extra:\n  note: ${env:JI_TEST_A}\n", "extra.note"),
    ],
    ids=["sample", "input-default", "parameters", "nested-sample", "template", "extra"],
)
def test_env_outside_model_configuration_is_refused_naming_the_field(
    write: Write, monkeypatch: pytest.MonkeyPatch, yaml_text: str, field: str
) -> None:
    # A cloned prompt with its own endpoint would otherwise send the variable's value there.
    monkeypatch.setenv("JI_TEST_A", "sk-SENT-AWAY-0123456789abcdef")
    path = write("s.prompty", f"---\nname: s\n{yaml_text}---\n{{{{ a }}}}\n")
    with pytest.raises(PromptyReferenceError) as info:
        load(path)
    message = str(info.value)
    assert f"field `{field}` uses ${{env:JI_TEST_" in message
    assert "only under `model.configuration`" in message and str(path) in message
    assert "sk-SENT-AWAY" not in message


def test_env_in_a_json_sample_file_is_refused_too(write: Write) -> None:
    write("sample.json", json.dumps({"token": "${env:JI_TEST_A}"}))
    path = write("j.prompty", "---\nname: j\nsample: ${file:sample.json}\n---\n{{ token }}\n")
    with pytest.raises(PromptyReferenceError, match=r"field `sample.token` uses \$\{env:JI_TEST_A"):
        load(path)


def test_env_under_model_configuration_still_loads(write: Write) -> None:
    text = (
        "---\nmodel:\n  configuration:\n    type: serverless\n    endpoint: ${env:JI_U:http://h}\n"
        "    default_headers:\n      x-team: ${env:JI_TEAM:none}\n---\nhi\n"
    )
    config = load(write("c.prompty", text)).model.configuration
    assert config["endpoint"] == "${env:JI_U:http://h}"
    assert config["default_headers"] == {"x-team": "${env:JI_TEAM:none}"}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("${foo:bar}", ["unknown reference", "${env:VAR}"]),
        ("${nothing}", ["unknown reference"]),
        ("${env:1BAD}", ["not a valid environment variable name"]),
        ("${env:}", ["not a valid environment variable name"]),
    ],
)
def test_malformed_references_are_refused_at_load(
    write: Write, value: str, words: list[str]
) -> None:
    path = write(
        "r.prompty", f"---\nname: x\nmodel:\n  configuration:\n    base_url: {value}\n---\nhi\n"
    )
    with pytest.raises(PromptyReferenceError) as info:
        load(path)
    assert f"{path}:5" in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_file_references_json_and_text(write: Write) -> None:
    write("data/sample.json", json.dumps({"city": " Oslo ", "nested": {"x": "${file:note.txt}"}}))
    write("note.txt", "  a note\n")
    write("conn.json", json.dumps({"type": "serverless", "endpoint": "https://e", "apiKey": "k"}))
    write("prompt.txt", "user:\nHello {{ city }}\n")
    path = write(
        "f.prompty",
        "model:\n  configuration: ${file:conn.json}\nsample: ${file:data/sample.json}\n"
        "template: ${file:prompt.txt}\n",
    )
    prompt = load(path)
    # sample strings lose their surrounding whitespace, as in Prompty 0.1
    assert prompt.sample == {"city": "Oslo", "nested": {"x": "a note"}}
    assert prompt.invoker == "serverless"
    assert prompt.model.configuration["key"] == Secret("k")
    assert prompt.template == "user:\nHello {{ city }}\n"
    assert prompt.render() == [{"role": "user", "content": "Hello Oslo"}]


def test_missing_file_reference(write: Write) -> None:
    path = write("f.prompty", "---\nsample: ${file:nope.json}\n---\nhi\n")
    with pytest.raises(PromptyReferenceError) as info:
        load(path)
    assert f"{path}:2" in str(info.value)
    assert "nope.json" in str(info.value) and "does not exist" in str(info.value)


def test_invalid_json_file_reference(write: Write) -> None:
    write("bad.json", "{oops")
    with pytest.raises(PromptyReferenceError, match=r"not valid JSON .*line 1"):
        load(write("f.prompty", "---\nsample: ${file:bad.json}\n---\nhi\n"))


def test_file_reference_cycle_is_refused(write: Write) -> None:
    write("a.json", json.dumps({"next": "${file:a.json}"}))
    with pytest.raises(PromptyReferenceError, match="cycle"):
        load(write("f.prompty", "---\nsample: ${file:a.json}\n---\nhi\n"))


def _refused(path: Path, ref: str, *words: str) -> None:
    with pytest.raises(PromptyReferenceError) as info:
        load(path)
    message = str(info.value)
    assert ref in message, message
    assert "refused" in message
    for word in words:
        assert word in message


def test_file_reference_with_dotdot_is_refused(write: Write, tmp_path: Path) -> None:
    write("secret.json", "{}")
    path = write("p/f.prompty", "---\nsample: ${file:../secret.json}\n---\nhi\n")
    _refused(path, "../secret.json", "'..'")
    path = write("p/g.prompty", "---\nsample: ${file:sub/../../secret.json}\n---\nhi\n")
    _refused(path, "sub/../../secret.json", "'..'")


def test_file_reference_with_absolute_path_is_refused(write: Write, tmp_path: Path) -> None:
    target = write("abs.json", "{}")
    path = write("p/f.prompty", f"---\nsample: ${{file:{target}}}\n---\nhi\n")
    _refused(path, str(target), "absolute")


def test_file_reference_through_symlink_out_of_the_folder_is_refused(
    write: Write, tmp_path: Path
) -> None:
    outside = write("outside/secret.json", '{"k": 1}')
    path = write("p/f.prompty", "---\nsample: ${file:link.json}\n---\nhi\n")
    (tmp_path / "p" / "link.json").symlink_to(outside)
    _refused(path, "link.json", "symbolic link")
    (tmp_path / "p" / "dir").symlink_to(tmp_path / "outside", target_is_directory=True)
    path = write("p/g.prompty", "---\nsample: ${file:dir/secret.json}\n---\nhi\n")
    _refused(path, "dir/secret.json", "symbolic link")


def test_file_reference_through_symlink_inside_the_folder_is_fine(
    write: Write, tmp_path: Path
) -> None:
    inner = write("p/real/sample.json", '{"a": "b"}')
    (tmp_path / "p" / "link.json").symlink_to(inner)
    prompt = load(write("p/f.prompty", "---\nsample: ${file:link.json}\n---\n{{ a }}\n"))
    assert prompt.sample == {"a": "b"}


def test_secret_file_reference_becomes_a_secret(write: Write) -> None:
    write("key.txt", "sk-from-file")
    prompt = load(
        write("f.prompty", "---\nmodel:\n  configuration:\n    api_key: ${file:key.txt}\n---\nhi\n")
    )
    assert isinstance(prompt.model.configuration["api_key"], Secret)
    assert reveal(resolve_configuration(prompt)["api_key"]) == "sk-from-file"
