"""What the activation browser reads: a traced run flattened to one record per prompt.

    capture = collect(generator)            # or an ExecutionResult, an Invoker, a dict
    run = capture.runs[0]                   # one prompt (a batch gives one run per row)
    hidden, positions = run.activation("model.layers.5", upto=3)
    # hidden: (positions, d_model), the prompt and every token generated up to step 3
    # positions: the absolute token position of each row of ``hidden``

Under ``generate`` step 0 runs over the prompt and step ``s >= 1`` over one new token
(position ``n_prompt + s - 1``); a step's tensors are concatenated along positions, so
the view at step ``s`` is the prefix of the full view up to that position. Left
padding of a batch row is dropped. No IPython here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import torch

from ..exceptions import ViewError
from ..invokers._result import ExecutionResult
from ..tracing import Generator, Invoker

__all__ = ["Capture", "PromptRecord", "collect", "first_tensor", "python_path"]

T = TypeVar("T")
_CACHED = 16  # reductions kept per capture (each at most a few MB)

_SAVE_HINT = (
    "Save something inside the invoke block first, e.g.\n"
    "    with model.generate(max_new_tokens=8) as generator:\n"
    "        with generator.invoke(prompt) as invoker:\n"
    "            for _ in range(8):\n"
    "                invoker.save_all()\n"
    "                invoker.next()\n"
    "and then call jupyter_invoker.show(generator)."
)


def first_tensor(value: Any) -> torch.Tensor | None:
    """The tensor a module output stands for: itself, or the first tensor of a tuple /
    model-output object (decoder layers of some architectures return tuples)."""
    if isinstance(value, torch.Tensor):
        return value.as_subclass(torch.Tensor) if type(value) is not torch.Tensor else value
    if isinstance(value, (tuple, list)):
        for item in value:
            if isinstance(item, torch.Tensor):
                return first_tensor(item)
        return None
    for name in ("last_hidden_state", "logits"):
        item = getattr(value, name, None)
        if isinstance(item, torch.Tensor):
            return first_tensor(item)
    return None


def python_path(path: str) -> str:
    """A module path as the Python that reaches it on a LanguageModel named ``model``:
    ``model.layers.10.mlp`` -> ``model.model.layers[10].mlp``."""
    code = "model"
    for part in path.split("."):
        code += f"[{part}]" if part.isdigit() else f".{part}"
    return code


@dataclass
class PromptRecord:
    """One prompt of a traced run: its tokens and ``{step: {module path: output}}``."""

    label: str
    tokens: list[str]  # display string of every position (prompt, then generated)
    n_prompt: int
    steps: dict[int, dict[str, Any]]
    ids: list[int] | None = None  # token id of every position, when known
    row: int = 0  # row in its invoke's batch
    pad: int = 0  # left padding of that row at step 0
    invoke: int = 0
    rows: int = 1  # rows in its invoke's batch

    @property
    def step_list(self) -> list[int]:
        return sorted(self.steps)

    def paths(self) -> list[str]:
        """Every saved module path, in the order the model produced them."""
        seen: dict[str, None] = {}
        for step in self.step_list:
            for path in self.steps[step]:
                seen.setdefault(path, None)
        return list(seen)

    @property
    def last_position(self) -> int:
        """The last position the run went over (the last saved step's token; a token
        generated at the last step is never run through the model)."""
        last = self.step_list[-1]
        return self.step_position(last) if last else self.n_prompt - 1

    def step_position(self, step: int) -> int:
        """The absolute position of the token a step ``>= 1`` runs over."""
        return self.n_prompt + step - 1

    def raw(self, path: str, step: int) -> Any:
        outputs = self.steps.get(step, {})
        if path not in outputs:
            saved = ", ".join(self.paths()[:6]) or "nothing"
            more = " ..." if len(self.paths()) > 6 else ""
            raise ViewError(
                f"{path!r} was not saved at step {step} of {self.label} (saved: {saved}{more}). "
                f"Save it inside the invoke block ({python_path(path)}.output.save() with "
                "your LanguageModel as model, or invoker.save_all() for every module), then "
                "show the run again."
            )
        return outputs[path]

    def positions(
        self, path: str, upto: int | None = None, *, steps: list[int] | None = None
    ) -> list[int]:
        """The absolute positions :meth:`activation` returns rows for (no tensor built)."""
        return self.activation(path, upto, steps=steps, reduce=lambda piece: piece[:0])[1]

    def activation(
        self,
        path: str,
        upto: int | None = None,
        *,
        steps: list[int] | None = None,
        reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
        between: tuple[int, int] | None = None,
    ) -> tuple[torch.Tensor, list[int]]:
        """``(positions, ...)`` float tensor of ``path`` over every saved step ``<= upto``
        (and in ``steps`` when given) and the absolute position of each row.
        ``reduce``: applied to each step's ``(positions, ...)`` piece before the pieces
        are joined, so a per-position reduction (a norm) never copies the activations;
        ``between=(first, last)``: only those positions (a window), cut before joining."""
        last = self.step_list[-1] if upto is None else upto
        pieces: list[torch.Tensor] = []
        positions: list[int] = []
        for step in self.step_list:
            if step > last or path not in self.steps[step]:
                continue
            if steps is not None and step not in steps:
                continue
            tensor = first_tensor(self.steps[step][path])
            if tensor is None or tensor.dim() < 2:
                raise ViewError(
                    f"{path!r} at step {step} is not a (batch, position, ...) tensor "
                    f"({type(self.steps[step][path]).__name__}); pick a module whose output "
                    "is a hidden-state tensor."
                )
            if tensor.dim() == 2:  # (pos, d) from a plain dict
                tensor = tensor.unsqueeze(0)
            row = tensor[min(self.row, tensor.shape[0] - 1)]  # (pos, ...)
            if step == 0:
                length = row.shape[0]
                total = self.n_prompt + self.pad
                start = self.pad if length == total else max(length - self.n_prompt, 0)
                row = row[start:]
                first = self.n_prompt - row.shape[0]
                here = list(range(first, self.n_prompt))
            else:
                row = row[-1:]
                here = [self.step_position(step)]
            if between is not None:
                keep = [i for i, p in enumerate(here) if between[0] <= p <= between[1]]
                if not keep:
                    continue
                row, here = row[keep[0] : keep[-1] + 1], here[keep[0] : keep[-1] + 1]
            positions.extend(here)
            row = row.detach().float()
            pieces.append(row if reduce is None else reduce(row))
        if not pieces:
            self.raw(path, last if last in self.steps else self.step_list[0])
            raise ViewError(f"{path!r} was not saved at steps {steps} of {self.label}.")
        return (pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=0)), positions


@dataclass
class Capture:
    """Every prompt of a run, and the model that ran them (``None`` for a plain dict)."""

    runs: list[PromptRecord]
    model: Any = None
    mode: str = "trace"
    notes: list[str] = field(default_factory=list)
    # Reductions already computed for this capture (the browser's controls go back and
    # forth between the same views): the most recent _CACHED, by what determines them.
    _cache: OrderedDict[tuple[Any, ...], Any] = field(
        default_factory=OrderedDict, repr=False, compare=False
    )

    def cached(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """``compute()``, or what it returned for ``key`` before."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return cast(T, self._cache[key])
        value = compute()
        self._cache[key] = value
        while len(self._cache) > _CACHED:
            self._cache.popitem(last=False)
        return value

    def run(self, index: int | None) -> PromptRecord:
        """The ``index``-th prompt that saved anything (the browser's prompt menu)."""
        chosen = 0 if index is None else index
        if not 0 <= chosen < len(self.runs):
            raise ViewError(
                f"Prompt {index} does not exist: this run has {len(self.runs)} prompt(s) "
                f"with saved outputs (0..{len(self.runs) - 1})."
            )
        return self.runs[chosen]

    def invokes(self) -> list[int]:
        """The ``generator.invoke`` numbers with saved outputs."""
        return sorted({run.invoke for run in self.runs})

    def index_of(self, invoke: int | None, row: int | None = None) -> int:
        """The prompt index of batch row ``row`` (default 0) of ``generator.invoke``
        number ``invoke`` (default: the first invoke with saved outputs)."""
        chosen = self.runs[0].invoke if invoke is None else invoke
        rows = [(i, run) for i, run in enumerate(self.runs) if run.invoke == chosen]
        if not rows:
            raise ViewError(
                f"invoke={invoke} has no saved module output to show (invokes with saved "
                f"outputs: {self.invokes()}). Call invoker.save_all() in that invoke, or pick "
                "one of those."
            )
        wanted = 0 if row is None else row
        for i, run in rows:
            if run.row == wanted:
                return i
        n = rows[0][1].rows
        raise ViewError(
            f"row={row} does not exist: invoke {chosen} is a batch of {n} row(s); pass "
            f"row= one of {list(range(n))}."
        )


def _decode_all(tokenizer: Any, ids: list[int]) -> list[str]:
    """Each id decoded on its own: the display string of every position."""
    return [str(t) for t in tokenizer.batch_decode([[i] for i in ids])]


def _from_generator(generator: Any) -> Capture:
    return _from_invokers(generator.invokers, generator.model, generator.mode)


def _from_invokers(invokers: Any, lm: Any, mode: str) -> Capture:
    tokenizer = lm.tokenizer
    runs: list[PromptRecord] = []
    for inv in invokers:
        # inputs and derived values (``saved_0``) are not module outputs: not shown
        steps = {step: outs for step in inv.saved if (outs := inv.outputs(step))}
        if not steps or inv.input_ids is None:
            continue
        input_ids = inv.input_ids
        mask = inv.attention_mask if inv.attention_mask is not None else torch.ones_like(input_ids)
        width = input_ids.shape[-1]
        for row in range(input_ids.shape[0]):
            pad = width - int(mask[row].sum())
            ids = [int(i) for i in input_ids[row, pad:]]
            n_prompt = len(ids)
            if inv.output_ids is not None and mode == "generate":
                ids += [int(i) for i in inv.output_ids[row, width:]]
            text = tokenizer.decode(ids[:n_prompt], skip_special_tokens=True)
            short = text if len(text) <= 40 else text[:37] + "..."
            name = f"invoke {inv.index}" + (f" row {row}" if input_ids.shape[0] > 1 else "")
            runs.append(
                PromptRecord(
                    label=f"{name}: {short!r}",
                    tokens=_decode_all(tokenizer, ids),
                    n_prompt=n_prompt,
                    steps=steps,
                    ids=ids,
                    row=row,
                    pad=pad,
                    invoke=inv.index,
                    rows=input_ids.shape[0],
                )
            )
    if not runs:
        raise ViewError(f"Nothing to show: this run saved no module output. {_SAVE_HINT}")
    return Capture(runs=runs, model=lm, mode=mode)


def _from_dict(saved: Mapping[str, Any]) -> Capture:
    outputs = {k[: -len(".output")] if k.endswith(".output") else k: v for k, v in saved.items()}
    lengths = {
        t.shape[-2] for v in outputs.values() if (t := first_tensor(v)) is not None and t.dim() >= 2
    }
    if not outputs or not lengths:
        raise ViewError(
            "Nothing to show: the dict holds no (batch, position, ...) tensors. Pass "
            "{module path: tensor}, e.g. the dict invoker.save_all() returns."
        )
    n = max(lengths)
    return Capture(
        runs=[PromptRecord(label="saved tensors", tokens=[str(i) for i in range(n)], n_prompt=n,
                  steps={0: dict(outputs)})],
        model=None,
        mode="dict",
    )  # fmt: skip


def collect(source: Any) -> Capture:
    """A :class:`Capture` from a Generator, an ExecutionResult of a local run, an Invoker
    or a ``{module_path: tensor}`` dict."""
    if isinstance(source, Capture):
        return source
    if isinstance(source, ExecutionResult):
        if source.generator is None:
            raise ViewError(
                f"This result came from the {source.invoker or 'remote'!r} invoker, which "
                "runs the prompt elsewhere: there are no activations to show. Run the prompt "
                "on a local model (invoker='local') to look inside it."
            )
        return collect(source.generator)
    if isinstance(source, Invoker):
        if not any(source.outputs(step) for step in source.saved):
            raise ViewError(f"Nothing to show: this invoke saved no module output. {_SAVE_HINT}")
        return _from_invokers([source], source.model, source.mode)
    if isinstance(source, Generator):
        if not source.invokers:
            raise ViewError(f"Nothing to show: this generator ran no invoke. {_SAVE_HINT}")
        return _from_generator(source)
    if isinstance(source, Mapping):
        return _from_dict(source)
    raise ViewError(
        f"Cannot show a {type(source).__name__}: pass a traced Generator, an ExecutionResult "
        "of a local run, an Invoker, or a {module_path: tensor} dict."
    )
