"""A hostile .prompty cannot stall, exhaust or crash the kernel: every parse and render is
bounded, and each refusal is the package's error naming the file, the field or the limit."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _hostile_set import LAUGHS

from jupyter_invoker.exceptions import PromptyLoadError, PromptyReferenceError, PromptyRenderError
from jupyter_invoker.prompty import load

Write = Callable[..., Path]


def _finishes(function: Callable[[], Any], seconds: float = 30.0) -> Any:
    """``function()`` on a thread; fails (instead of hanging the run) if it never returns."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("flow", "---\nname: d\nx: " + "[" * 500 + "]" * 500 + "\n---\nhi\n", "64 levels"),
        (
            "block",
            "---\nname: d\n" + "".join("  " * i + f"k{i}:\n" for i in range(300)) + "---\nhi\n",
            "64 levels",
        ),
        ("libyaml", "---\nname: d\nx: " + "[" * 20000 + "\n---\nhi\n", "64 levels"),
        ("laughs", LAUGHS, "expand to more than 100,000 values"),
        ("self", "---\nname: r\nsample: &s\n  me: *s\n---\nhi\n", "refers to itself"),
        (
            "binary",
            "---\nname: b\ninputs:\n  x:\n    default: !!binary aGk=\n---\n{{x}}\n",
            "!!binary",
        ),
        ("set", "---\nname: s\nsample:\n  x: !!set {a, b}\n---\n{{x}}\n", "!!set"),
        ("nan", "---\nname: n\ninputs:\n  x:\n    default: .nan\n---\n{{x}}\n", "inputs.x.default"),
        (
            "inf",
            "---\nname: i\nmodel:\n  parameters:\n    t: -.inf\n---\nhi\n",
            "model.parameters.t",
        ),
        ("api", "---\nname: a\nmodel:\n  api: gpt 4\n---\nhi\n", "field `model.api`"),
        (
            "type",
            "---\nname: t\nmodel:\n  configuration:\n    type: my invoker\n---\nhi\n",
            "field `model.configuration.type`",
        ),
    ],
    ids=[
        "flow",
        "block",
        "libyaml",
        "laughs",
        "self",
        "binary",
        "set",
        "nan",
        "inf",
        "api",
        "type",
    ],
)
def test_hostile_yaml_is_refused_quickly_naming_why(
    write: Write, name: str, text: str, words: str
) -> None:
    path = write(f"{name}.prompty", text)
    started = time.perf_counter()
    with pytest.raises(PromptyLoadError) as info:
        _finishes(lambda: load(path))
    assert words in str(info.value) and str(path) in str(info.value)
    assert time.perf_counter() - started < 10  # sanity bound only: it was 29 s and more


def test_a_fifo_is_refused_instead_of_blocking(write: Write, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.prompty"
    os.mkfifo(fifo)
    with pytest.raises(PromptyLoadError, match="FIFO"):
        _finishes(lambda: load(fifo))


def test_an_oversized_file_is_refused_before_it_is_read(write: Write, tmp_path: Path) -> None:
    huge = tmp_path / "huge.prompty"
    with huge.open("wb") as handle:  # a sparse 50 MB file: no disk, no memory
        handle.write(b"---\nname: h\n---\n")
        handle.truncate(50 * 1024 * 1024)
    with pytest.raises(PromptyLoadError, match=r"more than the 1,048,576 a \.prompty may hold"):
        load(huge)


@pytest.mark.parametrize(
    ("ref", "extra", "words"),
    [
        ("a\0b", {}, "NUL"),
        ("deep.json", {"deep.json": "[" * 100_000 + "]" * 100_000}, "too deeply"),
        ("nan.json", {"nan.json": '{"x": NaN}'}, "not valid JSON"),
        ("big.json", {"big.json": '{"x": 1e999}'}, "1e999 is not a number JSON allows"),
        ("fifo", {}, "could not be read"),
        ("a" * 300, {}, "File name too long"),
    ],
    ids=["nul", "deep-json", "nan-json", "big-json", "fifo", "long-name"],
)
def test_file_references_that_cannot_be_read_fail_clearly(
    write: Write, tmp_path: Path, ref: str, extra: dict[str, str], words: str
) -> None:
    for rel, text in extra.items():
        write(rel, text)
    if ref == "fifo":
        os.mkfifo(tmp_path / "fifo")
    path = write(
        "r.prompty",
        "---\nname: r\nsample: REF\n---\nhi\n".replace("REF", json.dumps(f"${{file:{ref}}}")),
    )
    with pytest.raises(PromptyReferenceError, match=words):
        _finishes(lambda: load(path))


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("{{ 'a' * 200000000 }}", "Repeating a value with `*` would build 200,000,000"),
        (
            "{% set ns = namespace(s='a') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "Joining text with `~`",
        ),
        (
            "{% set ns = namespace(s=['a']) %}{% for i in range(40) %}"
            "{% set ns.s = ns.s + ns.s %}{% endfor %}",
            "Joining two values with `+`",
        ),
        ("{{ 'a'|center(1000000000) }}", "The filter `center` was given 1,000,000,000"),
        ("{{ 'a'.ljust(1000000000) }}", "The string method `ljust`"),
        ("{{ '{:>1000000000}'.format(1) }}", "The string method `format`"),
        ("{{ '{0:{1}}'.format('a', 1000000000) }}", "The string method `format`"),
        ("{{ '%1000000000s' % 'a' }}", "A `%` format"),
        ("{{ '%*d' % (1000000000, 1) }}", "A `%` format"),
        ("{{ 2 ** 10000000000 }}", "too large to compute"),
        ("{% set s = 'a' * 100000 %}{{ s.replace('a', s) }}", "The string method `replace`"),
        ("{% set s = 'a' * 100000 %}{{ s|replace('a', s) }}", "The filter `replace`"),
        ("{{ [1]|batch(1000000000, 'x')|list }}", "The filter `batch`"),
        ("{{ 'x\ny'|indent('a' * 4000000) }}", "The filter `indent`"),
        ("{% for i in range(60) %}{{ 'a' * 100000 }}{% endfor %}", "passed 5,000,000 characters"),
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recurses too deeply"),
    ],
    ids=[
        "mul",
        "concat",
        "plus",
        "center",
        "ljust",
        "format",
        "format-nested",
        "percent",
        "percent-star",
        "pow",
        "replace",
        "replace-filter",
        "batch",
        "indent",
        "output",
        "macro",
    ],
)
def test_a_render_that_would_build_too_much_is_refused_before_it_does(
    write: Write, body: str, words: str
) -> None:
    path = write("big.prompty", f"---\nname: b\n---\nuser:\n{body}\n")
    started = time.perf_counter()
    with pytest.raises(PromptyRenderError) as info:
        _finishes(lambda: load(path).render())
    assert words in str(info.value) and str(path) in str(info.value)
    assert time.perf_counter() - started < 10


def test_a_render_that_runs_too_long_is_stopped(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jupyter_invoker.prompty._render.RENDER_SECONDS", 0.3)
    loops = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    path = write("loops.prompty", f"---\nname: l\n---\nuser:\n{loops}\n")
    prompt = load(path)
    for _ in range(3):  # and again: nothing is left armed between renders
        with pytest.raises(PromptyRenderError, match=r"took longer than 0.3 s and was stopped"):
            _finishes(prompt.render)
    # Several threads at once (the server's workers), each stopped on its own.
    errors: list[BaseException] = []

    def one() -> None:
        try:
            prompt.render()
        except PromptyRenderError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(errors) == 4
    time.sleep(0.5)  # no stray stop lands later in ordinary code
    fine = write("fine.prompty", "---\nname: f\n---\nuser:\n{{ 'ok' }}\n")
    assert load(fine).render() == [{"role": "user", "content": "ok"}]


def test_ordinary_templates_with_big_numbers_still_render(write: Write) -> None:
    body = (
        "{{ '{:,}'.format(12345678) }} {{ '%d' % 123456789 }} {{ x|default(1000000) }} "
        "{{ 'ab'|center(6) }}|{{ 'x' * 3 }}|{{ [1, 2] + [3] }}|{{ 2 ** 10 }}|{{ 'a' ~ 'b' }}"
    )
    path = write("ok.prompty", f"---\nname: o\n---\nuser:\n{body}\n")
    assert load(path).render()[0]["content"] == (
        "12,345,678 123456789 1000000   ab  |xxx|[1, 2, 3]|1024|ab"
    )
