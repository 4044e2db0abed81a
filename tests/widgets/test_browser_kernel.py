"""The live controls, driven from a real kernel: each control change (a widget-state
message as the front end sends it) replaces the figure's own display in place through
its display id, and sends exactly one view."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # a real kernel

MIME = "application/vnd.plotly.v1+json"
LIVE = "application/vnd.jupyter-invoker.plotly+json"  # our renderer's marker
WIDGET = "application/vnd.jupyter.widget-view+json"

SETUP = """
import torch, transformers as tf
import jupyter_invoker as ji
from jupyter_invoker import LanguageModel
from jupyter_invoker.models._default import default_model_path
tok = tf.AutoTokenizer.from_pretrained(default_model_path())
torch.manual_seed(0)
config = tf.LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
    num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=1,
    max_position_embeddings=128, pad_token_id=tok.pad_token_id)
lm = LanguageModel(tf.LlamaForCausalLM(config), tokenizer=tok)
with lm.generate(max_new_tokens=3, do_sample=False) as generator:
    with generator.invoke("The Eiffel Tower is in the city of") as invoker:
        for _ in range(3):
            invoker.save_all()
            invoker.next()
browser = ji.show(generator)
"""


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(startup_timeout=120)
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _replies(client: Any, msg_id: str, timeout: float = 120) -> list[dict[str, Any]]:
    """Every IOPub message caused by ``msg_id``, up to its idle status."""
    out = []
    while True:
        try:
            msg = client.get_iopub_msg(timeout=timeout)
        except queue.Empty:  # pragma: no cover - the assertion below says what is missing
            raise AssertionError(
                f"no idle status for {msg_id}; got {[m['msg_type'] for m in out]}"
            ) from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return out
        out.append(msg)


def _run(client: Any, code: str) -> list[dict[str, Any]]:
    messages = _replies(client, client.execute(code))
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert not errors, errors
    return messages


def _control(client: Any, name: str, state: dict[str, Any]) -> list[dict[str, Any]]:
    """Send a widget state update as the front end does, for one control."""
    printed = _run(client, f"print(browser.controls[{name!r}].model_id)")
    comm_id = "".join(m["content"]["text"] for m in printed if m["msg_type"] == "stream").strip()
    content = {"comm_id": comm_id, "data": {"method": "update", "state": state, "buffer_paths": []}}
    msg = client.session.msg("comm_msg", content)
    client.shell_channel.send(msg)
    return _replies(client, msg["header"]["msg_id"])


def _figures(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in messages if m["msg_type"] == kind and MIME in m["content"]["data"]]


def test_controls_update_the_figure_in_place(kernel: Any) -> None:
    shown = _run(kernel, SETUP)
    displays = [m for m in shown if m["msg_type"] == "display_data"]
    assert [WIDGET in m["content"]["data"] for m in displays] == [True, False]
    # where no kernel draws the controls (VS Code, nbviewer, an untrusted reopen): a sentence
    controls_text = displays[0]["content"]["data"]["text/plain"]
    assert controls_text.startswith("Activation browser controls") and "VBox(" not in controls_text
    figure = displays[1]["content"]
    # plotly's own figure, our renderer's marker beside it, no HTML/script
    assert set(figure["data"]) == {LIVE, MIME, "text/plain"}
    assert figure["data"][LIVE] == {"source": MIME}
    display_id = figure["transient"]["display_id"]
    assert figure["data"][MIME]["layout"]["title"]["text"].startswith("Logit lens")

    def one_update(name: str, state: dict[str, Any]) -> dict[str, Any]:
        messages = _control(kernel, name, state)
        updates = _figures(messages, "update_display_data")
        assert len(updates) == 1, (name, [m["msg_type"] for m in messages])
        assert not _figures(messages, "display_data")  # nothing new appended below
        assert updates[0]["content"]["transient"]["display_id"] == display_id
        return updates[0]["content"]["data"][MIME]

    fig = one_update("view", {"index": 1})
    assert fig["layout"]["title"]["text"].startswith("Residual norm · model.layers.*")
    fig = one_update("step", {"index": 0})
    assert fig["layout"]["sliders"][0]["active"] == 0 and "step 0" in fig["layout"]["title"]["text"]
    fig = one_update("view", {"index": 0})
    assert fig["layout"]["title"]["text"].startswith("Logit lens")
    fig = one_update("top_k", {"value": 3})
    assert fig["data"][0]["hovertext"][0][0].count("<br>") == 3  # header + top-3
    fig = one_update("track", {"value": " Paris"})
    assert any(t.get("name", "").endswith("(tracked)") for t in fig["data"])
    fig = one_update("view", {"index": 2})  # module: the module menu applies now
    assert fig["layout"]["title"]["text"].startswith("model.layers.2.mlp output")
    fig = one_update("module", {"index": 2})
    assert fig["layout"]["title"]["text"].startswith("model.layers.0.")
    sent = _run(kernel, "print(browser.sent)")
    assert "".join(m["content"]["text"] for m in sent if m["msg_type"] == "stream").strip() == "8"


def test_update_as_the_last_line_of_a_cell_sends_one_figure(kernel: Any) -> None:
    shown = _run(kernel, SETUP)
    display_id = [m for m in shown if m["msg_type"] == "display_data"][1]["content"]["transient"][
        "display_id"
    ]
    messages = _run(kernel, 'browser.update(view="residual_norm")')
    updates = _figures(messages, "update_display_data")
    assert len(updates) == 1 and updates[0]["content"]["transient"]["display_id"] == display_id
    assert not _figures(messages, "display_data") and not _figures(messages, "execute_result")
    assert not [m for m in messages if m["msg_type"] == "execute_result"]
