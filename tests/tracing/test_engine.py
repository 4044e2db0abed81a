"""The eager interleaving engine, one behaviour per test, on the real model."""

from __future__ import annotations

import io
import sys
import threading
import traceback

import pytest
import torch
from _shared import interrupt_after_steps

from jupyter_invoker import LanguageModel
from jupyter_invoker.exceptions import ModuleNotReachedError, OutOfOrderError, TracingError

PARIS = "The Eiffel Tower is in the city of"
ROME = "The Colosseum is in the city of"


def plain_logits(model: LanguageModel, prompt: str) -> torch.Tensor:
    ids = model.tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        return model.hf_model(**ids).logits


def next_token(model: LanguageModel, logits: torch.Tensor) -> str:
    return model.tokenizer.decode(logits[0, -1].argmax())


def test_body_is_ordinary_python_print_if_for(model: LanguageModel, clean_after, capsys) -> None:
    with model.trace(PARIS):
        norms = []
        for i in range(0, 30, 10):
            hidden = model.model.layers[i].output
            print("layer", i, tuple(hidden.shape))
            if hidden.norm() > 0:
                norms.append(float(hidden.norm()))
    out = capsys.readouterr().out
    assert "layer 0 (1, 9, 576)" in out and "layer 20 (1, 9, 576)" in out
    assert len(norms) == 3


def test_exec_string_and_one_line_body(model: LanguageModel, clean_after) -> None:
    namespace = {"model": model}
    exec(
        "with model.trace('The Eiffel Tower is in the city of'): out = model.lm_head.output.save()",
        namespace,
    )
    assert next_token(model, namespace["out"]) == " Paris"
    with model.trace(PARIS):
        one = model.lm_head.output.save()
    assert torch.equal(one, namespace["out"])


def test_function_defined_elsewhere_reads_modules(model: LanguageModel) -> None:
    def grab(layer: int) -> torch.Tensor:
        return model.model.layers[layer].output.save()

    with model.trace(PARIS):
        early, late = grab(2), grab(20)
    assert early.shape == late.shape == (1, 9, 576)


def test_time_cell_magic_in_a_real_ipython_shell(model: LanguageModel) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    # The process-wide shell (the magics tests may have made it first: a second,
    # different singleton class would be refused).
    ip = InteractiveShell.instance()
    ip.user_ns["model"] = model
    result = ip.run_cell(
        "%%time\nwith model.trace('The Eiffel Tower is in the city of'):\n"
        "    timed = model.lm_head.output.save()\n"
    )
    assert result.success, result.error_in_exec
    assert next_token(model, ip.user_ns["timed"]) == " Paris"


def test_saved_value_matches_plain_forward(model: LanguageModel) -> None:
    with model.trace(PARIS):
        traced = model.lm_head.output.save()
    assert torch.allclose(traced, plain_logits(model, PARIS), atol=1e-5)


def test_cross_prompt_patching_flips_rome_to_paris(model: LanguageModel, clean_after) -> None:
    with model.generate(max_new_tokens=1) as generator:
        with generator.invoke(PARIS):
            paris_hidden = model.model.layers[27].output[:, -1].save()
        with generator.invoke(ROME):
            model.model.layers[27].output[:, -1] = paris_hidden  # no barrier needed
            patched = model.lm_head.output.save()
        with generator.invoke(ROME) as untouched:
            clean = model.lm_head.output.save()
    assert next_token(model, clean) == " Rome"
    assert next_token(model, patched) == " Paris"
    assert untouched.text == " Rome"


def test_intervention_affects_only_its_own_invoke(model: LanguageModel) -> None:
    baseline = plain_logits(model, PARIS)
    with model.generate(max_new_tokens=2) as generator:
        with generator.invoke(PARIS):
            model.model.layers[10].output[:] = 0
            zeroed = model.lm_head.output.save()
        with generator.invoke(PARIS):
            other = model.lm_head.output.save()
    assert not torch.allclose(zeroed[0, -1], baseline[0, -1], atol=1e-3)
    assert torch.allclose(other[0, -1], baseline[0, -1], atol=1e-4)
    assert torch.allclose(plain_logits(model, PARIS), baseline)


def test_assignment_replaces_output_downstream(model: LanguageModel) -> None:
    with model.trace(PARIS):
        hidden = model.model.layers[29].output
        model.model.layers[29].output = hidden * 0
        assert torch.equal(model.model.layers[29].output, torch.zeros_like(hidden))
        final = model.model.norm.output.save()
    assert torch.count_nonzero(final) == 0


def test_model_never_computes_on_the_subclass(model: LanguageModel, clean_after) -> None:
    seen: list[type] = []
    probe = model.hf_model.model.norm.register_forward_pre_hook(
        lambda module, args: seen.append(type(args[0]))
    )
    try:
        with model.trace(PARIS):
            hidden = model.model.layers[29].output
            assert type(hidden).__name__ == "TracedTensor"
            model.model.layers[29].output = hidden * 2  # a TracedTensor handed back
    finally:
        probe.remove()
    assert seen and set(seen) == {torch.Tensor}


def test_input_and_inputs(model: LanguageModel) -> None:
    with model.trace(PARIS):
        args, kwargs = model.model.layers[5].inputs
        first = model.model.layers[5].input
        with pytest.raises(OutOfOrderError, match=r"model\.layers\.5\.input"):
            model.model.layers[4].output  # layer 4 ran before layer 5 was entered
    assert first is args[0]
    assert "attention_mask" in kwargs or "position_embeddings" in kwargs
    with model.trace(PARIS):
        layer4 = model.model.layers[4].output.save()
        layer5_in = model.model.layers[5].input.save()
    assert torch.equal(layer4, layer5_in)
    with model.trace(PARIS):
        model.model.layers[5].input = torch.zeros_like(model.model.layers[5].input)
        out = model.model.layers[5].output.save()
    with model.trace(PARIS):
        untouched = model.model.layers[5].output.save()
    assert not torch.allclose(out, untouched)


def test_derived_tensors_save(model: LanguageModel) -> None:
    with model.trace(PARIS) as tracer:
        doubled = (model.lm_head.output * 2).save()
        probs = model.lm_head.output.softmax(-1).save()
    assert type(doubled.value) is torch.Tensor
    assert torch.allclose(probs.sum(-1), torch.ones(1, 9), atol=1e-4)
    buffer = io.BytesIO()
    torch.save({"doubled": doubled}, buffer)
    buffer.seek(0)
    assert type(torch.load(buffer)["doubled"]) is torch.Tensor  # files never need this package
    names = list(tracer.saved[0][0])
    assert len(names) == 2 and all(n.startswith("saved_") for n in names)


def test_reread_returns_the_same_tensor(model: LanguageModel) -> None:
    with model.trace(PARIS):
        first = model.model.layers[3].output
        _ = model.model.layers[8].output
        again = model.model.layers[3].output
    assert again is first


def test_out_of_order_names_module_step_and_rule(model: LanguageModel, clean_after) -> None:
    with model.trace(PARIS):
        model.model.layers[8].output
        with pytest.raises(OutOfOrderError) as info:
            model.model.layers[3].output
    message = str(info.value)
    assert "model.layers.3.output" in message and "step 0" in message
    assert "in order" in message and "model.layers.8.output" in message


def test_out_of_order_earlier_step(model: LanguageModel, clean_after) -> None:
    with model.generate(max_new_tokens=3) as generator:
        with generator.invoke(PARIS) as invoker:
            invoker.next()
            model.lm_head.output
            invoker.step = 0
            with pytest.raises(OutOfOrderError, match="step 0"):
                model.model.layers[0].output


def test_next_steps_through_generation(model: LanguageModel, clean_after) -> None:
    with model.generate(max_new_tokens=3) as generator:
        with generator.invoke(PARIS) as invoker:
            picks = []
            for _ in range(3):
                picks.append(int(model.lm_head.output[0, -1].argmax()))
                invoker.next()
    generated = invoker.output_ids[0, -3:].tolist()
    assert picks == generated


def test_module_never_reached_raises_at_that_read(model: LanguageModel, clean_after) -> None:
    with model.generate(max_new_tokens=2) as generator:
        with generator.invoke(PARIS) as invoker:
            invoker.next(5)
            with pytest.raises(ModuleNotReachedError) as info:
                model.lm_head.output
    assert "lm_head.output" in str(info.value) and "step 5" in str(info.value)


def test_module_not_called_by_forward(tiny_llama: LanguageModel) -> None:
    extra = torch.nn.Linear(2, 2)
    tiny_llama.hf_model.model.add_module("unused_probe", extra)
    tiny_llama._modules["model.unused_probe"] = extra
    try:
        with tiny_llama.trace(PARIS):
            with pytest.raises(ModuleNotReachedError, match=r"model\.unused_probe"):
                tiny_llama.model.unused_probe.output
    finally:
        del tiny_llama.hf_model.model.unused_probe
        del tiny_llama._modules["model.unused_probe"]


def test_body_exception_keeps_user_traceback(model: LanguageModel, clean_after) -> None:
    with pytest.raises(ZeroDivisionError) as info:
        with model.trace(PARIS):
            model.model.layers[2].output
            1 / 0  # the user's own line
    frames = traceback.extract_tb(info.value.__traceback__)
    assert frames[-1].line == "1 / 0  # the user's own line"
    assert torch.allclose(plain_logits(model, PARIS), plain_logits(model, PARIS))


def test_model_exception_propagates_with_user_line(model: LanguageModel, clean_after) -> None:
    with pytest.raises(RuntimeError) as info:
        with model.trace(PARIS):
            model.model.layers[2].output = torch.zeros(3, 3)  # wrong shape
            model.lm_head.output  # the model fails before reaching this
    frames = traceback.extract_tb(info.value.__traceback__)
    assert any(f.line and "model.lm_head.output" in f.line for f in frames)
    assert any("modeling_llama" in f.filename for f in frames)


def test_model_error_caught_in_the_body_is_not_raised_again(model: LanguageModel, clean_after):
    with model.generate(max_new_tokens=2) as generator:
        with generator.invoke(PARIS) as failed:
            model.model.layers[2].output = torch.zeros(3, 3)
            with pytest.raises(RuntimeError):
                model.lm_head.output
        with generator.invoke(PARIS) as fine:
            pass
    assert failed.output_ids is None and failed.text is None
    assert fine.text == " Paris."


def test_keyboard_interrupt_stops_generation_within_a_step(model: LanguageModel, clean_after):
    with interrupt_after_steps(model) as overrun:
        with pytest.raises(KeyboardInterrupt):
            with model.generate(max_new_tokens=400, min_new_tokens=400) as generator:
                with generator.invoke(PARIS):
                    model.lm_head.output  # body waits while the model generates
                    generator.invoker  # then exits; the run continues in __exit__
    assert overrun() <= 1
    assert torch.allclose(plain_logits(model, PARIS), plain_logits(model, PARIS))


def test_any_exit_leaves_the_model_untraced(model: LanguageModel, clean_after) -> None:
    baseline = plain_logits(model, ROME)
    failures = 0
    for i in range(100):
        try:
            with model.generate(max_new_tokens=2) as generator:
                with generator.invoke(PARIS) as invoker:
                    if i % 4 == 0:
                        model.model.layers[5].output[:] = 1e4  # a real intervention, then fail
                        raise ValueError("body failed")
                    if i % 4 == 1:
                        model.model.layers[9].output
                        model.model.layers[1].output  # out of order
                    if i % 4 == 2:
                        invoker.save_all()
                        model.model.layers[3].output = "not a tensor"  # model fails
                        model.lm_head.output
                    invoker.next(9)
                    model.lm_head.output  # never reached
        except (ValueError, TracingError, AttributeError, TypeError):
            failures += 1
    assert failures == 100
    assert torch.equal(plain_logits(model, ROME), baseline)


def test_nested_contexts_and_reads_outside_are_clear_errors(model: LanguageModel) -> None:
    with pytest.raises(TracingError, match="inside"):
        model.lm_head.output
    with model.trace(PARIS):
        with pytest.raises(TracingError, match="already open"):
            with model.trace(PARIS):
                pass
    with model.generate(max_new_tokens=1):
        with pytest.raises(TracingError, match="invoke"):
            model.lm_head.output
    with pytest.raises(TracingError, match="no child module or attribute 'layerz'"):
        with model.trace(PARIS):
            model.model.layerz
    assert model._active_generator is None


def test_greenlet_keeps_grad_mode_per_side(model: LanguageModel) -> None:
    assert torch.is_grad_enabled()
    with model.trace(PARIS):
        hidden = model.model.layers[1].output
        assert torch.is_grad_enabled()  # the body keeps its own mode
        assert not hidden.requires_grad  # the model ran under no_grad
    assert torch.is_grad_enabled()
    with model.trace(PARIS, grad=True):
        logits = model.lm_head.output.save()
    logits[0, -1].max().backward()
    assert model.lm_head.weight.grad is not None
    model.hf_model.zero_grad(set_to_none=True)


def test_import_does_not_load_torch() -> None:
    import subprocess

    code = "import sys, jupyter_invoker; print(sorted(m for m in ('torch', 'transformers', 'openai', 'plotly') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_reading_from_another_thread_is_a_clear_error(model: LanguageModel, clean_after) -> None:
    errors: list[BaseException] = []
    with model.trace(PARIS):
        model.model.layers[0].output

        def read() -> None:
            try:
                model.model.layers[5].output
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=read)
        worker.start()
        worker.join()
    assert len(errors) == 1 and isinstance(errors[0], TracingError)
    assert "another thread" in str(errors[0])


def test_save_on_the_root_outputs_tensors_and_on_inputs(model: LanguageModel, clean_after):
    with model.trace(PARIS) as tracer:
        args, kwargs = model.model.layers[1].inputs.save()
        logits = model.output.logits.save()
    assert torch.allclose(logits, plain_logits(model, PARIS), atol=1e-5)
    saved = tracer.saved[0][0]
    assert saved["<root>.output.logits"] is logits  # a field of the root's output, not a module
    assert tracer.invoker is not None and tracer.invoker.outputs() == {}
    inputs = saved["model.layers.1.inputs"]
    assert inputs[0][0] is args[0] and inputs[1] is kwargs
    assert type(logits.value) is torch.Tensor


def test_the_root_output_keeps_its_type_and_generation_goes_on(model: LanguageModel) -> None:
    with model.generate(PARIS, max_new_tokens=3) as generator:
        out = model.output
        assert type(out).__name__ == "CausalLMOutputWithPast"
        first = out.logits.save()
    assert generator.invoker is not None and generator.invoker.text.startswith(" Paris")
    assert model.tokenizer.decode(first[0, -1].argmax()) == " Paris"


def test_a_parent_output_after_its_childs(model: LanguageModel, clean_after) -> None:
    # The layer was entered through torch's hook-less fast path before the body asked for
    # it: its output could not be read after its MLP's ("did not run at step 0").
    with model.trace(PARIS):
        mlp = model.model.layers[0].mlp.output.save()
        layer = model.model.layers[0].output.save()
        inner = model.model.layers[1].self_attn.o_proj.output
        attn = model.model.layers[1].self_attn.output[0].save()
    assert torch.equal(inner, attn)
    with model.trace(PARIS):
        alone = model.model.layers[0].output.save()
    assert torch.equal(layer, alone) and not torch.equal(mlp, layer)
