"""What generate() returns with return_dict_in_generate=True (transformers' names and fields)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..outputs import ModelOutput

Tensors = tuple[torch.Tensor, ...]


@dataclass
class GenerateEncoderDecoderOutput(ModelOutput):
    """Greedy search and sampling."""

    sequences: torch.Tensor | None = None  # (batch * num_return_sequences, length), start token first
    scores: Tensors | None = None  # per step (batch * num_return_sequences, vocab): processed scores (output_scores)
    logits: Tensors | None = None  # per step: raw logits (output_logits)
    encoder_attentions: Tensors | None = None
    encoder_hidden_states: Tensors | None = None
    decoder_attentions: Any = None
    cross_attentions: Any = None
    decoder_hidden_states: Any = None
    past_key_values: Any = None


@dataclass
class GenerateBeamEncoderDecoderOutput(ModelOutput):
    """Beam search and beam sampling."""

    sequences: torch.Tensor | None = None  # (batch * num_return_sequences, length)
    sequences_scores: torch.Tensor | None = None  # (batch * num_return_sequences,) length-penalised (output_scores)
    scores: Tensors | None = None  # per step (batch * num_beams, vocab): processed log-probabilities
    logits: Tensors | None = None  # per step: raw logits (output_logits)
    beam_indices: torch.Tensor | None = None  # (batch * num_return_sequences, generated): flat beam of each step
    encoder_attentions: Tensors | None = None
    encoder_hidden_states: Tensors | None = None
    decoder_attentions: Any = None
    cross_attentions: Any = None
    decoder_hidden_states: Any = None
    past_key_values: Any = None


# transformers' aliases
GenerateOutput = GenerateEncoderDecoderOutput
GenerateBeamOutput = GenerateBeamEncoderDecoderOutput
