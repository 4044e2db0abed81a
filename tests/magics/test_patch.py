"""%patch through a real IPython shell: the heatmap shown, the result bound, usage errors."""

from __future__ import annotations

import pytest
import torch
from _shared import hooks_left
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import jupyter_invoker as ji
from jupyter_invoker import LanguageModel
from jupyter_invoker.patching import PatchResult
from jupyter_invoker.patching._sites import SITES

from .conftest import Recorder

EIFFEL = '"The Eiffel Tower is in the city of"'
COLOSSEUM = '"The Colosseum is in the city of"'
FAST = "--layers 0,29 --positions 2,-1"
PLOTLY = "application/vnd.plotly.v1+json"


def test_patch_shows_the_heatmap_and_binds_the_result(
    shell: InteractiveShell, displays: Recorder, lm: LanguageModel
) -> None:
    result = shell.run_cell(f"%patch {EIFFEL} {COLOSSEUM} --sites resid,heads {FAST} --out swept")
    assert result.success, result.error_in_exec
    swept = shell.user_ns["swept"]
    assert isinstance(swept, PatchResult) and result.result is swept
    figures = [data for data, _, _ in displays.messages if PLOTLY in data]
    assert len(figures) == 1  # the heatmap once; the result is not shown again as text
    assert figures[0]["text/plain"].startswith("<plotly figure: logit difference ' Paris'")
    same = ji.patch(lm, "The Eiffel Tower is in the city of", "The Colosseum is in the city of",
                    sites=("resid", "heads"), layers=[0, 29], positions=[2, -1])  # fmt: skip
    assert torch.equal(swept.effect, same.effect) and torch.equal(
        swept.head_effect, same.head_effect
    )
    assert hooks_left(lm) == []


def test_patch_reads_variables_and_attribution(shell: InteractiveShell) -> None:
    shell.user_ns["clean"] = "The Eiffel Tower is in the city of"
    shell.user_ns["corrupt"] = "The Colosseum is in the city of"
    try:
        value = shell.run_line_magic(
            "patch", f'clean corrupt --attribution --answer " Paris" --wrong " Rome" {FAST}'
        )
    finally:
        shell.user_ns.pop("clean")
        shell.user_ns.pop("corrupt")
    assert value.method == "attribution" and value.sites == ("resid",)
    assert "' Paris' − ' Rome'" in value.metric
    assert value.effect.shape == (1, 2, 2)


def test_the_magic_knows_the_package_sites() -> None:
    from jupyter_invoker.magics._parse import PATCH_SITES

    assert PATCH_SITES == SITES


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", r"CLEAN and CORRUPT are two prompts.*got none"),
        (EIFFEL, r"CLEAN and CORRUPT are two prompts.*got \"The Eiffel Tower is in the city of\""),
        (f"{EIFFEL} {COLOSSEUM} extra", r"got .* extra"),
        (f"{EIFFEL} {COLOSSEUM} --sites resid,mlpp", r"--sites takes some of resid,attn,mlp,heads"),
        (f"{EIFFEL} {COLOSSEUM} --layers a", r"--layers takes whole numbers separated by commas"),
        (f"{EIFFEL} {COLOSSEUM} --bad", r"unrecognized arguments: --bad"),
        (f"{EIFFEL} {COLOSSEUM} --out model", r"--out model: `model` is a name the magic binds"),
        (f"{EIFFEL} {COLOSSEUM} --answer", r"argument --answer: expected one argument"),
    ],
)
def test_usage_errors(shell: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        shell.run_line_magic("patch", line)
    assert str(info.value).startswith("usage: %patch CLEAN CORRUPT")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"{EIFFEL} nowhere", r"%patch CORRUPT: `nowhere` is not a notebook variable"),
        (f'{EIFFEL} "Rome is in"', r"same number of tokens.*clean prompt has 9.*corrupt one 3"),
        (f"{EIFFEL} {COLOSSEUM} --layers 30", r"Layer 30 is out of range: there are 30 layers"),
        (f'{EIFFEL} {COLOSSEUM} --answer " Pari sian"', r"is \d tokens"),
        (f"{EIFFEL} {COLOSSEUM} --model nope", r"--model nope: that variable is not defined"),
    ],
)
def test_what_cannot_run_is_one_line(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str], lm: LanguageModel, line: str,
    message: str,
) -> None:  # fmt: skip
    with pytest.raises(UsageError, match=message):
        shell.run_line_magic("patch", line)
    capsys.readouterr()
    shell.run_cell(f"%patch {line}")
    err = capsys.readouterr().err
    assert "UsageError" in err and "Traceback" not in err
    assert hooks_left(lm) == []
