from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from jupyter_invoker.exceptions import InvokerConfigError, UnknownInvokerError
from jupyter_invoker.invokers import Invoker, InvokerFactory
from jupyter_invoker.prompty import load

ASSETS = Path(__file__).parent / "assets"


class Echo(Invoker):
    async def invoke(self, data: Any) -> Any:
        return data


def test_register_returns_class_and_call_hands_data_through() -> None:
    assert InvokerFactory.register("echo", Echo) is Echo
    prompt = load(ASSETS / "custom.prompty")
    data = {"anything": [1, 2, 3]}
    assert InvokerFactory.call("echo", prompt, data) is data


def test_decorator_form_and_call_async() -> None:
    @InvokerFactory.register("custom")
    class CustomInvoker(Invoker):
        def invoke_sync(self, data: Any) -> Any:
            return data

    assert isinstance(CustomInvoker, type)
    assert InvokerFactory.get("custom") is CustomInvoker
    prompt = load(ASSETS / "custom.prompty")
    import asyncio

    data = object()
    assert asyncio.run(InvokerFactory.call_async("custom", prompt, data)) is data


def test_get_instance_is_the_class_level_registry() -> None:
    factory = InvokerFactory.get_instance()
    factory.register("echo", Echo)
    assert InvokerFactory.get("echo") is Echo


def test_names_are_case_insensitive_and_aliases_resolve() -> None:
    InvokerFactory.register("Echo", Echo)
    assert InvokerFactory.get("ECHO") is Echo
    assert InvokerFactory.canonical_name("azure_openai") == "azure"
    assert InvokerFactory.canonical_name("Azure_OpenAI") == "azure"


def test_builtins_resolve_lazily() -> None:
    from jupyter_invoker.invokers._azure import AzureInvoker
    from jupyter_invoker.invokers._openai import OpenAIInvoker, ServerlessInvoker

    assert InvokerFactory.get("openai") is OpenAIInvoker
    assert InvokerFactory.get("serverless") is ServerlessInvoker
    assert InvokerFactory.get("azure_openai") is AzureInvoker
    assert {"local", "huggingface", "openai", "azure", "serverless", "azure_openai"} <= set(
        InvokerFactory.names()
    )


def test_huggingface_is_an_alias_of_local_written_once() -> None:
    from jupyter_invoker.prompty._config import INVOKER_ALIASES

    assert INVOKER_ALIASES["huggingface"] == "local"
    assert InvokerFactory.canonical_name("HuggingFace") == "local"
    assert InvokerFactory.is_local("huggingface") and InvokerFactory.is_local("local")
    assert not InvokerFactory.is_local("openai") and not InvokerFactory.is_local("not a name")
    assert InvokerFactory.get("huggingface") is InvokerFactory.get("local")
    snapshot = InvokerFactory.snapshot()
    assert "huggingface" not in snapshot.invokers
    assert snapshot.aliases["huggingface"] == "local" and "local" in snapshot.builtin


def test_no_module_but_the_registry_spells_out_the_local_pair() -> None:
    """The pair used to be written out in five files; the alias is now asked for."""
    root = Path(__file__).resolve().parents[2] / "jupyter_invoker"
    magics = root / "magics"  # the magics are migrated separately
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if magics not in path.parents
        and re.search(
            r"[\"']huggingface[\"']\s*[,}]|[{,]\s*[\"']huggingface[\"']", path.read_text()
        )
    ]
    assert offenders == ["prompty/_config.py"], offenders


def test_a_registered_name_is_in_the_snapshot_and_replaces_an_alias() -> None:
    class Custom(Invoker):
        def invoke_sync(self, data: object) -> object:
            return data

    InvokerFactory.register("huggingface", Custom)
    snapshot = InvokerFactory.snapshot()
    assert snapshot.invokers["huggingface"].endswith(":" + Custom.__qualname__)
    assert "huggingface" not in snapshot.aliases and "huggingface" not in snapshot.builtin
    assert not InvokerFactory.is_local("huggingface")


def test_import_of_invokers_loads_neither_openai_nor_torch() -> None:
    import subprocess

    code = (
        "import sys, jupyter_invoker.invokers as m; m.InvokerFactory.names();"
        "print('openai' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(UnknownInvokerError) as info:
        InvokerFactory.get("nope")
    message = str(info.value)
    assert "'nope'" in message and "openai" in message and "local" in message
    assert "register" in message.lower()


def test_registering_over_builtin_replaces_it() -> None:
    InvokerFactory.register("openai", Echo)
    assert InvokerFactory.get("openai") is Echo
    InvokerFactory.register("azure_openai", Echo)  # an alias name becomes its own entry
    assert InvokerFactory.get("azure_openai") is Echo


def test_class_implementing_nothing_is_refused_at_registration() -> None:
    class Empty(Invoker):
        pass

    with pytest.raises(InvokerConfigError, match="invoke_sync"):
        InvokerFactory.register("empty", Empty)


def test_non_invoker_class_is_refused() -> None:
    with pytest.raises(InvokerConfigError, match="Invoker"):
        InvokerFactory.register("bad", dict)  # type: ignore[type-var]
    with pytest.raises(InvokerConfigError, match="not valid"):
        InvokerFactory.register("bad name!", Echo)


def test_unregister() -> None:
    InvokerFactory.register("echo", Echo)
    InvokerFactory.unregister("echo")
    with pytest.raises(UnknownInvokerError):
        InvokerFactory.get("echo")


class _FakeEntryPoint:
    def __init__(self, name: str, value: str, target: Any) -> None:
        self.name, self.value, self._target = name, value, target

    def load(self) -> Any:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def test_entry_point_loaded_on_first_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []

    class Plugin(Invoker):
        def invoke_sync(self, data: Any) -> Any:
            return "plugin"

    class Recording(_FakeEntryPoint):
        def load(self) -> Any:
            loads.append(self.name)
            return super().load()

    eps = [Recording("plugged", "pkg.mod:Plugin", Plugin)]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: eps)
    assert "plugged" in InvokerFactory.names()
    assert loads == []  # listing does not import
    assert InvokerFactory.get("plugged") is Plugin
    assert InvokerFactory.get("plugged") is Plugin
    assert loads == ["plugged"]


def test_broken_entry_point_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [_FakeEntryPoint("broken", "brokenpkg.mod:Thing", ImportError("no module brokenpkg"))]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: eps)
    with pytest.raises(InvokerConfigError) as info:
        InvokerFactory.get("broken")
    assert "broken = brokenpkg.mod:Thing" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)


def test_entry_point_that_is_not_an_invoker(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [_FakeEntryPoint("odd", "pkg:thing", 42)]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: eps)
    with pytest.raises(InvokerConfigError, match="odd = pkg:thing"):
        InvokerFactory.get("odd")
