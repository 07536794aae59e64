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


class LiveRows:
    """The rows of a batch that greedy search or sampling decodes, one token per step (the bookkeeping that
    greedy_or_sample and the merged rows of generation.rowbatch share).

    sequences: (rows, max_length), the decoder prompt in [:, :prompt_len] and padding after it; filled in place.
    eos: (n_eos,) token ids or None (never stop early). With `prune`, rows that end leave the batch: `current`
    holds the rows still decoding and `rows` their index in `sequences` (per-row processors, such as a forced BOS
    token per row, need it). Without it every row stays and a row that ended receives `pad_token_id`, as in the
    full-batch reference the parity tests compare with.
    """

    def __init__(self, sequences: torch.Tensor, prompt_len: int, max_length: int, procs: list,
                 eos: torch.Tensor | None, pad_token_id: int | None = None, prune: bool = True):
        self.sequences = self.current = sequences
        self.rows = torch.arange(sequences.shape[0], device=sequences.device)
        self.cur_len, self.max_length = prompt_len, max_length
        self.procs, self.eos, self.pad_token_id = procs, eos, pad_token_id
        # full batch: which rows have not produced EOS yet
        self.unfinished = None if prune or eos is None else torch.ones(
            sequences.shape[0], dtype=torch.bool, device=sequences.device)
        self.finished = False  # every row ended, or max_length reached

    def process(self, logits: torch.Tensor) -> torch.Tensor:
        """The step's scores (rows still decoding, vocab): the processors applied to `logits`, which they may
        modify in place."""
        return apply(self.procs, self.current[:, : self.cur_len], logits, self.rows)

    def step(self, logits: torch.Tensor) -> torch.Tensor | None:
        """A greedy step: each row takes its best-scoring token after the processors; returns what `append` does."""
        return self.append(self.process(logits).argmax(dim=-1))

    def append(self, tokens: torch.Tensor) -> torch.Tensor | None:
        """Write each row's next token (rows still decoding,) and let the rows that ended go.

        Returns None when every row goes on, else the indices (into the rows before this step) of the rows that
        go on: an empty tensor once `finished`. Without pruning rows never leave: None until finished.
        """
        if self.unfinished is not None:
            tokens = torch.where(self.unfinished, tokens, self.pad_token_id)
        self.current[:, self.cur_len] = tokens
        self.cur_len += 1
        if self.cur_len >= self.max_length:
            return self._finish()
        if self.eos is None:
            return None
        ended = torch.isin(tokens, self.eos)
        if self.unfinished is not None:
            self.unfinished &= ~ended
            return None if bool(self.unfinished.any()) else self._finish()
        n_ended = int(ended.sum())  # the step's one synchronisation
        if n_ended == 0:
            return None
        if n_ended == ended.shape[0]:
            return self._finish()
        keep = (~ended).nonzero().squeeze(1)
        if self.current is not self.sequences:
            self.sequences[self.rows] = self.current  # the finished rows are complete: write them back
        self.current = self.current.index_select(0, keep)
        self.rows = self.rows.index_select(0, keep)
        return keep

    def _finish(self) -> torch.Tensor:
        if self.current is not self.sequences:
            self.sequences[self.rows] = self.current
        self.finished = True
        return torch.empty(0, dtype=torch.long, device=self.sequences.device)

    def result(self) -> torch.Tensor:
        """(rows, length) generated sequences, padded after EOS."""
        return self.sequences[:, : self.cur_len]


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
    live = LiveRows(sequences, prompt_len, max_length, procs, eos, pad_token_id, prune)
    scores, raw_logits = [], []
    while not live.finished:
        logits = state.logits(live.current, live.cur_len)
        if output_logits:
            raw_logits.append(scatter_rows(logits.clone(), live.rows, total, pad_token_id))
        step_scores = live.process(logits)
        if output_scores:
            scores.append(scatter_rows(step_scores, live.rows, total, pad_token_id))  # not modified after this
        if do_sample:
            tokens = sample_rows(torch.softmax(step_scores, dim=-1), 1, live.rows, total).squeeze(1)
        else:
            tokens = step_scores.argmax(dim=-1)
        keep = live.append(tokens)
        if keep is not None and not live.finished:
            state.keep(keep)
    return live.result(), scores, raw_logits
