"""Output containers: attribute access, `out["logits"]`, `out[0]` and `to_tuple()` like transformers' outputs."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch


class ModelOutput:
    """A dataclass whose unset (None) fields are skipped by integer indexing, keys() and to_tuple()."""

    def keys(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def values(self) -> list[Any]:
        return [getattr(self, k) for k in self.keys()]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self.keys()]

    def to_tuple(self) -> tuple:
        return tuple(self.values())

    def __getitem__(self, key: int | slice | str) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(key)
            return getattr(self, key)
        return self.to_tuple()[key]

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default) if key in self.keys() else default

    @classmethod
    def extending(cls, base: "ModelOutput", **values: Any) -> "ModelOutput":
        """An output of this type holding `values` and, in its other fields, `base`'s fields of the same name
        (a head's output over its base model's: Seq2SeqLMOutput over Seq2SeqModelOutput)."""
        names = {f.name for f in fields(cls)} - set(values)
        return cls(**{f.name: getattr(base, f.name) for f in fields(base) if f.name in names}, **values)


Tensors = tuple[torch.Tensor, ...]


@dataclass
class EncoderOutput(ModelOutput):
    last_hidden_state: torch.Tensor | None = None  # (batch, src_len, d_model), after the final layer norm
    hidden_states: Tensors | None = None  # embeddings, then each layer's output (the last one normalised)
    attentions: Tensors | None = None  # per layer: (batch, heads, src_len, src_len)


BaseModelOutput = EncoderOutput


@dataclass
class DecoderOutput(ModelOutput):
    last_hidden_state: torch.Tensor | None = None  # (batch, tgt_len, d_model)
    past_key_values: Any = None  # KVCache
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None  # per layer: (batch, heads, tgt_len, past + tgt_len)
    cross_attentions: Tensors | None = None  # per layer: (batch, heads, tgt_len, src_len)


@dataclass
class Seq2SeqModelOutput(ModelOutput):
    last_hidden_state: torch.Tensor | None = None
    past_key_values: Any = None
    decoder_hidden_states: Tensors | None = None
    decoder_attentions: Tensors | None = None
    cross_attentions: Tensors | None = None
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: Tensors | None = None
    encoder_attentions: Tensors | None = None


@dataclass
class Seq2SeqLMOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (batch, tgt_len, vocab_size)
    past_key_values: Any = None
    decoder_hidden_states: Tensors | None = None
    decoder_attentions: Tensors | None = None
    cross_attentions: Tensors | None = None
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: Tensors | None = None
    encoder_attentions: Tensors | None = None
    nll_loss: torch.Tensor | None = None  # chunked loss only: the loss without label smoothing, same reduction
