"""``LanguageModel``: a transformers causal LM whose module tree can be traced.

model = LanguageModel()                     # embedded SmolLM2-135M-Instruct
model = LanguageModel("gpt2", device="cuda", dtype="bfloat16")
model = LanguageModel(hf_model, tokenizer=tokenizer)   # an already-built model
print(model)                                # the module tree
model.model.layers[5].mlp                   # a ModuleHandle, mirrors the HF tree
"""

from __future__ import annotations

import contextlib
import fnmatch
import inspect
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from ..exceptions import ModelLoadError, TracingError
from ..models import resolve_model
from ._contexts import Generator
from ._handles import ModuleHandle, missing_attribute

__all__ = ["LanguageModel"]


class LanguageModel:
    """Wraps a transformers causal LM and its tokenizer for tracing.

    ``name_or_path``: a local folder, a hub id, an already-built ``PreTrainedModel``,
    or ``None`` for the embedded default (``JUPYTER_INVOKER_MODEL`` overrides it).
    ``device``/``dtype``/``device_map`` and other keyword arguments go to
    ``from_pretrained``.
    """

    def __init__(
        self,
        name_or_path: Any = None,
        *,
        tokenizer: Any = None,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        device_map: Any = None,
        **from_pretrained_kwargs: Any,
    ) -> None:
        if isinstance(name_or_path, torch.nn.Module):
            hf_model = name_or_path
            if device is not None:
                hf_model = hf_model.to(device)
            if dtype is not None:
                hf_model = hf_model.to(_as_dtype(dtype))
            self.name = (
                getattr(getattr(hf_model, "config", None), "name_or_path", "")
                or type(hf_model).__name__
            )
        else:
            self.name = resolve_model(name_or_path)
            kwargs = dict(from_pretrained_kwargs)
            if dtype is not None:
                kwargs["dtype"] = _as_dtype(dtype)
            if device_map is not None:
                kwargs["device_map"] = device_map
            hf_model, tokenizer = _load(self.name, tokenizer, kwargs)
            if device is not None and device_map is None:
                hf_model = hf_model.to(device)
        if tokenizer is None:
            tokenizer = _load_tokenizer(getattr(hf_model.config, "name_or_path", ""))
        hf_model.eval()
        _prepare_tokenizer(tokenizer)
        self.hf_model: Any = hf_model  # a transformers PreTrainedModel
        self.tokenizer = tokenizer
        self._modules: dict[str, torch.nn.Module] = dict(hf_model.named_modules())
        self._order: dict[tuple[str, str], int] = {}
        # Read once: a padded batch passes position_ids only to models that take them.
        self._accepts_position_ids = (
            "position_ids" in inspect.signature(hf_model.forward).parameters
        )
        self._active_generator: Generator | None = None

    # ------------------------------------------------------------------ contexts
    def generate(
        self, input: Any = None, *, grad: bool = False, **generate_kwargs: Any
    ) -> Generator:
        """A generation context: ``with model.generate(max_new_tokens=3) as generator:``.

        With ``input`` the context is also the (single) invoke of that input. Runs under
        ``torch.no_grad()`` (as transformers' ``generate`` does) unless ``grad=True``:
        then every forward records the autograd graph, so the values the body reads
        have gradients."""
        return Generator(self, "generate", input=input, kwargs=generate_kwargs, grad=grad)

    def trace(self, input: Any = None, *, grad: bool = False, **forward_kwargs: Any) -> Generator:
        """A single-forward context (every position of ``lm_head``, no generation).

        Runs under ``torch.no_grad()`` unless ``grad=True``: then the values the body
        reads (``.output``, ``.input``, ``.inputs``) lie on the autograd path, so
        ``h.retain_grad()`` + ``loss.backward()`` fills ``h.grad`` and
        ``torch.autograd.grad(loss, h)`` works."""
        return Generator(self, "trace", input=input, kwargs=forward_kwargs, grad=grad)

    # ------------------------------------------------------------------ module tree
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in {"hf_model", "tokenizer", "name"}:
            raise AttributeError(name)
        modules = self.__dict__.get("_modules")
        if modules is not None and name in modules:
            return ModuleHandle(self, name)
        try:
            return getattr(self.__dict__["hf_model"], name)
        except AttributeError:
            if modules is None:
                raise
            raise missing_attribute(self, "", name, attributes=dir(type(self))) from None

    def __dir__(self) -> list[str]:
        children = [name for name, _ in self.hf_model.named_children()]
        return sorted(set(super().__dir__()) | set(children))

    def __repr__(self) -> str:
        return repr(self.hf_model)

    @property
    def output(self) -> Any:
        """The root module's output (the ``CausalLMOutputWithPast``) at the current step."""
        return ModuleHandle(self, "").output

    @property
    def device(self) -> torch.device:
        return self.hf_model.device  # type: ignore[no-any-return]

    @property
    def dtype(self) -> torch.dtype:
        return self.hf_model.dtype  # type: ignore[no-any-return]

    def module_paths(self) -> list[str]:
        """Every module path, in definition order (``""`` is the root)."""
        return list(self._modules)

    def _module(self, path: str) -> torch.nn.Module:
        module = self._modules.get(path)
        if module is None:
            parent = path.rsplit(".", 1)[0] if "." in path else ""
            near = [
                p for p in self._modules if p.startswith(parent) and p.count(".") == path.count(".")
            ]
            hint = f" Modules at that level: {', '.join(near[:8])}." if near else ""
            raise TracingError(
                f"The model has no module {path!r}.{hint} print(model) shows the tree."
            )
        return module

    def _event_order(self) -> dict[tuple[str, str], int]:
        """Order in which one forward enters ("input") and leaves ("output") each module.

        Measured once with a two-token dry forward; drives the out-of-order check."""
        if self._order:
            return self._order
        order: dict[tuple[str, str], int] = {}
        handles = []

        def mark(key: tuple[str, str]) -> Any:
            def hook(*_: Any) -> None:
                order.setdefault(key, len(order))

            return hook

        try:
            for path, module in self._modules.items():
                handles.append(module.register_forward_pre_hook(mark((path, "input"))))
                handles.append(module.register_forward_hook(mark((path, "output"))))
            ids = torch.tensor([[_first_token(self.tokenizer)] * 2], device=self.device)
            with torch.no_grad():
                self.hf_model(input_ids=ids, use_cache=False)
        finally:
            for handle in handles:
                handle.remove()
        self._order = order
        return order

    def _called_modules(self) -> list[str]:
        """Paths of the modules a forward calls (containers such as ModuleList never are)."""
        return [path for (path, kind) in self._event_order() if kind == "output" and path]

    def modules_matching(
        self, patterns: Iterable[str], *, option: str = "save_all(only={!r})"
    ) -> frozenset[str]:
        """The paths of the modules a forward calls that match any of ``patterns`` (globs
        over module paths; ``*`` also crosses dots). A pattern that matches none raises a
        TracingError naming it as ``option`` writes it (``"--save {!r}"`` for the magics)."""
        ordered = self._called_modules()
        chosen: set[str] = set()
        for pattern in patterns:
            matched = [path for path in ordered if fnmatch.fnmatchcase(path, pattern)]
            if not matched:
                examples = ", ".join(ordered[i] for i in (0, len(ordered) // 2, -1))
                raise TracingError(
                    f"{option.format(pattern)} matches no module of the model; module paths "
                    f"look like {examples} (print(model) shows the tree; `*` also crosses dots)."
                )
            chosen.update(matched)
        return frozenset(chosen)


def _as_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    value = getattr(torch, str(dtype).removeprefix("torch."), None)
    if not isinstance(value, torch.dtype):
        raise ModelLoadError(f"Unknown dtype {dtype!r}; use e.g. 'float32', 'bfloat16', 'float16'.")
    return value


def _first_token(tokenizer: Any) -> int:
    for attr in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(tokenizer, attr, None)
        if isinstance(value, int):
            return value
    return 0


def _prepare_tokenizer(tokenizer: Any) -> None:
    # Left padding: every row's last real token sits at position -1 of a batch.
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


def _load_tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"No tokenizer could be loaded for {name!r}; pass tokenizer=... explicitly."
        ) from exc


_PATH_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".json", ".onnx")
_HUB_PROBE_S = 3.0
_USE_LOCAL = (
    "Pass a local folder of a transformers causal LM (one with config.json, the weights and "
    "the tokenizer files), or call LanguageModel() with no argument for the embedded default "
    "model (`python -m jupyter_invoker.models fetch` prepares it)."
)


def _looks_like_path(name: str) -> bool:
    """Whether ``name`` is meant as a folder or file rather than a hub id (``org/name``)."""
    return (
        name.startswith((".", "~", "/", os.sep))
        or (os.sep != "/" and os.sep in name)
        or name.count("/") > 1
        or name.lower().endswith((*_PATH_SUFFIXES, "/"))
    )


def _offline() -> bool:
    return any(
        os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _hub_unreachable() -> str | None:
    """Why the hub cannot be reached (None when it answers): one request, bounded in time,
    so a machine without network fails in seconds instead of after the hub's retries."""
    import threading

    from huggingface_hub import constants, get_session

    if _offline():
        return "HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set"
    endpoint = constants.ENDPOINT
    failure: list[str] = [f"no answer from {endpoint} within {_HUB_PROBE_S:.0f} s"]

    def probe() -> None:
        try:
            get_session().head(endpoint, timeout=_HUB_PROBE_S)
        except Exception as exc:  # any transport error means: not reachable
            failure[0] = f"{endpoint}: {type(exc).__name__}: {exc}"
        else:
            failure.clear()

    # A thread, because name resolution ignores the request's timeout.
    thread = threading.Thread(target=probe, name="jupyter_invoker-hub-probe", daemon=True)
    thread.start()
    thread.join(_HUB_PROBE_S + 1)
    return failure[0] if failure else None


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """No "Loading weights" bar for a load from disk: it takes a fraction of a second, and
    in a notebook its widget is saved half-drawn ("0%"), looking stalled. Downloads from
    the hub keep their bars (they are not wrapped in this)."""
    from huggingface_hub.utils.tqdm import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hub_disabled = are_progress_bars_disabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
            if hub_disabled:
                disable_progress_bars()
        elif not hub_disabled:
            enable_progress_bars()


def _load(name: str, tokenizer: Any, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    local = Path(name).expanduser()
    source = str(local) if local.exists() else name
    if not local.exists() and _looks_like_path(name):
        raise ModelLoadError(
            f"No such folder: {name!r} (resolved to {local.resolve()}). Check the path; a hub "
            "id has the form 'org/name'. With no argument the embedded default model is used."
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # A hub id: try the local HF cache first, so an offline machine never waits; go to
    # the hub only when a quick probe says it answers (its own retries take ~25 s).
    attempts = [{}] if local.exists() else [{"local_files_only": True}, {}]
    error: BaseException | None = None
    for extra in attempts:
        if extra == {} and error is not None:
            unreachable = _hub_unreachable()
            if unreachable:
                raise ModelLoadError(
                    f"Could not load the model {name!r}: it is not in the local Hugging Face "
                    f"cache and the hub is not reachable ({unreachable}). {_USE_LOCAL}"
                ) from error
        from_disk = extra != {} or local.exists()
        try:
            with _no_progress_bars() if from_disk else contextlib.nullcontext():
                hf_model = AutoModelForCausalLM.from_pretrained(source, **kwargs, **extra)
                if tokenizer is None:
                    tokenizer = AutoTokenizer.from_pretrained(source, **extra)
            return hf_model, tokenizer
        except (OSError, ValueError) as exc:
            error = exc
    raise ModelLoadError(
        f"Could not load the model {name!r}: {error}. Pass a local folder of a transformers "
        "causal LM or a hub id reachable from this machine; with no argument (and "
        "JUPYTER_INVOKER_MODEL unset) the embedded default model is used "
        "(`python -m jupyter_invoker.models fetch` prepares it)."
    ) from error
