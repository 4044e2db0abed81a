"""The server's ``exclude`` setting: test fixtures and drafts stay out of the sidebar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import CAPITAL, Api


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_invoker": True}},
        "JupyterInvoker": {"exclude": ["broken", "notebooks/prompts/weather.prompty"]},
    }


async def test_the_exclude_setting_keeps_folders_and_files_out(api: Api, workspace: Path) -> None:
    (workspace / "tests" / "broken").mkdir(parents=True)
    (workspace / "tests" / "broken" / "x.prompty").write_text(CAPITAL)
    status, body = await api("GET", "prompts")
    assert status == 200
    assert [row["path"] for row in body["prompts"]] == [
        "literal.prompty",
        "notebooks/prompts/capital.prompty",
    ]
