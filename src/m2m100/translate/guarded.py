"""Generation under the quality guards (m2m100.guards.guard_pieces): flagged pieces decoded again, bounded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..guards import Candidate, GuardConfig, check_piece, guard_pieces, score_sequences
from .request import Piece


def guarded_generate(translator: Any, pieces: Sequence[Piece], options: dict[str, Any], progress: bool | None,
             config: GuardConfig | None, details: bool, kwargs: dict[str, Any]) -> list[Any]:
    """Generation with the quality guards (m2m100.guards.guard_pieces): strings, or PieceReports when
    `details`. With guards off and details on, pieces are flagged and scored but never decoded again."""
    import torch

    tokenizer = translator.tokenizer
    eos, pad = int(tokenizer.eos_token_id), int(tokenizer.pad_token_id)
    unk = getattr(tokenizer, "unk_token_id", None)
    active = config if config is not None else GuardConfig(max_retries=0)
    jobs = [(p.text, p.source, p.target) for p in pieces]
    by_job = dict(zip(jobs, pieces))

    def generate(batch: list[tuple[str, str, str]], settings: dict[str, Any], seed: int | None) -> list[Candidate]:
        again = [by_job[job] for job in batch]
        run = dict(kwargs, pack=True)
        if seed is None:
            rows = translator.runner.generate(again, settings, with_ids=True, **run)
        else:
            devices = [translator.model.device] if getattr(translator.model.device, "type", "cpu") == "cuda" else []
            with torch.random.fork_rng(devices=devices):  # the caller's random state is left alone
                torch.manual_seed(seed)
                rows = translator.runner.generate(again, settings, with_ids=True, **run)
        return [Candidate.make(text, src, out, eos) for text, src, out in rows]

    def word_has_unk(word: str) -> bool:
        return unk is not None and unk in tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word))

    def check(candidate: Candidate, job: tuple[str, str, str]) -> list[Any]:
        return check_piece(candidate, job[0], job[1], job[2], active, eos_id=eos, unk_id=unk,
                           word_has_unk=word_has_unk)

    def score(candidates: list[Candidate]) -> list[float]:
        return score_sequences(translator.model, [(c.source_ids, c.output_ids) for c in candidates], pad, eos,
                               translator.max_batch_tokens)

    rows = translator.runner.generate(pieces, options, progress=progress, with_ids=True, **kwargs)
    first = [Candidate.make(text, src, out, eos) for text, src, out in rows]
    reports = guard_pieces(jobs, first, active, options, check=check, generate=generate, score=score,
                           score_all=details)
    return reports if details else [r.text for r in reports]


__all__ = ["guarded_generate"]
