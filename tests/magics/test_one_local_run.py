"""Every local run builds its ExecutionResult in one place: execute(), %invoke and
%invoke --invoker local,local report the same counts and text for the same batch."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from jupyter_invoker import LanguageModel
from jupyter_invoker.invokers import ExecutionResult, InvokerFactory
from jupyter_invoker.invokers._local import model_slot, run_local
from jupyter_invoker.prompty import Prompty

pytestmark = pytest.mark.slow

# Different token lengths, so the batch is left-padded.
BATCH = ["The Eiffel Tower is in the city of", "Hello"]


def _prompty() -> Prompty:
    prompty = Prompty(path=Path.cwd() / "batch.prompty", template="{{ x }}", name="batch")
    prompty.model.parameters = {"max_tokens": 4, "temperature": 0}
    return prompty


def test_one_result_for_the_same_batch_everywhere(
    shell: InteractiveShell, lm: LanguageModel
) -> None:
    shell.user_ns["batch"] = BATCH
    magic = shell.run_line_magic("invoke", "batch --max-new-tokens 4 --no-display")
    pair = shell.run_line_magic(
        "invoke", "batch --invoker local,local --max-new-tokens 4 --no-display"
    )
    called = InvokerFactory.call("local", _prompty(), BATCH)
    results: list[ExecutionResult] = [magic, *pair, called]
    assert len(results) == 4 and all(isinstance(r, ExecutionResult) for r in results)
    for result in results:
        assert result.usage == magic.usage
        assert result.text == magic.text
        assert result.extra["texts"] == magic.extra["texts"]
    # Prompt tokens are the real ones, not the padded width times the rows.
    alone = [len(lm.tokenizer(text).input_ids) for text in BATCH]
    assert alone[0] != alone[1]
    assert magic.usage["prompt_tokens"] == sum(alone)
    assert magic.text == "\n".join(magic.extra["texts"])
    assert magic.usage["completion_tokens"] == 8


def test_a_row_that_ends_early_counts_only_its_tokens(lm: LanguageModel) -> None:
    # The chat prompt answers in seven tokens and ends its turn; the story does not.
    eos = lm.tokenizer.eos_token_id
    short = lm.tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2+2? Answer with one number."}],
        add_generation_prompt=True,
        tokenize=False,
    )
    result = run_local(lm, [short, "Once upon a time, in a land far away,"],
                       {"max_new_tokens": 12, "do_sample": False})  # fmt: skip
    rows = result.raw.output_ids[:, result.raw.input_ids.shape[-1] :].tolist()
    assert eos in rows[0] and eos not in rows[1]
    assert result.usage["completion_tokens"] == rows[0].index(eos) + 1 + 12
    assert result.finish_reason == "stop"


def test_the_kernel_default_model_is_public(lm: LanguageModel) -> None:
    slot = model_slot(None)
    assert slot.model is lm
    assert slot.lock.acquire(blocking=False)  # re-entrant, free when nothing runs
    slot.lock.release()
