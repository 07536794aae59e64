"""Greedy search and multinomial sampling (num_beams == 1), with finished rows leaving the batch."""

from __future__ import annotations

import torch

from .decoding import DecoderState
from .processors import apply


def finished_row_scores(rows: int, vocab: int, pad_token_id: int | None, like: torch.Tensor) -> torch.Tensor:
    """Score rows reported for sequences that already ended: -inf, except 0 for the padding they receive."""
    out = torch.full((rows, vocab), float("-inf"), dtype=like.dtype, device=like.device)
    if pad_token_id is not None and pad_token_id >= 0:  # -1: transformers' "no padding token"
        out[:, pad_token_id] = 0.0
    return out


def scatter_rows(active: torch.Tensor, rows: torch.Tensor, total: int, pad_token_id: int | None) -> torch.Tensor:
    """A full-batch (total, vocab) tensor from the rows still decoding."""
    if active.shape[0] == total:
        return active
    out = finished_row_scores(total, active.shape[1], pad_token_id, active)
    out[rows] = active
    return out


def sample_rows(probs: torch.Tensor, num_samples: int, rows: torch.Tensor, total: int) -> torch.Tensor:
    """torch.multinomial (without replacement) for a subset of a `total`-row batch, drawing the same random
    numbers as a multinomial over the whole batch would, so seeded runs match the full-batch reference.

    torch draws q ~ Exp(1) for every (row, token) and picks argmax / top-k of p / q; drawing q for the full batch
    and keeping our rows reproduces it exactly.
    """
    if probs.shape[0] == total:
        return torch.multinomial(probs, num_samples)
    q = torch.empty((total, probs.shape[1]), dtype=probs.dtype, device=probs.device).exponential_(1)
    ratio = probs / q.index_select(0, rows)
    if num_samples == 1:
        return ratio.argmax(dim=-1, keepdim=True)
    return torch.topk(ratio, num_samples)[1]


def greedy_or_sample(
    state: DecoderState,
    sequences: torch.Tensor,  # (rows, max_length): the decoder prompt in [:, :prompt_len], pad after it
    prompt_len: int,
    max_length: int,
    procs: list,
    eos: torch.Tensor | None,  # (n_eos,) or None: never stop early
    pad_token_id: int | None,
    do_sample: bool,
    prune: bool,
    output_scores: bool,
    output_logits: bool,
):
    """Decode until every row has produced EOS or max_length is reached; returns (sequences, scores, logits)."""
    total = sequences.shape[0]
    rows = torch.arange(total, device=sequences.device)  # batch row of each row still decoding
    current = sequences  # the rows still decoding (all of them without pruning)
    unfinished = None if prune or eos is None else torch.ones(total, dtype=torch.bool, device=sequences.device)
    scores, raw_logits = [], []
    cur_len = prompt_len
    while True:
        logits = state.logits(current, cur_len)
        if output_logits:
            raw_logits.append(scatter_rows(logits.clone(), rows, total, pad_token_id))
        step_scores = apply(procs, current[:, :cur_len], logits, rows)
        if output_scores:
            scores.append(scatter_rows(step_scores, rows, total, pad_token_id))  # not modified after this
        if do_sample:
            probs = torch.softmax(step_scores, dim=-1)
            tokens = sample_rows(probs, 1, rows, total).squeeze(1)
        else:
            tokens = step_scores.argmax(dim=-1)
        if unfinished is not None:  # full batch: finished rows receive padding, as in the reference
            tokens = torch.where(unfinished, tokens, pad_token_id)
        current[:, cur_len] = tokens
        cur_len += 1
        if cur_len >= max_length:
            break
        if eos is None:
            continue
        ended = torch.isin(tokens, eos)
        if unfinished is not None:
            unfinished &= ~ended
            if not bool(unfinished.any()):
                break
        else:
            n_ended = int(ended.sum())  # the step's one synchronisation
            if n_ended == 0:
                continue
            if n_ended == ended.shape[0]:
                break
            keep = (~ended).nonzero().squeeze(1)
            if current is not sequences:
                sequences[rows] = current  # the finished rows are complete: write them back
            current = current.index_select(0, keep)
            rows = rows.index_select(0, keep)
            state.keep(keep)
    if current is not sequences:
        sequences[rows] = current
    return sequences[:, :cur_len], scores, raw_logits
