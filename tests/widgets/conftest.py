"""Fixtures: the real default model, a save_all generate run on it, tiny random models."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from jupyter_invoker import LanguageModel

PARIS = "The Eiffel Tower is in the city of"


@pytest.fixture(scope="session")
def paris_trace(model: LanguageModel) -> Any:
    """``model.trace(PARIS)`` with every module saved (lm_head covers every position)."""
    with model.trace(PARIS) as tracer:
        tracer.invoker.save_all()
    return tracer


@pytest.fixture(scope="session")
def paris_generate(model: LanguageModel) -> Any:
    """Four greedy steps of PARIS with every module saved at every step."""
    with model.generate(max_new_tokens=4, do_sample=False) as generator:
        with generator.invoke(PARIS) as invoker:
            for _ in range(4):
                invoker.save_all()
                invoker.next()
    return generator


def tiny(model: LanguageModel, kind: str, **extra: Any) -> LanguageModel:
    """A 2-layer random model of one architecture, on the default tokenizer."""
    import transformers as tf

    torch.manual_seed(0)
    vocab, pad = len(model.tokenizer), model.tokenizer.pad_token_id
    configs = {
        "llama": (tf.LlamaConfig, tf.LlamaForCausalLM, {"hidden_size": 32, "intermediate_size": 64,
                  "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1}),
        "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM, {"hidden_size": 32, "intermediate_size": 64,
                  "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1}),
        "gpt2": (tf.GPT2Config, tf.GPT2LMHeadModel, {"n_embd": 32, "n_layer": 2, "n_head": 2,
                 "n_positions": 128}),
        "gpt_neox": (tf.GPTNeoXConfig, tf.GPTNeoXForCausalLM, {"hidden_size": 32,
                     "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}),
        "opt": (tf.OPTConfig, tf.OPTForCausalLM, {"hidden_size": 32, "ffn_dim": 64,
                "num_hidden_layers": 2, "num_attention_heads": 2, "word_embed_proj_dim": 32}),
    }  # fmt: skip
    config_cls, model_cls, sizes = configs[kind]
    options = {"max_position_embeddings": 128, **sizes, **extra}
    config = config_cls(vocab_size=vocab, pad_token_id=pad, bos_token_id=None, eos_token_id=None,
                        **options)  # fmt: skip
    return LanguageModel(model_cls(config).eval(), tokenizer=model.tokenizer)
