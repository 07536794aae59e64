"""compute_transition_scores: the score of each generated token, from generate()'s per-step scores."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import GenerationError


def compute_transition_scores(
    sequences: torch.Tensor,
    scores: Sequence[torch.Tensor],
    beam_indices: torch.Tensor | None = None,
    normalize_logits: bool = False,
) -> torch.Tensor:
    """Per returned sequence and generated step, the score of the token it chose: (rows, steps).

    sequences: (rows, length) from generate(); scores: one (batch * beams, vocab) tensor per step
    (output_scores=True or output_logits=True); beam_indices: (rows, steps) from beam search, where -1 marks steps
    after a hypothesis ended (their score is 0); without it row r of every step is row r's own.
    normalize_logits=True turns each step's scores into log-probabilities first. Same values as transformers'.
    Raises GenerationError for inconsistent shapes.
    """
    if not scores:
        raise GenerationError("compute_transition_scores needs the per-step scores (generate with output_scores=True)")
    steps = len(scores)
    stacked = torch.stack(tuple(scores))  # (steps, batch * beams, vocab)
    if normalize_logits:
        stacked = torch.log_softmax(stacked.float(), dim=-1).to(stacked.dtype)
    if beam_indices is None:
        if sequences.shape[0] != stacked.shape[1]:
            raise GenerationError(
                f"sequences has {sequences.shape[0]} rows but the scores have {stacked.shape[1]}; pass beam_indices"
            )
        beam_indices = torch.arange(stacked.shape[1], device=sequences.device)[:, None].expand(-1, steps)
    ended = beam_indices < 0
    taken = int((~ended).sum(dim=1).max()) if beam_indices.numel() else 0
    beams = beam_indices[:, :taken].clamp(min=0).to(torch.long)  # (rows, taken)
    ended = ended[:, :taken]
    tokens = sequences[:, sequences.shape[1] - taken:]  # the generated tokens, aligned to the steps
    step = torch.arange(taken, device=sequences.device)[None, :].expand_as(beams)
    out = stacked[step, beams, tokens.clamp(min=0)]  # (rows, taken)
    return out.masked_fill(ended, 0.0)
