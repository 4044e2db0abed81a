"""Fixtures: one real IPython shell with the extension loaded, the real default model
(session-wide, also the kernel's cached default) and recorded displays. The real
``transformers serve`` (``serve_url``) comes from tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

from jupyter_invoker import LanguageModel

NAMES = ("model", "generator", "invoker", "invoke", "result", "prompt", "lm")


class Recorder(DisplayPublisher):
    """Every display message: ``(data, display_id, update)``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.messages: list[tuple[dict[str, Any], str | None, bool]] = []

    def publish(self, data: Any, metadata: Any = None, source: Any = None, *,
                transient: Any = None, update: bool = False, **kwargs: Any) -> None:  # fmt: skip
        display_id = (transient or {}).get("display_id")
        self.messages.append((dict(data), display_id, update))

    def texts(self) -> list[str]:
        return [str(data.get("text/plain", "")) for data, _, _ in self.messages]

    def live(self) -> list[str]:
        """The texts of the first display (the magic's live output), in order."""
        first = next(display_id for _, display_id, _ in self.messages)
        return [str(d.get("text/plain", "")) for d, i, _ in self.messages if i == first]


@pytest.fixture(scope="session")
def lm() -> LanguageModel:
    from jupyter_invoker.invokers._local import LocalInvoker

    model = LanguageModel()
    LocalInvoker.cache_model(model)  # the kernel's default is this one: one load
    return model


@pytest.fixture(scope="session")
def _shell() -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_invoker")
    return shell


@pytest.fixture
def shell(
    _shell: InteractiveShell, lm: LanguageModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    """The shell with ``model`` bound, a private selection store and recorded displays."""
    from jupyter_invoker.magics import _plan

    monkeypatch.setenv("JUPYTER_INVOKER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    recorder = Recorder(parent=_shell)
    monkeypatch.setattr(_shell, "display_pub", recorder)
    for name in NAMES:
        _shell.user_ns.pop(name, None)
    _shell.user_ns["model"] = lm
    _plan.set_kernel_default(None)
    yield _shell
    for name in NAMES:
        _shell.user_ns.pop(name, None)
    _plan.set_kernel_default(None)


@pytest.fixture
def displays(shell: InteractiveShell) -> Recorder:
    recorder = shell.display_pub
    assert isinstance(recorder, Recorder)
    return recorder


def write_prompt(folder: Path, name: str = "capital", configuration: Any = None,
                 max_tokens: int = 8, **parameters: Any) -> Path:  # fmt: skip
    front = {
        "name": name,
        "model": {
            "api": "chat",
            "configuration": configuration or {},
            "parameters": {"max_tokens": max_tokens, "temperature": 0, **parameters},
        },
        "inputs": {"country": {"type": "string", "default": "France"}},
    }
    path = folder / f"{name}.prompty"
    body = "system:\nYou are a concise geography assistant.\n\nuser:\n"
    body += "What is the capital of {{country}}? Answer in one word."
    path.write_text(f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n{body}\n")
    return path
