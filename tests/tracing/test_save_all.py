"""save_all(): every module's output at a step, containers skipped, whole step covered."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
import torch

from jupyter_invoker import LanguageModel
from jupyter_invoker.exceptions import OutOfOrderError, TracingError

PARIS = "The Eiffel Tower is in the city of"


def test_save_all_keys_and_values(model: LanguageModel, clean_after) -> None:
    with model.trace(PARIS) as tracer:
        everything = tracer.invoker.save_all()
    for key in (
        "model.layers.0",
        "model.layers.29.mlp",
        "lm_head",
        "model.embed_tokens",
        "model.norm",
    ):
        assert key in everything, key
    assert "model.layers" not in everything and "" not in everything  # containers, root
    assert len(everything) == 30 * 13 + 5  # layers x modules + embed, rotary, norm, model, lm_head
    assert isinstance(everything["model.layers.3"], torch.Tensor)
    assert isinstance(everything["model.layers.3.self_attn"], tuple)  # kept as returned
    assert model.tokenizer.decode(everything["lm_head"][0, -1].argmax()) == " Paris"
    with model.trace(PARIS):
        layer3 = model.model.layers[3].output.save()
    assert torch.equal(everything["model.layers.3"], layer3)
    assert "model.layers.3.output" in tracer.saved[0][0]


def test_save_all_part_way_through_a_step_covers_the_whole_step(model: LanguageModel, clean_after):
    with model.trace(PARIS) as tracer:
        model.model.layers[20].output  # the model has passed layers 0..20
        late = tracer.invoker.save_all()
    assert "model.layers.0.mlp" in late and "lm_head" in late
    with model.trace(PARIS) as tracer:
        early = tracer.invoker.save_all()
    assert late.keys() == early.keys()
    assert all(torch.equal(late[k], early[k]) for k in ("model.layers.0", "lm_head"))


def test_save_all_per_generation_step(model: LanguageModel, clean_after) -> None:
    with model.generate(max_new_tokens=3) as generator:
        with generator.invoke(PARIS) as invoker:
            step0 = invoker.save_all()
            invoker.next()
            step1 = invoker.save_all()
    assert step0["model.layers.0"].shape[1] == 9  # the prompt
    assert step1["model.layers.0"].shape[1] == 1  # one new token, cache holds the rest
    assert invoker.output_ids[0, 9] == step0["lm_head"][0, -1].argmax()
    assert sorted(generator.saved[0]) == [0, 1]


def test_save_all_errors_are_explicit(model: LanguageModel) -> None:
    with model.generate(max_new_tokens=3, keep_step_outputs=False) as generator:
        with generator.invoke(PARIS) as invoker:
            model.model.layers[5].output
            with pytest.raises(TracingError, match="part-way through step 0"):
                invoker.save_all()
            invoker.next()
            model.lm_head.output
            invoker.step = 0
            with pytest.raises(OutOfOrderError, match="too late"):
                invoker.save_all()
    with pytest.raises(TracingError, match="inside its"):
        invoker.save_all()


def test_save_all_leaves_no_wrapper_and_respects_foreign_ones(model: LanguageModel) -> None:
    mlp = model.hf_model.model.layers[0].mlp
    assert "forward" not in vars(mlp)
    with model.trace(PARIS) as tracer:
        everything = tracer.invoker.save_all()
        inner = mlp.forward  # the recording wrapper: someone wraps it again mid-run
        mlp.forward = lambda *args, **kwargs: inner(*args, **kwargs)
    assert "model.layers.0.mlp" in everything
    foreign = vars(mlp)["forward"]
    assert foreign.__name__ == "<lambda>"  # theirs is left in place, not undone by ours
    del mlp.forward
    with model.trace(PARIS):
        pass
    assert all("forward" not in vars(m) for m in model.hf_model.modules())


def _freed_without_gc(make: Any) -> bool:
    """Whether the tensors ``make()`` saved are freed by reference counting alone."""
    gc.collect()
    gc.disable()
    try:
        holder, tensor = make()
        ref = weakref.ref(tensor)
        del holder, tensor
        return ref() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("keep", ["save_all dict", "generator", "invoker"])
def test_a_finished_run_is_freed_when_dropped_not_at_the_next_collection(
    model: LanguageModel, keep: str
) -> None:
    # A Generator <-> Invoker reference cycle held every saved tensor until the garbage
    # collector ran: each save_all() run then needed 74 MB of fresh memory (20,000 page
    # faults a call), 1.17x a plain forward instead of 1.04x.
    def make() -> tuple[Any, torch.Tensor]:
        with model.generate(max_new_tokens=2) as generator:
            with generator.invoke(PARIS) as invoker:
                everything = invoker.save_all()
        holder = {"save_all dict": everything, "generator": generator, "invoker": invoker}
        return holder[keep], everything["model.layers.5.mlp"]

    assert _freed_without_gc(make)


def test_an_invoker_outliving_its_generator_says_so_and_still_shows(model: LanguageModel) -> None:
    import jupyter_invoker

    with model.generate(max_new_tokens=2) as generator:
        with generator.invoke(PARIS) as invoker:
            invoker.save_all()
    del generator
    gc.collect()
    with pytest.raises(TracingError, match=r"generator no longer exists.*Keep the generator"):
        invoker.generator
    assert invoker.text and "model.layers.0.output" in invoker.saved[0]
    browser = jupyter_invoker.show(invoker)  # no IPython here: built, not displayed
    assert browser.capture.mode == "generate" and len(browser.capture.runs) == 1


def test_save_all_after_an_assignment_holds_the_assigned_value(
    model: LanguageModel, clean_after
) -> None:
    with model.trace(PARIS) as tracer:
        mlp = model.model.layers[0].mlp
        mlp.output = torch.zeros_like(mlp.output)
        everything = tracer.invoker.save_all()
        later = model.model.layers[0].output.save()
    assert torch.count_nonzero(everything["model.layers.0.mlp"]) == 0
    assert torch.equal(everything["model.layers.0"], later)  # what the model went on with
    with model.trace(PARIS) as tracer:
        first = tracer.invoker.save_all()  # asked for before the assignment: the same
        mlp = model.model.layers[0].mlp
        mlp.output = torch.zeros_like(mlp.output)
    assert torch.count_nonzero(first["model.layers.0.mlp"]) == 0


def _wrapped_forwards(model: LanguageModel) -> list[str]:
    return [name for name, module in model.hf_model.named_modules() if "forward" in vars(module)]


def test_save_all_only_wraps_and_keeps_only_the_matching_modules(
    model: LanguageModel, clean_after
) -> None:
    with model.generate(max_new_tokens=2) as generator:
        with generator.invoke(PARIS) as invoker:
            mlps = invoker.save_all(only="model.layers.*.mlp")
            model.model.layers[0].output  # the run has started: wrappers are in place
            wrapped = _wrapped_forwards(model)
            invoker.next()
            attn = invoker.save_all(only=["model.layers.1?.self_attn", "lm_head"])
    assert len(wrapped) == 30 and all(w.endswith(".mlp") for w in wrapped)
    assert sorted(mlps) == sorted(f"model.layers.{i}.mlp" for i in range(30))
    assert sorted(attn) == ["lm_head"] + [f"model.layers.1{i}.self_attn" for i in range(10)]
    with model.trace(PARIS) as tracer:
        everything = tracer.invoker.save_all()
    assert torch.equal(mlps["model.layers.7.mlp"], everything["model.layers.7.mlp"])
    assert set(invoker.outputs(0)) == set(mlps) and set(invoker.outputs(1)) == set(attn)


def test_save_all_only_part_way_and_its_errors(model: LanguageModel, clean_after) -> None:
    with model.trace(PARIS) as tracer:
        model.model.layers[20].output  # a body that mentions save_all keeps every module
        late = tracer.invoker.save_all(only="model.layers.1.*")
    assert "model.layers.1.mlp" in late and "model.layers.2.mlp" not in late
    with model.trace(PARIS) as tracer:
        tracer.invoker.save_all(only="lm_head")  # before anything: only lm_head is kept
        model.model.layers[5].output
        with pytest.raises(TracingError, match=r"part-way through step 0.*save_all\(only"):
            tracer.invoker.save_all()
        with pytest.raises(TracingError, match=r"only='model\.layer\.\*'.*matches no module"):
            tracer.invoker.save_all(only="model.layer.*")
        with pytest.raises(TracingError, match=r"takes a glob"):
            tracer.invoker.save_all(only=[3])


def test_invoker_public_face(model: LanguageModel) -> None:
    with model.trace(PARIS) as tracer:
        model.model.layers[3].input.save()
        logits = model.lm_head.output.save()
    invoker = tracer.invoker
    assert invoker is not None
    assert invoker.model is model and invoker.mode == "trace"
    assert list(invoker.outputs()) == ["lm_head"] and invoker.outputs()["lm_head"] is logits
    assert invoker.outputs(step=3) == {}
