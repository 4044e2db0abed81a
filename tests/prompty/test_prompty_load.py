"""load(): both forms, the fields, and every way a file can be refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import jupyter_invoker.prompty as prompty_pkg
from jupyter_invoker.exceptions import PromptyLoadError
from jupyter_invoker.prompty import Prompty, PromptyInput, load

Write = Callable[..., Path]

FULL = """\
---
name: Full
description: Every known field
authors: [Ada, Grace]
version: 1.2
base: base.prompty
model:
  api: completion
  configuration:
    type: azure_openai
    endpoint: https://example.openai.azure.com
    deployment: gpt-4o
    apiVersion: 2024-10-21
  parameters:
    temperature: 0.2
    stop: ["\\n"]
  response: first
sample:
  city: Paris
  day: 2024-01-01
inputs:
  city:
    type: string
    description: The city
    required: true
  day:
    type: string
    default: today
  note:
outputs:
  answer:
    type: string
template:
  format: jinja2
  parser: prompty
tags: [weather]
x-owner: team-a
---
Weather in {{ city }} on {{ day }}.
"""


def test_public_api_is_pinned() -> None:
    assert prompty_pkg.__all__ == sorted(prompty_pkg.__all__)
    assert set(prompty_pkg.__all__) == {
        "Prompty",
        "PromptyInput",
        "PromptyModel",
        "load",
        "prepare",
        "resolve_configuration",
    }


def test_front_matter_form_keeps_every_field(write: Write) -> None:
    prompt = load(write("full.prompty", FULL))
    assert isinstance(prompt, Prompty)
    assert (prompt.name, prompt.description, prompt.version) == ("Full", "Every known field", "1.2")
    assert prompt.authors == ["Ada", "Grace"]
    assert prompt.base == "base.prompty"
    assert prompt.api == "completion"
    assert prompt.invoker == "azure"
    assert prompt.model.api == "completion"
    assert prompt.model.configuration == {
        "type": "azure_openai",
        "azure_endpoint": "https://example.openai.azure.com",
        "azure_deployment": "gpt-4o",
        "api_version": "2024-10-21",
    }
    assert prompt.model.parameters == {"temperature": 0.2, "stop": ["\n"]}
    assert prompt.model.extra == {"response": "first"}
    assert prompt.sample == {"city": "Paris", "day": "2024-01-01"}
    assert prompt.inputs["city"] == PromptyInput(
        type="string", description="The city", required=True
    )
    assert prompt.inputs["day"].default == "today" and prompt.inputs["day"].has_default
    assert prompt.inputs["note"] == PromptyInput()
    assert prompt.outputs == {"answer": {"type": "string"}}
    assert (prompt.template_format, prompt.template_parser) == ("jinja2", "prompty")
    assert prompt.template == "Weather in {{ city }} on {{ day }}.\n"
    assert (
        prompt.template_line == FULL.splitlines().index("Weather in {{ city }} on {{ day }}.") + 1
    )
    assert prompt.extra == {"tags": ["weather"], "x-owner": "team-a"}
    assert prompt.render({"day": "Monday"}) == "Weather in Paris on Monday."


def test_unquoted_dates_stay_the_text_written(write: Write) -> None:
    text = "---\nmodel:\n  configuration:\n    api_version: 2024-10-21\nwhen: 2001-12-14t21:59:43.10-05:00\n---\nhi\n"
    prompt = load(write("d.prompty", text))
    assert prompt.model.configuration["api_version"] == "2024-10-21"
    assert prompt.extra["when"] == "2001-12-14t21:59:43.10-05:00"


def test_template_as_engine_name_string(write: Write) -> None:
    prompt = load(write("t.prompty", "---\ntemplate: jinja2\n---\nuser:\nhi\n"))
    assert (prompt.template_format, prompt.template_parser) == ("jinja2", "prompty")
    assert prompt.template == "user:\nhi\n"


def test_template_text_in_front_matter_when_body_is_empty(write: Write) -> None:
    prompt = load(write("t.prompty", "---\ntemplate: |\n  user:\n  Hi {{ x }}\n---\n"))
    assert prompt.template == "user:\nHi {{ x }}\n"
    assert prompt.render({"x": "A"}) == [{"role": "user", "content": "Hi A"}]


def test_template_type_key_is_the_format(write: Write) -> None:
    prompt = load(write("t.prompty", "---\ntemplate:\n  type: mustache\n---\nhi\n"))
    assert (prompt.template_format, prompt.template_parser) == ("mustache", "prompty")


@pytest.mark.parametrize(
    ("model", "invoker", "api"),
    [
        ("", "local", "chat"),
        ("model:\n  api: chat\n", "local", "chat"),
        ("model:\n  api: completion\n", "local", "completion"),
        ("model:\n  api: azure_openai\n", "azure", "chat"),
        ("model:\n  api: Huggingface\n", "local", "chat"),  # an alias of local
        ("model:\n  api: chat\n  configuration:\n    type: openai\n", "openai", "chat"),
        ("model:\n  api: openai\n  configuration:\n    type: serverless\n", "serverless", "chat"),
    ],
)
def test_invoker_and_api(write: Write, model: str, invoker: str, api: str) -> None:
    prompt = load(write("i.prompty", f"---\n{model}---\nhi\n"))
    assert (prompt.invoker, prompt.api) == (invoker, api)


@pytest.mark.parametrize(
    ("invoker", "given", "expected"),
    [
        (
            "openai",
            {"apiKey": "k", "model": "gpt", "baseUrl": "u"},
            {"api_key": "k", "name": "gpt", "base_url": "u"},
        ),
        (
            "openai",
            {"organization": "o", "extra_field": 1},
            {"organization": "o", "extra_field": 1},
        ),
        (
            "azure",
            {"endpoint": "e", "deployment": "d", "apiVersion": "v"},
            {"azure_endpoint": "e", "azure_deployment": "d", "api_version": "v"},
        ),
        (
            "serverless",
            {"endpoint": "e", "apiKey": "k", "model": "m"},
            {"endpoint": "e", "key": "k", "model": "m"},
        ),
        ("local", {"model": "gpt2"}, {"model": "gpt2"}),
        ("huggingface", {"model": "gpt2", "apiKey": "k"}, {"model": "gpt2", "api_key": "k"}),
    ],
)
def test_configuration_field_names_per_invoker(
    write: Write, invoker: str, given: dict[str, object], expected: dict[str, object]
) -> None:
    lines = "".join(f"    {key}: {value}\n" for key, value in given.items())
    prompt = load(
        write("c.prompty", f"---\nmodel:\n  api: {invoker}\n  configuration:\n{lines}---\nhi\n")
    )
    config = {
        key: value.get_secret() if hasattr(value, "get_secret") else value
        for key, value in prompt.model.configuration.items()
    }
    assert config == expected
    assert prompt.invoker == {"huggingface": "local"}.get(invoker, invoker)  # an alias


def test_alias_and_field_together_are_refused(write: Write) -> None:
    text = "---\nmodel:\n  api: azure\n  configuration:\n    endpoint: a\n    azure_endpoint: b\n---\nhi\n"
    with pytest.raises(PromptyLoadError, match=r"c\.prompty:4: .*`endpoint` and `azure_endpoint`"):
        load(write("c.prompty", text))


def test_relative_path_resolves_against_cwd(
    write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("sub/rel.prompty", "---\n---\nhi\n")
    monkeypatch.chdir(tmp_path / "sub")
    prompt = load("rel.prompty")
    assert prompt.path == tmp_path / "sub" / "rel.prompty"
    assert prompt.path.is_absolute()
    monkeypatch.chdir(tmp_path)
    assert load("sub/../sub/rel.prompty").path == tmp_path / "sub" / "rel.prompty"


def test_crlf_and_bom_files_load_like_lf(write: Write) -> None:
    text = (Path(__file__).parent / "assets" / "golden" / "chat_turns.prompty").read_text()
    lf = load(write("lf.prompty", text))
    crlf = load(write("crlf.prompty", b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()))
    assert crlf.render() == lf.render()
    assert crlf.name == "Chat turns"


def test_leading_blank_lines_before_front_matter(write: Write) -> None:
    prompt = load(write("b.prompty", "\n\n---\nname: x\n---\n\nuser:\n{{ a }}\n"))
    assert prompt.name == "x"
    assert prompt.template_line == 7


def test_empty_front_matter_is_allowed(write: Write) -> None:
    assert load(write("e.prompty", "---\n---\nHello\n")).render() == [
        {"role": "user", "content": "Hello"}
    ]


# ---- failures: PromptyLoadError naming the file, the line and what to do ----


def _fails(path: Path, *words: str) -> str:
    with pytest.raises(PromptyLoadError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, (word, message)
    return message


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("---\nname: x\nmodel:\n\tapi: chat\n---\nhi\n", 4, ["'\\t'"]),
        ("---\nname: x\nmodel: api: chat\n---\nhi\n", 3, ["mapping values"]),
        ("\n\n---\nname: x\nmodel: api: chat\n---\nhi\n", 5, ["mapping values"]),
        ('---\nname: x\ndescription: "open\nmodel: {}\n---\nhi\n', 3, ["quoted scalar"]),
        ("# c\ntemplate: |\n  hi\nmodel: api: azure\n", 4, ["mapping values"]),
        ("---\na: [1, 2\nb: 3\n---\nhi\n", 3, []),
    ],
)
def test_malformed_yaml_names_file_and_line(
    write: Write, text: str, line: int, words: list[str]
) -> None:
    path = write("bad.prompty", text)
    _fails(path, f"{path}:{line}: malformed YAML", f"Fix line {line}", *words)


def test_unterminated_front_matter(write: Write) -> None:
    _fails(
        write("u.prompty", "---\nname: x\nuser:\nhi\n"),
        "unterminated front matter",
        "line 1",
        "`---`",
    )


@pytest.mark.parametrize("content", [b"", b"  \n\n\t\n", b"\xef\xbb\xbf\n"])
def test_empty_file(write: Write, content: bytes) -> None:
    _fails(write("empty.prompty", content), "empty", "template")


def test_binary_file(write: Write) -> None:
    _fails(write("bin.prompty", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "binary")


def test_non_utf8_file(write: Write) -> None:
    _fails(
        write("latin.prompty", "---\nname: café\n---\nhi\n".encode("latin-1")),
        "not UTF-8",
        "line 2",
        "Save the file as UTF-8",
    )


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    message = _fails(tmp_path / "nope.prompty", "no such file", "current working directory")
    assert str(tmp_path) in message
    with pytest.raises(PromptyLoadError, match=r"nope\.prompty: no such file"):
        load("nope.prompty")


def test_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d.prompty").mkdir()
    _fails(tmp_path / "d.prompty", "directory")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("---\n- a\n- b\n---\nhi\n", ["list", "not a mapping"]),
        ("Hello {{ name }}, just text.\n", ["plain text", "not a mapping", "front matter"]),
        ("# only a comment\n", ["no fields"]),
    ],
)
def test_top_level_not_a_mapping(write: Write, text: str, words: list[str]) -> None:
    _fails(write("top.prompty", text), *words)


def test_model_not_a_mapping_names_its_line(write: Write) -> None:
    path = write("m.prompty", "---\nname: x\nmodel: gpt-4o\n---\nhi\n")
    _fails(path, f"{path}:3:", "`model`", "must be a mapping")


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ("model:\n  configuration: [a]\n", "`model.configuration`"),
        ("model:\n  parameters: 3\n", "`model.parameters`"),
        ("model:\n  api: [chat]\n", "`model.api`"),
        ("model:\n  configuration:\n    type: 3\n", "`model.configuration.type`"),
    ],
)
def test_model_fields_with_wrong_shapes(write: Write, model: str, field: str) -> None:
    _fails(write("m.prompty", f"---\n{model}---\nhi\n"), field)


@pytest.mark.parametrize(
    ("inputs", "line", "field"),
    [
        ("inputs: [city, day]\n", 2, "`inputs`"),
        ("inputs:\n  city: string\n", 3, "`inputs.city`"),
        ("inputs:\n  city:\n    required: maybe\n", 4, "`inputs.city.required`"),
        ("inputs:\n  city:\n    type: [a]\n", 4, "`inputs.city.type`"),
        ("inputs:\n  2city: {}\n", 3, "`inputs.2city`"),
    ],
)
def test_inputs_malformed(write: Write, inputs: str, line: int, field: str) -> None:
    path = write("in.prompty", f"---\n{inputs}---\nhi\n")
    _fails(path, f"{path}:{line}:", field)


@pytest.mark.parametrize(
    "text",
    [
        "---\nname: x\nmodel:\n  api: chat\n---\n",
        "---\nname: x\n---\n   \n\n",
        "---\ntemplate: jinja2\n---\n",
        "name: x\nmodel:\n  api: openai\n",
        'name: x\ntemplate: "   "\n',
        "name: x\ntemplate:\n  format: jinja2\n",
    ],
)
def test_no_template(write: Write, text: str) -> None:
    _fails(write("nt.prompty", text), "no template", "Add the prompt text")


def test_template_text_and_body_together_are_refused(write: Write) -> None:
    _fails(
        write("tb.prompty", "---\ntemplate: |\n  user:\n  hi\n---\nuser:\nhello\n"), "Keep only one"
    )


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("---\nsample: [1, 2]\n---\nhi\n", "`sample`"),
        ("---\nname: {a: 1}\n---\nhi\n", "`name`"),
        ("---\nauthors: {a: 1}\n---\nhi\n", "`authors`"),
        ("---\noutputs: [a]\n---\nhi\n", "`outputs`"),
        ("---\ntemplate: [a]\n---\nhi\n", "`template`"),
    ],
)
def test_other_fields_with_wrong_shapes(write: Write, text: str, field: str) -> None:
    path = write("f.prompty", text)
    _fails(path, f"{path}:2:", field)
