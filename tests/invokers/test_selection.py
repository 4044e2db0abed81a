from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jupyter_invoker.exceptions import InvokerConfigError
from jupyter_invoker.invokers import (
    clear_selection,
    select_invoker,
    selected_configuration,
    selected_invoker,
    selections_path,
)
from jupyter_invoker.invokers._selection import all_selections


def test_location_env_var_then_xdg_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert selections_path() == tmp_path / "config" / "selections.json"
    monkeypatch.delenv("JUPYTER_INVOKER_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert selections_path() == tmp_path / "xdg" / "jupyter_invoker" / "selections.json"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert (
        selections_path() == tmp_path / "home" / ".config" / "jupyter_invoker" / "selections.json"
    )


def test_select_read_clear_roundtrip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prompt = tmp_path / "weather.prompty"
    prompt.write_text("template: hi\n")
    assert selected_invoker(prompt) is None
    select_invoker(prompt, "openai", configuration={"base_url": "http://127.0.0.1:9/v1"})
    monkeypatch.chdir(tmp_path)  # a relative path names the same prompt
    assert selected_invoker("weather.prompty") == "openai"
    assert selected_configuration("weather.prompty") == {"base_url": "http://127.0.0.1:9/v1"}
    stored = json.loads(selections_path().read_text())
    assert stored["version"] == 1
    assert list(stored["selections"]) == [str(prompt.resolve())]
    clear_selection("weather.prompty")
    assert selected_invoker(prompt) is None
    clear_selection(prompt)  # clearing twice is fine


def test_reread_on_every_call(tmp_path: Path) -> None:
    prompt = tmp_path / "a.prompty"
    select_invoker(prompt, "openai")
    # another process (the sidebar's server) rewrites the file
    data = json.loads(selections_path().read_text())
    data["selections"][str(prompt.resolve())]["invoker"] = "azure"
    selections_path().write_text(json.dumps(data))
    assert selected_invoker(prompt) == "azure"


def test_writes_are_atomic_and_leave_no_temp_files(tmp_path: Path) -> None:
    for i in range(5):
        select_invoker(tmp_path / f"p{i}.prompty", "local")
    leftovers = [p.name for p in selections_path().parent.iterdir()]
    assert sorted(leftovers) == ["selections.json", "selections.json.lock"]
    assert len(all_selections()) == 5


def test_corrupt_file_names_the_file(tmp_path: Path) -> None:
    path = selections_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(InvokerConfigError) as info:
        selected_invoker(tmp_path / "x.prompty")
    assert str(path) in str(info.value) and "delete it" in str(info.value)
    path.write_text('{"selections": {"/x": "openai"}}')
    with pytest.raises(InvokerConfigError, match="expected shape"):
        selected_invoker(tmp_path / "x.prompty")


def test_secrets_are_refused_env_references_allowed(tmp_path: Path) -> None:
    prompt = tmp_path / "x.prompty"
    with pytest.raises(InvokerConfigError, match="never holds secrets"):
        select_invoker(prompt, "openai", configuration={"api_key": "sk-FAKE-LEAK-CHECK-123456"})
    with pytest.raises(InvokerConfigError, match="never holds secrets"):
        select_invoker(prompt, "serverless", configuration={"key": "abc"})
    assert not selections_path().exists() or "sk-FAKE" not in selections_path().read_text()
    select_invoker(prompt, "openai", configuration={"api_key": "${env:MY_KEY}"})
    assert selected_configuration(prompt) == {"api_key": "${env:MY_KEY}"}


def test_invalid_name_refused(tmp_path: Path) -> None:
    with pytest.raises(InvokerConfigError, match="not valid"):
        select_invoker(tmp_path / "x.prompty", "bad name")


def test_file_permissions_are_not_world_readable(tmp_path: Path) -> None:
    select_invoker(tmp_path / "x.prompty", "local")
    mode = os.stat(selections_path()).st_mode & 0o777
    assert mode & 0o077 == 0  # mkstemp creates 0600
