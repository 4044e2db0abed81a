"""Which view a run deserves, if any (no plotly, no IPython).

    worth_showing(generator)     # False: nothing saved reads as a heatmap
    default_view(collect(generator))   # "logit_lens", "residual_norm", "top_tokens", "module"

A run that saved decoder layers opens on the logit lens (or the residual norm when
the model's unembedding is unknown). A run that saved only the model's output logits
(``lm_head``: a vocabulary-wide row per position) opens on the top tokens per
position, since a heatmap of logits pooled over hundreds of token ids tells nothing.
Any other saved (batch, position, ...) tensor opens as a module output; a run with
none of these is not worth a figure.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import ViewError
from ._capture import Capture, PromptRecord, collect, first_tensor
from ._reduce import family_paths, layer_family
from ._reduce_lens import find_lens

__all__ = ["default_module", "default_view", "logit_paths", "vocab_size", "worth_showing"]


def vocab_size(model: Any) -> int | None:
    """The model's vocabulary size (the rows of its unembedding), when it is known."""
    hf_model = getattr(model, "hf_model", None)
    embeddings = getattr(hf_model, "get_output_embeddings", lambda: None)()
    weight = getattr(embeddings, "weight", None)
    if weight is not None:
        return int(weight.shape[0])
    size = getattr(getattr(hf_model, "config", None), "vocab_size", None)
    return int(size) if size else None


def _tensor_paths(run: PromptRecord) -> list[str]:
    """Saved paths whose output is a (batch, position, ...) tensor at some step."""
    found = []
    for path in run.paths():
        for step in run.step_list:
            tensor = first_tensor(run.steps[step].get(path))
            if tensor is not None and tensor.dim() >= 2:
                found.append(path)
                break
    return found


def logit_paths(run: PromptRecord, model: Any) -> list[str]:
    """Saved paths whose output has one entry per vocabulary token (``lm_head``)."""
    vocab = vocab_size(model) if model is not None else None
    if not vocab:
        return []
    found = []
    for path in run.paths():
        step = next(s for s in run.step_list if path in run.steps[s])
        tensor = first_tensor(run.steps[step][path])
        if tensor is not None and tensor.dim() >= 2 and tensor.shape[-1] == vocab:
            found.append(path)
    return found


def default_module(run: PromptRecord, model: Any = None) -> str:
    """The last decoder layer's MLP when it was saved, else the last saved module that
    is not the output logits."""
    paths = _tensor_paths(run) or run.paths()
    try:
        last = family_paths(run, layer_family(run))[-1][1]
    except ViewError:
        logits = set(logit_paths(run, model))
        others = [p for p in paths if p not in logits]
        return (others or paths)[-1]
    return f"{last}.mlp" if f"{last}.mlp" in paths else last


def default_view(capture: Capture) -> str:
    """The view ``show()`` opens on; a ViewError when nothing saved is worth a figure."""
    run = capture.runs[0]
    try:
        layer_family(run)
    except ViewError:
        pass
    else:
        if capture.model is not None:
            try:
                find_lens(capture.model.hf_model)
                return "logit_lens"
            except ViewError:
                pass
        return "residual_norm"
    if logit_paths(run, capture.model):
        return "top_tokens"
    if _tensor_paths(run):
        return "module"
    raise ViewError(
        f"Nothing {run.label} saved reads as a heatmap: no module output is a (batch, "
        "position, ...) tensor. Save decoder layers (invoker.save_all()) or the model's "
        "logits (model.lm_head.output.save()) inside the invoke block."
    )


def worth_showing(source: Any) -> bool:
    """Whether ``jupyter_invoker.show(source)`` has a view that tells something: a
    traced run that saved decoder layers, the output logits (shown as the top tokens
    per position) or another (batch, position, ...) module output. The magics show
    the activation browser after a local run only when this holds."""
    try:
        default_view(collect(source))
    except ViewError:
        return False
    return True
