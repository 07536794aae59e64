"""Model batches: pieces (with their token ids) packed under a token budget, padded, generated and decoded.

`BatchRunner.generate(pieces, options)` is the only place the Translator calls `model.generate`. Pieces come
tokenized from `Translator.plan`, so nothing is tokenized here; a server batcher that has already formed its
batch hands it over as it is (it is only cut where the length policy differs between its pieces).

Length policy: when the caller sets neither `max_new_tokens` nor `max_length`, a piece of n input tokens may
produce up to max(default, 2n + 10) new tokens (rounded up to a multiple of 32 when raised, so that long sentences
are not cut at the checkpoint's default length); every length is capped so that the decoder stays within
`max_position_embeddings`, and by `cap` (a server's --max-new-tokens) when given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..errors import InputTooLongError
from ..progress import progress_bar, stderr_is_tty
from .request import Piece


class BatchRunner:
    """Generates translations of Pieces on `model` (see the module docstring). `shortlist`: a VocabShortlist or
    None; a batch whose targets it all covers decodes over its kept ids."""

    def __init__(self, model: Any, tokenizer: Any, *, max_batch_tokens: int, max_batch_size: int,
                 shortlist: Any = None):
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_size = max_batch_size
        self.max_positions = int(model.config.max_position_embeddings)
        self.shortlist = shortlist
        self.shortlist_ids: dict[frozenset[str], Any] = {}  # target languages -> kept ids tensor

    # -- length policy ---------------------------------------------------------------------------------
    def generation_config(self) -> Any:
        return getattr(self.model, "generation_config", None)

    def default_beams(self) -> int:
        """The checkpoint's num_beams (what a request without num_beams gets)."""
        return int(getattr(self.generation_config(), "num_beams", None) or 1)

    def default_new_tokens(self) -> int:
        config = self.generation_config()
        new = getattr(config, "max_new_tokens", None)
        if new:
            return int(new)
        length = getattr(config, "max_length", None) or 20
        return max(1, int(length) - 1)  # max_length counts the decoder start token

    def length_options(self, n_input: int, options: dict[str, Any], cap: int | None = None) -> dict[str, Any]:
        """max_new_tokens/max_length for a batch whose longest input has n_input tokens (module docstring)."""
        limit = self.max_positions - 1  # the decoder sequence includes its start token
        if cap is not None:
            limit = max(1, min(limit, int(cap)))
            if options.get("max_new_tokens") is None and options.get("max_length") is not None:
                return {"max_length": min(options["max_length"], limit + 1)}
        if options.get("max_new_tokens") is not None:
            return {"max_new_tokens": min(options["max_new_tokens"], limit)}
        if options.get("max_length") is not None:
            return {"max_length": min(options["max_length"], self.max_positions)}
        default = self.default_new_tokens()
        want = 2 * n_input + 10
        if want <= default:
            return {} if default <= limit else {"max_new_tokens": limit}
        return {"max_new_tokens": min(limit, 32 * math.ceil(want / 32))}

    # -- vocabulary shortlist --------------------------------------------------------------------------
    def kept_ids(self, targets: list[str]) -> Any:
        """The vocab_shortlist of a batch into `targets`: the union of their sets; None (the full vocabulary)
        without a shortlist, or when one of the targets has no set in it."""
        if self.shortlist is None:
            return None
        languages = frozenset(targets)
        if not all(self.shortlist.covers(code) for code in languages):
            return None
        kept = self.shortlist_ids.get(languages)
        if kept is None:  # one tensor per language set: generate() finds its gathered rows by these ids
            import torch

            kept = torch.tensor(self.shortlist.token_ids(languages), dtype=torch.long, device=self.model.device)
            if len(self.shortlist_ids) >= 64:  # mixed-target batches: many language combinations
                self.shortlist_ids.clear()
            self.shortlist_ids[languages] = kept
        return kept

    # -- batches ---------------------------------------------------------------------------------------
    def pack(self, pieces: Sequence[Piece], options: dict[str, Any], cap: int | None = None) -> list[list[int]]:
        """Indices of `pieces` in batches: longest first (memory problems show at once and the progress estimate
        is conservative), under max_batch_tokens (rows x longest x beams) and max_batch_size, one length policy
        per batch."""
        order = sorted(range(len(pieces)), key=lambda j: -pieces[j].tokens)
        beams = options.get("num_beams") or self.default_beams()
        batches: list[list[int]] = []
        batch: list[int] = []
        batch_len = 0
        batch_lengths: dict[str, Any] = {}
        for j in order:
            length_options = self.length_options(pieces[j].tokens, options, cap)
            longest = max(batch_len, pieces[j].tokens)
            if batch and (
                length_options != batch_lengths
                or (len(batch) + 1) * longest * beams > self.max_batch_tokens
                or len(batch) >= self.max_batch_size
            ):
                batches.append(batch)
                batch, batch_len = [], 0
            if not batch:
                batch_lengths = length_options
            batch.append(j)
            batch_len = max(batch_len, pieces[j].tokens)
        if batch:
            batches.append(batch)
        return batches

    def generate(self, pieces: Sequence[Piece], options: dict[str, Any], *, cap: int | None = None,
                 progress: bool | None = None, with_ids: bool = False, step_scheduler: Any = None,
                 pack: bool = True) -> list[Any]:
        """Decoded strings per piece (a list of strings per piece with num_return_sequences > 1), or
        (string, source ids, generated row) triples when `with_ids`. `pack=False`: the pieces are one batch
        already (cut only where the length policy differs). `step_scheduler`: the server's
        generation.continuous.StepScheduler whose job this thread runs (passed on to model.generate).
        Raises InputTooLongError for a piece longer than the model's positions (never truncated)."""
        import torch

        for j, piece in enumerate(pieces):
            if piece.tokens > self.max_positions:
                raise InputTooLongError(
                    f"piece {j} has {piece.tokens} tokens, more than the model's {self.max_positions} positions; "
                    "cut it with Translator.split first"
                )
        if pack:
            batches = self.pack(pieces, options, cap)
        else:
            batches = _regroup(pieces, self, options, cap)
        show = progress
        if show is None:
            show = len(batches) > 1 and stderr_is_tty()
        outputs: list[Any] = [""] * len(pieces)
        bar = progress_bar(len(pieces), bool(show))
        device = self.model.device
        pad = self.tokenizer.pad_token_id
        extra = {"step_scheduler": step_scheduler} if step_scheduler is not None else {}
        try:
            for batch in batches:
                width = max(pieces[j].tokens for j in batch)
                input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
                attention = torch.zeros((len(batch), width), dtype=torch.long)
                for r, j in enumerate(batch):
                    n = pieces[j].tokens
                    input_ids[r, :n] = torch.tensor(pieces[j].ids, dtype=torch.long)
                    attention[r, :n] = 1
                targets = [self.tokenizer.get_lang_id(pieces[j].target) for j in batch]
                forced = targets[0] if len(set(targets)) == 1 else targets
                kwargs = {**options, **self.length_options(width, options, cap), **extra}
                kept = self.kept_ids([pieces[j].target for j in batch])
                if kept is not None:
                    kwargs["vocab_shortlist"] = kept
                with torch.inference_mode():
                    generated = self.model.generate(
                        input_ids=input_ids.to(device), attention_mask=attention.to(device),
                        forced_bos_token_id=forced, **kwargs,
                    )
                sequences = getattr(generated, "sequences", generated)
                texts = self.tokenizer.batch_decode(sequences, skip_special_tokens=True)
                k = len(texts) // len(batch)  # > 1: num_return_sequences hypotheses per row (n-best)
                for r, j in enumerate(batch):
                    outputs[j] = texts[r] if k == 1 else texts[r * k:(r + 1) * k]
                    if with_ids:
                        outputs[j] = (outputs[j], list(pieces[j].ids), sequences[r].tolist())
                bar.update(len(batch))
        finally:
            bar.close()
        return outputs


def _regroup(pieces: Sequence[Piece], runner: BatchRunner, options: dict[str, Any],
             cap: int | None) -> list[list[int]]:
    """A batch formed by the caller, cut only where the length policy differs (no token budget applied)."""
    groups: dict[tuple, list[int]] = {}
    for j in sorted(range(len(pieces)), key=lambda j: -pieces[j].tokens):
        key = tuple(sorted(runner.length_options(pieces[j].tokens, options, cap).items()))
        groups.setdefault(key, []).append(j)
    return list(groups.values())


__all__ = ["BatchRunner"]
