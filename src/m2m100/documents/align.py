"""Word alignment from the model's cross-attention, for placing inline formatting on a translation.

After a unit is translated, one teacher-forced forward pass of the model on (source ids, translation ids) with
`output_attentions=True` gives the decoder's cross-attention, per layer (batch, heads, target, source). The
weights are averaged over heads and layers (or one layer is read); each target token is aligned to the source token it attends to
most (language token and </s> excluded: they soak up attention without meaning anything), read at the decoder
step that *predicts* the target token. (Chen et al. 2020 read it where the token is the decoder input,
"shift-att"; on the Multi30k model of bench/train_multi30k.py that lands a tag on the right word 8% of the time,
against 51% for the predicting step and 37% for proportional placement: `bench/bench_alignment.py`.) Tokens are mapped back to character ranges so that spans, which are character ranges, can
be projected (units.project). Returns None for a pair when it cannot be aligned (longer than the model's
positions, pieces that cannot be located in the text): the caller falls back to proportional placement.
"""

from __future__ import annotations

from typing import Any, Sequence

from .units import Alignment

_SPACE = "\u2581"


class Aligner:
    """aligner(pairs) -> one Alignment (or None) per (source text, translated text) pair.

    translator: an m2m100 Translator (its model and tokenizer are used, under its lock); source/target:
    normalised language codes. shift: read attention where the target token is the decoder input (True) or
    where it is predicted (False, the default: measured better, see the module docstring). layer: one decoder layer's cross-attention (e.g. -2, the penultimate,
    which Chen et al. found best) instead of the mean over all layers (None). Cost: one forward pass per
    pair, no generation.
    """

    def __init__(self, translator: Any, source: str, target: str, *, shift: bool = False, layer: int | None = None):
        self.translator = translator
        self.source = translator.normalize_language(source, "source")
        self.target = translator.normalize_language(target, "target")
        self.shift = shift
        self.layer = layer

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> list[Alignment | None]:
        return [self.align(src, tgt) for src, tgt in pairs]

    def align(self, source_text: str, target_text: str) -> Alignment | None:
        """[(target char range, source char range)] for each target token that has letters, or None."""
        import torch

        tok = self.translator.tokenizer
        model = self.translator.model
        src_pieces, src_ranges = _pieces(tok, source_text)
        tgt_pieces, tgt_ranges = _pieces(tok, target_text)
        if src_pieces is None or tgt_pieces is None or not src_pieces or not tgt_pieces:
            return None
        limit = int(model.config.max_position_embeddings)
        if len(src_pieces) + 2 > limit or len(tgt_pieces) + 2 > limit:
            return None
        eos = tok.eos_token_id
        src_ids = [tok.get_lang_id(self.source)] + list(tok.convert_tokens_to_ids(src_pieces)) + [eos]
        # decoder input: </s> (decoder start), target language token, the translation's tokens
        tgt_ids = [eos, tok.get_lang_id(self.target)] + list(tok.convert_tokens_to_ids(tgt_pieces))
        device = model.device
        lock = _model_lock(self.translator)
        with torch.inference_mode():
            if lock is not None:
                lock.acquire()
            try:
                out = model(
                    input_ids=torch.tensor([src_ids], device=device),
                    decoder_input_ids=torch.tensor([tgt_ids], device=device),
                    output_attentions=True, use_cache=False,
                )
            finally:
                if lock is not None:
                    lock.release()
        cross = out.cross_attentions
        if not cross:
            return None
        # (layers, heads, target steps, source) -> (target steps, source)
        chosen = cross if self.layer is None else [cross[self.layer]]
        weights = torch.stack([layer[0].float() for layer in chosen]).mean(dim=(0, 1))
        weights = weights[:, 1:-1]  # drop the source language token and </s>
        # step k has input tgt_ids[k]; the translation's token j is input at step j + 2, predicted at j + 1
        offset = 2 if self.shift else 1
        rows = weights[offset:offset + len(tgt_pieces)]
        best = rows.argmax(dim=-1).tolist()
        alignment: Alignment = []
        for j, i in enumerate(best):
            t = tgt_ranges[j]
            if t[1] > t[0] and any(ch.isalnum() for ch in target_text[t[0]:t[1]]):
                alignment.append((t, src_ranges[i]))
        return alignment


def _model_lock(translator: Any) -> Any:
    """The lock `translator` serialises its model calls under, or None; read at every call (a server may wrap
    it): its public `model_lock`."""
    return getattr(translator, "model_lock", None)


def _pieces(tokenizer: Any, text: str) -> tuple[list[str] | None, list[tuple[int, int]]]:
    """Sentencepiece tokens of `text` and the character range each covers, or (None, []) when a piece cannot
    be found in the text (normalisation changed it): then there is no trustworthy mapping back."""
    pieces = tokenizer.tokenize(text)
    ranges: list[tuple[int, int]] = []
    cursor = 0
    for piece in pieces:
        core = piece.replace(_SPACE, "")
        if not core:
            ranges.append((cursor, cursor))
            continue
        at = text.find(core, cursor)
        if at < 0 or text[cursor:at].strip():
            return None, []
        ranges.append((at, at + len(core)))
        cursor = at + len(core)
    return pieces, ranges
