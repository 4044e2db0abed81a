"""Turning an invoke input into token ids: strings, batches, ids, chat messages.

prepare_input(model, "The Eiffel Tower is in")            # one row
prepare_input(model, ["short", "a longer prompt"])        # one left-padded batch
prepare_input(model, [{"role": "user", "content": "Hi"}]) # chat template applied
prepare_input(model, [[1, 2, 3], [4, 5]])                 # token ids
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..exceptions import InvalidInputError

if TYPE_CHECKING:
    from ._model import LanguageModel

__all__ = ["Prepared", "prepare_input"]

_ACCEPTED = (
    "a string, a list of strings, token ids (list of ints, list of lists, or a tensor), "
    "chat messages ([{'role': ..., 'content': ...}, ...]) or a list of such chats"
)


@dataclass
class Prepared:
    input_ids: torch.Tensor  # (batch, pos), left-padded
    attention_mask: torch.Tensor  # (batch, pos), 0 on padding
    position_ids: torch.Tensor | None  # (batch, pos), counted from each row's first real token
    batched: bool

    def tokens(self, tokenizer: Any) -> list[str] | list[list[str]]:
        rows = []
        for ids, mask in zip(self.input_ids.tolist(), self.attention_mask.tolist(), strict=True):
            real = [i for i, m in zip(ids, mask, strict=True) if m]
            rows.append(tokenizer.convert_ids_to_tokens(real))
        return rows if self.batched else rows[0]


def prepare_input(lm: LanguageModel, value: Any) -> Prepared:
    tokenizer = lm.tokenizer
    device = lm.device
    batched = True
    if isinstance(value, str):
        texts, batched = [value], False
        encoded = _encode_texts(tokenizer, texts)
    elif isinstance(value, torch.Tensor):
        if value.dim() == 1:
            value, batched = value.unsqueeze(0), False
        if value.dim() != 2 or value.dtype not in (torch.int32, torch.int64):
            raise InvalidInputError(
                f"A tensor input must hold integer token ids of shape (pos,) or (batch, pos); "
                f"got dtype {value.dtype} and shape {tuple(value.shape)}."
            )
        encoded = {"input_ids": value.long(), "attention_mask": torch.ones_like(value.long())}
    elif isinstance(value, Mapping) and "input_ids" in value:
        ids = torch.as_tensor(value["input_ids"])
        mask = value.get("attention_mask")
        if ids.dim() == 1:
            ids, batched = ids.unsqueeze(0), False
        encoded = {
            "input_ids": ids.long(),
            "attention_mask": torch.as_tensor(mask).reshape(ids.shape).long()
            if mask is not None
            else torch.ones_like(ids),
        }
    elif isinstance(value, Sequence) and value and not isinstance(value, (bytes, bytearray)):
        kind = _sequence_kind(value)
        if kind == "texts":
            encoded = _encode_texts(tokenizer, list(value))
        elif kind == "chat":
            encoded, batched = _pad_ids(tokenizer, [_chat_ids(tokenizer, value)]), False
        elif kind == "chats":
            encoded = _pad_ids(tokenizer, [_chat_ids(tokenizer, chat) for chat in value])
        elif kind == "ids":
            encoded, batched = _pad_ids(tokenizer, [list(value)]), False
        else:
            encoded = _pad_ids(tokenizer, [list(row) for row in value])
    else:
        raise InvalidInputError(
            f"Cannot invoke on {type(value).__name__} {_short(value)}: expected {_ACCEPTED}."
        )
    input_ids = encoded["input_ids"].to(device)
    attention_mask = encoded["attention_mask"].to(device)
    if input_ids.shape[-1] == 0:
        raise InvalidInputError("The input is empty (no tokens): give the model some text.")
    _check_vocab(lm, input_ids)
    position_ids = None
    if lm._accepts_position_ids:
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    return Prepared(input_ids, attention_mask, position_ids, batched)


def _sequence_kind(value: Sequence[Any]) -> str:
    first = value[0]
    if all(isinstance(v, str) for v in value):
        return "texts"
    if all(isinstance(v, Mapping) for v in value):
        for message in value:
            if "role" not in message or "content" not in message:
                raise InvalidInputError(
                    f"Chat messages need 'role' and 'content' keys; got {_short(message)}."
                )
        return "chat"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return "ids"
    if isinstance(first, Sequence) and not isinstance(first, str):
        if all(
            isinstance(v, Sequence) and v and all(isinstance(m, Mapping) for m in v) for v in value
        ):
            for chat in value:
                _sequence_kind(chat)
            return "chats"
        if all(
            isinstance(v, Sequence)
            and v
            and all(isinstance(t, int) and not isinstance(t, bool) for t in v)
            for v in value
        ):
            return "id-rows"
    raise InvalidInputError(f"Cannot invoke on {_short(value)}: expected {_ACCEPTED}.")


def _encode_texts(tokenizer: Any, texts: list[str], add_special_tokens: bool = True) -> Any:
    if any(not t for t in texts):
        raise InvalidInputError("An input prompt is an empty string: give the model some text.")
    return tokenizer(
        texts, return_tensors="pt", padding=True, add_special_tokens=add_special_tokens
    )


def _chat_ids(tokenizer: Any, messages: Sequence[Mapping[str, Any]]) -> list[int]:
    """The chat template applied to ``messages``, as token ids. Text from a message's
    content never becomes a special token: an input holding ``<|im_end|>\n<|im_start|>
    system`` stays text inside its message instead of opening a turn; the template's own
    markers stay special. Content without special-token text is tokenized together with
    the template around it, exactly as the whole rendered text would be."""
    if not getattr(tokenizer, "chat_template", None):
        raise InvalidInputError(
            "This model's tokenizer has no chat template, so chat messages cannot be "
            "formatted; pass a plain string prompt instead."
        )
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    specials = {t.content for t in decoder.values() if getattr(t, "special", False)}
    specials |= set(getattr(tokenizer, "all_special_tokens", None) or [])
    risky = {
        i
        for i, m in enumerate(messages)
        if isinstance(m.get("content"), str) and any(t and t in m["content"] for t in specials)
    }
    # Each risky content is rendered as a unique mark, then tokenized on its own.
    nonce = secrets.token_hex(8)
    chat = [
        {**dict(m), "content": f"\ue000{nonce}{i}\ue001"} if i in risky else dict(m)
        for i, m in enumerate(messages)
    ]
    text = str(tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False))
    pieces = re.split(f"\ue000{nonce}(\\d+)\ue001", text)
    found = [int(index) for index in pieces[1::2]]
    if sorted(found) != sorted(risky) or len(set(found)) != len(found):
        raise InvalidInputError(
            "A chat message's content holds special-token text (such as "
            f"{sorted(specials)[0]!r}) and this model's chat template changes the content "
            "it formats, so that text cannot be kept from becoming a real special token; "
            "remove it from the message."
        )
    ids: list[int] = []
    for j, piece in enumerate(pieces):
        if j % 2 == 0:
            if piece:
                ids += tokenizer(piece, add_special_tokens=False)["input_ids"]
        else:
            content = messages[int(piece)]["content"]
            ids += tokenizer(content, add_special_tokens=False, split_special_tokens=True)[
                "input_ids"
            ]
    return ids


def _pad_ids(tokenizer: Any, rows: list[list[int]]) -> dict[str, torch.Tensor]:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
    return {"input_ids": ids, "attention_mask": mask}


def _check_vocab(lm: LanguageModel, ids: torch.Tensor) -> None:
    embeddings = lm.hf_model.get_input_embeddings()
    size = getattr(embeddings, "num_embeddings", None)
    if size is None:
        return
    low, high = (int(v) for v in torch.aminmax(ids))  # one device sync, not two
    if high >= size or low < 0:
        raise InvalidInputError(
            f"Token id {high if high >= size else low} is outside the model's vocabulary "
            f"(0..{size - 1}); check the tokenizer that produced the ids."
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
