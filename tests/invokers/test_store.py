"""The shared store beyond selections: connections, defaults, resolution, invoker status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from jupyter_invoker.exceptions import InvokerConfigError
from jupyter_invoker.invokers import (
    Invoker,
    InvokerFactory,
    delete_connection,
    execute,
    get_connection,
    invoker_statuses,
    list_connections,
    save_connection,
    select_connection,
    select_invoker,
    selected_configuration,
    selected_invoker,
    selection,
    selections_path,
    set_default,
)
from jupyter_invoker.invokers._status import configuration_needs, live_kernel_invokers
from jupyter_invoker.invokers._store import read_store

from .conftest import FAKE_KEY, PromptWriter


class Echo(Invoker):
    """Answers with its configuration, so a test sees which connection ran."""

    def invoke_sync(self, data: Any) -> str:
        config = self.prompty.model.configuration
        return json.dumps({k: str(v) for k, v in sorted(config.items())})


SERVE = {"endpoint": "http://127.0.0.1:9/v1", "model": "m", "key": "${env:SERVE_KEY}"}


def test_connection_crud_and_reread() -> None:
    stored = save_connection("serve", "serverless", SERVE)
    assert stored == {"name": "serve", "invoker": "serverless", "configuration": SERVE}
    assert get_connection("serve") == stored and list_connections() == [stored]
    with pytest.raises(InvokerConfigError, match="already exists"):
        save_connection("serve", "serverless", SERVE, create=True)
    with pytest.raises(InvokerConfigError, match="no connection named 'other' to change"):
        save_connection("other", "serverless", SERVE, create=False)
    save_connection("az", "azure_openai", {"azure_endpoint": "https://x"})
    assert get_connection("az")["invoker"] == "azure"  # type: ignore[index]
    assert delete_connection("serve") and not delete_connection("serve")
    assert [c["name"] for c in list_connections()] == ["az"]


@pytest.mark.parametrize(
    "configuration",
    [
        {"api_key": FAKE_KEY},
        {"key": "abc"},
        {"api_key": "${env:K:" + FAKE_KEY + "}"},  # a default is a literal key too
        {"endpoint": FAKE_KEY},  # a provider key's shape under any name
        {"nested": {"token": "t0ken-value"}},
    ],
)
def test_literal_keys_are_refused_and_never_written(configuration: dict[str, Any]) -> None:
    save_connection("keep", "openai", {"name": "gpt"})
    before = selections_path().read_text()
    with pytest.raises(InvokerConfigError, match=r"\$\{env:MY_KEY\}") as info:
        save_connection("leak", "openai", configuration)
    assert FAKE_KEY not in str(info.value) and "abc" not in str(info.value)
    assert selections_path().read_text() == before


def test_selection_of_a_connection_and_dangling_names() -> None:
    with pytest.raises(InvokerConfigError, match="no connection named 'serve'"):
        select_connection("p.prompty", "serve")
    save_connection("serve", "serverless", SERVE)
    select_connection("p.prompty", "serve")
    assert selection("p.prompty") == {"connection": "serve"}
    assert selected_invoker("p.prompty") == "serverless"
    assert selected_configuration("p.prompty") == SERVE
    data = json.loads(selections_path().read_text())
    del data["connections"]["serve"]  # another process removed it by hand
    selections_path().write_text(json.dumps(data))
    with pytest.raises(InvokerConfigError, match="no longer exists"):
        selected_invoker("p.prompty")


def test_defaults_must_name_a_connection_of_that_invoker() -> None:
    save_connection("serve", "serverless", SERVE)
    with pytest.raises(InvokerConfigError, match="no connection named 'nope'"):
        set_default("serverless", "nope")
    with pytest.raises(InvokerConfigError, match="cannot be the default for 'openai'"):
        set_default("openai", "serve")
    set_default("serverless", "serve")
    assert read_store()["defaults"] == {"serverless": "serve"}
    save_connection("serve", "openai", {"name": "gpt"})  # its invoker changed
    assert read_store()["defaults"] == {}


def test_execute_resolution_order(write_prompt: PromptWriter) -> None:
    InvokerFactory.register("echo", Echo)
    InvokerFactory.register("echo2", Echo)
    save_connection("conn", "echo", {"endpoint": "from-connection"})
    save_connection("conn2", "echo2", {"endpoint": "from-default"})
    path = write_prompt({"type": "echo", "endpoint": "from-file"})
    local = write_prompt()  # written for local, no configuration

    # the file's own configuration, even with a default for its invoker
    set_default("echo", "conn")
    assert "from-file" in execute(path).text
    # a selected connection wins over the file
    select_connection(path, "conn")
    result = execute(path)
    assert result.invoker == "echo" and "from-connection" in result.text
    # an explicit argument wins over the selection; the default fills its configuration
    set_default("echo2", "conn2")
    result = execute(path, invoker="echo2")
    assert result.invoker == "echo2" and "from-default" in result.text
    # an explicit connection name
    result = execute(local, invoker="conn2")
    assert result.invoker == "echo2" and "from-default" in result.text
    # a selection of an invoker (no configuration): its default connection applies
    select_invoker(local, "echo")
    assert "from-connection" in execute(local).text
    # with stored fields, those are used instead
    select_invoker(local, "echo", configuration={"endpoint": "from-selection"})
    assert "from-selection" in execute(local).text


def test_malformed_store_names_file_and_line_and_is_kept() -> None:
    path = selections_path()
    path.parent.mkdir(parents=True)
    text = '{\n  "connections": {\n    "c": {"invoker": 3}\n  }\n}\n'
    path.write_text(text)
    with pytest.raises(InvokerConfigError, match=rf"{path}, line 3.*expected shape"):
        save_connection("d", "openai", {})
    hand_edited = '{"connections": {"c": {"invoker": "openai", "configuration": {"api_key": "k"}}}}'
    path.write_text(hand_edited)
    with pytest.raises(InvokerConfigError, match="literal key") as info:
        select_invoker("x.prompty", "local")
    assert "'k'" not in str(info.value)
    assert path.read_text() == hand_edited


def test_unknown_top_level_fields_survive_a_write() -> None:
    path = selections_path()
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "future": {"x": 1}}')
    select_invoker("x.prompty", "local")
    assert json.loads(path.read_text())["future"] == {"x": 1}


def test_a_store_from_a_newer_version_is_read_but_never_rewritten() -> None:
    path = selections_path()
    path.parent.mkdir(parents=True)
    newer = json.dumps(
        {
            "version": 2,
            "selections": {},
            "connections": {"c": {"invoker": "local", "configuration": {}}},
            "future": {"x": 1},
        }
    )
    path.write_text(newer)
    assert get_connection("c") is not None  # read what this version understands
    writes = [
        lambda: select_invoker("x.prompty", "local"),
        lambda: save_connection("d", "local", {}),
        lambda: set_default("local", "c"),
        lambda: delete_connection("c"),
    ]
    for write in writes:
        with pytest.raises(InvokerConfigError) as info:
            write()
        message = str(info.value)
        assert str(path) in message and "store version 2" in message
        assert "Upgrade jupyter_invoker" in message
    assert path.read_text() == newer
    # A newer shape this version cannot read says to upgrade too.
    path.write_text('{"version": 3, "selections": []}')
    with pytest.raises(InvokerConfigError, match="Upgrade jupyter_invoker"):
        read_store()
    path.write_text('{"version": "2"}')
    with pytest.raises(InvokerConfigError, match='"version" must be a whole number'):
        select_invoker("x.prompty", "local")


# -- status -------------------------------------------------------------------------------


def test_configuration_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    assert configuration_needs("serverless", {}) == [
        "configuration.endpoint",
        "configuration.model",
    ]
    assert configuration_needs("serverless", SERVE) == ["SERVE_KEY"]
    monkeypatch.setenv("SERVE_KEY", "v")
    assert configuration_needs("serverless", SERVE) == []
    assert configuration_needs("openai", {"name": "g"}) == ["OPENAI_API_KEY"]
    assert configuration_needs("openai", {"name": "g", "base_url": "http://x"}) == []
    assert configuration_needs("azure", None, fields=False) == [
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
    ]


def test_statuses_builtins_registered_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    InvokerFactory.register("echo", Echo)
    rows = {s.name: s for s in invoker_statuses()}
    assert rows["local"].kind == "builtin" and rows["local"].ready
    assert rows["openai"].needs == ["OPENAI_API_KEY"] and not rows["openai"].ready
    assert rows["azure"].aliases == ["azure_openai"] and "azure_openai" not in rows
    assert rows["echo"].kind == "registered" and rows["echo"].ready
    save_connection("serve", "serverless", SERVE)
    set_default("serverless", "serve")
    row = {s.name: s for s in invoker_statuses()}["serverless"]
    assert row.default_connection == "serve" and row.needs == ["SERVE_KEY"]
    monkeypatch.setenv("SERVE_KEY", FAKE_KEY)
    row = {s.name: s for s in invoker_statuses()}["serverless"]
    assert row.ready and FAKE_KEY not in json.dumps(row.to_json())


def test_entry_point_invokers_are_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "site" / "ji_fake_ep-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ji-fake-ep\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[jupyter_invoker.invokers]\nfromplugin = ji_fake_missing_module:Thing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    row = {s.name: s for s in invoker_statuses()}["fromplugin"]
    assert row.kind == "entry_point" and row.needs == ["package:ji_fake_missing_module"]


KERNEL = """
import sys
from jupyter_invoker.invokers import Invoker, InvokerFactory

@InvokerFactory.register("from-kernel")
class FromKernel(Invoker):
    def invoke_sync(self, data):
        return "hi"

print("registered", flush=True)
sys.stdin.readline()
"""


def test_names_registered_in_a_live_kernel_are_listed(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "JUPYTER_INVOKER_CONFIG_DIR": str(selections_path().parent),
        "JUPYTER_INVOKER_RECORD_REGISTRATIONS": "1",
    }
    kernel = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KERNEL)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert kernel.stdin is not None and kernel.stdout is not None
    try:
        assert kernel.stdout.readline().strip() == "registered"
        assert live_kernel_invokers() == {"from-kernel": [kernel.pid]}
        row = {s.name: s for s in invoker_statuses()}["from-kernel"]
        assert row.kind == "kernel" and row.ready
    finally:
        kernel.stdin.write("\n")
        kernel.stdin.flush()
        kernel.wait(30)
    assert live_kernel_invokers() == {}  # its pid is gone
    assert "from-kernel" not in {s.name for s in invoker_statuses()}


def test_no_recording_outside_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUPYTER_INVOKER_RECORD_REGISTRATIONS", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    InvokerFactory.register("quiet", Echo)
    assert not selections_path().exists()


def test_a_rename_keeps_the_connection_default_of_its_invoker() -> None:
    # The rename loop once reused the name `kind`, so the clean-up after it compared
    # against the last invoker in `defaults` and dropped the renamed connection's own.
    save_connection("a", "openai", {"name": "gpt"})
    save_connection("s", "serverless", SERVE)
    set_default("openai", "a")
    set_default("serverless", "s")
    save_connection("b", "openai", {"name": "gpt"}, previous="a")
    assert read_store()["defaults"] == {"openai": "b", "serverless": "s"}
