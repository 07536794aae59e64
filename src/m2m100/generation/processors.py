"""Logits processors: small callables `proc(input_ids, scores, rows) -> scores`, applied in transformers' order.

input_ids: (n, cur_len) the decoder sequences so far (start token included) of the n rows being decoded.
scores:    (n, vocab) float32 -- raw logits (greedy, sampling) or log-probabilities (beam search). Processors may
           modify it in place and return it.
rows:      (n,) index of each row in the expanded batch (batch * max(num_beams, num_return_sequences)); only
           per-row options (a forced BOS token per row) need it, since finished rows leave the batch.

The arithmetic of each step matches transformers' processor of the same name, so scores and ids are the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

Processor = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class RepetitionPenalty:
    """Tokens already in the sequence: negative scores multiplied by `penalty`, positive ones divided by it."""

    def __init__(self, penalty: float):
        self.penalty = float(penalty)

    def __call__(self, input_ids, scores, rows):
        seen = scores.gather(1, input_ids)
        seen = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return scores.scatter_(1, input_ids, seen)


class NoRepeatNGram:
    """Ban every token that would complete an n-gram already present in the sequence."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, input_ids, scores, rows):
        n, cur_len = self.size, input_ids.shape[1]
        if cur_len < n:
            return scores
        windows = input_ids.unfold(1, n, 1)  # (rows, cur_len - n + 1, n): every complete n-gram so far
        suffix = input_ids[:, cur_len - n + 1 :]  # the n-1 tokens a new n-gram would start with
        hits = (windows[..., :-1] == suffix.unsqueeze(1)).all(dim=-1)
        vocab = scores.shape[1]
        # windows that do not match point at a spare column past the vocabulary
        target = torch.where(hits, windows[..., -1], vocab)
        banned = torch.zeros(scores.shape[0], vocab + 1, dtype=torch.bool, device=scores.device)
        banned.scatter_(1, target, True)
        return scores.masked_fill_(banned[:, :vocab], -math.inf)


class BadWords:
    """Ban single tokens always, and the last token of a longer sequence when the rest of it was just generated."""

    def __init__(self, bad_words_ids: Sequence[Sequence[int]], eos_ids: Sequence[int], vocab_size: int, device):
        eos = set(eos_ids)
        # like transformers: a banned word that is just one EOS token is ignored (it would forbid stopping)
        words = [list(w) for w in bad_words_ids if not (len(w) == 1 and w[0] in eos)]
        self.single = torch.zeros(vocab_size, dtype=torch.bool, device=device)
        singles = [w[0] for w in words if len(w) == 1]
        if singles:
            self.single[torch.tensor(singles, device=device)] = True
        self.any_single = bool(singles)
        groups: dict[int, list[list[int]]] = {}
        for w in words:
            if len(w) > 1:
                groups.setdefault(len(w) - 1, []).append(w)
        # per prefix length: (prefixes (g, length), last tokens (g,))
        self.groups = [
            (torch.tensor([w[:-1] for w in ws], device=device), torch.tensor([w[-1] for w in ws], device=device))
            for _, ws in sorted(groups.items())
        ]

    def __call__(self, input_ids, scores, rows):
        if self.any_single:
            scores = scores.masked_fill_(self.single, -math.inf)
        for prefixes, last in self.groups:
            length = prefixes.shape[1]
            if length > input_ids.shape[1]:
                continue
            match = (input_ids[:, None, -length:] == prefixes).all(dim=-1)  # (rows, words)
            # several words may share a last token: any match bans it
            hits = torch.zeros(scores.shape, dtype=torch.int32, device=scores.device)
            banned = hits.index_add_(1, last, match.to(torch.int32)) > 0
            scores = scores.masked_fill_(banned, -math.inf)
        return scores


class MinLength:
    """EOS forbidden while the sequence (start token included) is shorter than `min_length`."""

    def __init__(self, min_length: int, eos_ids: Sequence[int], device):
        self.min_length = min_length
        self.eos = torch.tensor(list(eos_ids), device=device)

    def __call__(self, input_ids, scores, rows):
        if input_ids.shape[1] < self.min_length:
            scores[:, self.eos] = -math.inf
        return scores


class ForcedBOS:
    """At the first generated position only the target-language token is allowed (one per row if a tensor)."""

    def __init__(self, token: int | torch.Tensor):
        self.token = token

    def __call__(self, input_ids, scores, rows):
        if input_ids.shape[1] != 1:
            return scores
        out = torch.full_like(scores, -math.inf)
        if isinstance(self.token, torch.Tensor):
            out[torch.arange(scores.shape[0], device=scores.device), self.token[rows]] = 0
        else:
            out[:, self.token] = 0
        return out


class ForcedEOS:
    """At the last position allowed by max_length only EOS is allowed."""

    def __init__(self, max_length: int, eos_ids: Sequence[int], device):
        self.max_length = max_length
        self.eos = torch.tensor(list(eos_ids), device=device)

    def __call__(self, input_ids, scores, rows):
        if input_ids.shape[1] != self.max_length - 1:
            return scores
        out = torch.full_like(scores, -math.inf)
        out[:, self.eos] = 0
        return out


class Temperature:
    def __init__(self, temperature: float):
        self.temperature = float(temperature)

    def __call__(self, input_ids, scores, rows):
        return scores / self.temperature


class TopK:
    """Keep the k best scores (ties with the k-th included)."""

    def __init__(self, k: int, min_keep: int = 1):
        self.k = max(k, min_keep)

    def __call__(self, input_ids, scores, rows):
        k = min(self.k, scores.shape[-1])
        kth = torch.topk(scores, k)[0][..., -1:]
        return scores.masked_fill_(scores < kth, -math.inf)


class TopP:
    """Keep the smallest set of best tokens whose probability mass exceeds p (nucleus sampling)."""

    def __init__(self, p: float, min_keep: int = 1):
        self.p = float(p)
        self.min_keep = min_keep

    def __call__(self, input_ids, scores, rows):
        ascending, order = torch.sort(scores, descending=False)
        mass = ascending.softmax(dim=-1).cumsum(dim=-1)
        drop_sorted = mass <= (1 - self.p)
        drop_sorted[..., -self.min_keep :] = False
        drop = drop_sorted.scatter(1, order, drop_sorted)
        return scores.masked_fill_(drop, -math.inf)


class UserProcessor:
    """A transformers-style processor `(input_ids, scores) -> scores` given by the caller."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, input_ids, scores, rows):
        return self.fn(input_ids, scores)


class RemoveInvalidValues:
    """NaN scores become 0 and +-inf the largest finite values, so that sampling and top-k never see them."""

    def __call__(self, input_ids, scores, rows):
        finfo = torch.finfo(scores.dtype)
        return torch.nan_to_num(scores, nan=0.0, posinf=finfo.max, neginf=finfo.min)


def build_processors(
    gc,
    *,
    prompt_len: int,
    eos_ids: list[int] | None,
    forced_bos: int | torch.Tensor | None,
    vocab_size: int,
    device,
    custom: Sequence[Callable] | None = None,
) -> list[Processor]:
    """The processors for a resolved GenerationConfig, in transformers' order (it matters for scores and ids).

    repetition penalty, no-repeat n-gram, bad words, min length, forced BOS, forced EOS, remove invalid values,
    the caller's own,
    then for sampling only: temperature, top-k, top-p.
    """
    procs: list[Processor] = []
    if gc.repetition_penalty != 1.0:
        procs.append(RepetitionPenalty(gc.repetition_penalty))
    if gc.no_repeat_ngram_size > 0:
        procs.append(NoRepeatNGram(gc.no_repeat_ngram_size))
    if gc.bad_words_ids is not None:
        procs.append(BadWords(gc.bad_words_ids, eos_ids or [], vocab_size, device))
    # min_new_tokens replaces min_length (counted after the decoder prompt), as in transformers
    min_length = gc.min_length if gc.min_new_tokens is None else gc.min_new_tokens + prompt_len
    if eos_ids is not None and min_length > prompt_len:  # shorter minimums can never bite
        procs.append(MinLength(min_length, eos_ids, device))
    if forced_bos is not None:
        procs.append(ForcedBOS(forced_bos))
    if gc.forced_eos_token_id is not None:
        forced_eos = gc.forced_eos_token_id
        procs.append(ForcedEOS(gc.max_length, [forced_eos] if isinstance(forced_eos, int) else list(forced_eos), device))
    if gc.remove_invalid_values:
        procs.append(RemoveInvalidValues())
    for fn in custom or ():  # the caller's, transformers-style: fn(input_ids, scores) -> scores
        procs.append(UserProcessor(fn))
    if gc.do_sample:
        # beam sampling keeps one more token than there are EOS tokens, so a beam can always continue
        min_keep = (len(eos_ids or []) + 1 if eos_ids else 2) if gc.num_beams > 1 else 1
        if gc.temperature != 1.0:
            procs.append(Temperature(gc.temperature))
        if gc.top_k:
            procs.append(TopK(gc.top_k, min_keep))
        if gc.top_p < 1.0:
            procs.append(TopP(gc.top_p, min_keep))
    return procs


def apply(procs: list[Processor], input_ids: torch.Tensor, scores: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    for proc in procs:
        scores = proc(input_ids, scores, rows)
    return scores
