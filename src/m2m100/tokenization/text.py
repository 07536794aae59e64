"""Text <-> ids: splitting text on added tokens, batched sentencepiece encoding, and decoding.

Encoding is batched: every text segment of a call goes to sentencepiece in one call (C++, multithreaded for
large batches) and sentencepiece ids become model ids through one numpy lookup table (`_spm_to_model`), so no
Python code runs per token on the common path. A family with another backend (NLLB's tokenizer.json)
overrides `_encode_texts`, `tokenize` and `convert_tokens_to_string`.
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path

import numpy as np

from .encoding import to_python
from .files import make_spm

_THREADED_BATCH = 1024  # batches with at least this many texts are encoded with several threads


class TextCodecMixin:
    """Text -> ids and ids -> text of TokenizerCore, over the sentencepiece model (`sp_model`, built from the
    family's `_spm_bytes`) and the added-token tables; only usable as part of TokenizerCore."""

    # ---------------------------------------------------------------------------------------------------------
    # text -> ids
    # ---------------------------------------------------------------------------------------------------------

    def _setup_spm(self) -> None:
        self.sp_model = make_spm(self._spm_bytes, self.sp_model_kwargs, Path(self.spm_file).name)
        sp = self.sp_model
        size = sp.get_piece_size()
        pieces = [sp.id_to_piece(i) for i in range(size)]
        self._spm_to_model = np.fromiter((self._token_to_id(p) for p in pieces), dtype=np.int64, count=size)
        self._spm_unk = sp.unk_id()
        # Unknown characters come out of sentencepiece as their own text; transformers looks that text up in
        # vocab.json. Only a vocabulary with strings that are not sentencepiece pieces can tell the difference.
        piece_set = set(pieces)
        self._vocab_has_foreign = any(
            token not in piece_set and token not in self._added_encoder for token in self.encoder
        )
        try:  # sentencepiece >= 0.2.1 returns int32 arrays directly: no python int per token
            sp.encode([""], out_type="numpy")
            self._spm_numpy = True
        except Exception:
            self._spm_numpy = False

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["sp_model"] = None  # sentencepiece processors do not pickle; _spm_bytes rebuilds it
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        # no sentencepiece bytes: another backend encodes (NLLB's tokenizer.json)
        self.sp_model = make_spm(self._spm_bytes, self.sp_model_kwargs, Path(self.spm_file).name) \
            if self._spm_bytes else None

    def _split_on_specials(self, text: str) -> list[str | int]:
        """Text pieces (str) and special-token ids (int), in order; empty text pieces dropped."""
        out: list[str | int] = []
        start = 0
        for match in self._special_re.finditer(text):
            if match.start() > start:
                out.append(text[start:match.start()])
            out.append(self._added_encoder[match.group()])
            start = match.end()
        if start < len(text):
            out.append(text[start:])
        if self._strip:
            # Added tokens with lstrip/rstrip eat the whitespace beside them (transformers' AddedToken flags).
            for i, part in enumerate(out):
                if isinstance(part, int):
                    lstrip, rstrip = self._strip.get(self._added_decoder[part], (False, False))
                    if lstrip and i > 0 and isinstance(out[i - 1], str):
                        out[i - 1] = out[i - 1].rstrip()
                    if rstrip and i + 1 < len(out) and isinstance(out[i + 1], str):
                        out[i + 1] = out[i + 1].lstrip()
            out = [part for part in out if part != ""]
        return out

    def _needs_split(self, text: str, split_special_tokens: bool) -> bool:
        if split_special_tokens or self._special_re is None:
            return False
        for char in self._special_first_chars:
            if char in text:
                return self._special_re.search(text) is not None
        return False  # no special token can start anywhere in the text

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False,
                 split_special_tokens: bool | None = None, **kwargs) -> list[str]:
        """Sentencepiece pieces of `text`, with special tokens in it kept whole (no language/eos added)."""
        if split_special_tokens is None:
            split_special_tokens = self.split_special_tokens
        if not isinstance(text, str):
            raise TypeError(f"tokenize() takes a string, not {type(text).__name__}")
        parts: list[str | int] = (
            self._split_on_specials(text) if self._needs_split(text, split_special_tokens) else [text]
        )
        segments = [part for part in parts if isinstance(part, str)]
        encoded = iter(self.sp_model.encode(segments, out_type=str)) if segments else iter(())
        tokens: list[str] = []
        for part in parts:
            if isinstance(part, str):
                tokens.extend(next(encoded))
            else:
                tokens.append(self._added_decoder[part])
        return tokens

    def _encode_segments(self, segments: list[str], split_special_tokens: bool) -> list[list[int]]:
        """Model ids of each text segment (no special-token splitting here): one batched sentencepiece call
        and one array lookup."""
        if not segments:
            return []
        sp = self.sp_model
        # Starting threads costs more than it saves on small batches (measured: 64 lines, 2 cores); large
        # batches use sentencepiece's default (all cores). An explicit sp_model_kwargs["num_threads"] wins.
        threads = self.sp_model_kwargs.get("num_threads", 1 if len(segments) < _THREADED_BATCH else -1)
        if self._spm_numpy:
            arrays = sp.encode(segments, out_type="numpy", num_threads=threads)
            lengths = [len(a) for a in arrays]
            flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int32)
        else:
            rows = sp.encode(segments, out_type=int, num_threads=threads)
            lengths = [len(r) for r in rows]
            flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=sum(lengths))
        mapped = self._spm_to_model[flat].tolist()
        out: list[list[int]] = []
        pos = 0
        for n in lengths:
            out.append(mapped[pos:pos + n])
            pos += n
        if (self._vocab_has_foreign or split_special_tokens) and flat.size and (flat == self._spm_unk).any():
            # Exactness for unknown characters: look their text up like transformers does (rare path).
            # With sampling the segmentation is drawn again, which is still a valid sample.
            start = 0
            for i, (segment, n) in enumerate(zip(segments, lengths)):
                if (flat[start:start + n] == self._spm_unk).any():
                    out[i] = [self._token_to_id(p) for p in sp.encode(segment, out_type=str)]
                start += n
        return out

    def _encode_texts(self, texts: list[str], split_special_tokens: bool) -> list[list[int]]:
        """Model ids (no language/eos) of each text, special tokens in the text kept whole."""
        plans: list[list[str | int] | None] = []
        segments: list[str] = []
        any_split = False
        for text in texts:
            if self._needs_split(text, split_special_tokens):
                parts = self._split_on_specials(text)
                plans.append(parts)
                segments.extend(part for part in parts if isinstance(part, str))
                any_split = True
            else:
                plans.append(None)
                segments.append(text)
        encoded = self._encode_segments(segments, split_special_tokens)
        if not any_split:
            return encoded
        out: list[list[int]] = []
        it = iter(encoded)
        for plan in plans:
            if plan is None:
                out.append(next(it))
                continue
            ids: list[int] = []
            for part in plan:
                if isinstance(part, str):
                    ids.extend(next(it))
                else:
                    ids.append(part)
            out.append(ids)
        return out

    # ---------------------------------------------------------------------------------------------------------
    # ids -> text
    # ---------------------------------------------------------------------------------------------------------

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        """Join tokens: runs of pieces decoded by sentencepiece, special tokens verbatim, outer spaces stripped."""
        specials = self._special_token_set
        out: list[str] = []
        run: list[str] = []
        for token in tokens:
            if token in specials:
                out.append(self.sp_model.decode(run) if run else "")
                out.append(token)
                run = []
            else:
                run.append(token)
        out.append(self.sp_model.decode(run) if run else "")
        return "".join(out).strip()

    @staticmethod
    def clean_up_tokenization(text: str) -> str:
        """Remove spaces before punctuation and English contractions (only when asked)."""
        for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                              (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
            text = text.replace(before, after)
        return text

    def _decode_one(self, ids: list[int], skip_special_tokens: bool, clean_up: bool | None) -> str:
        tokens = self.convert_ids_to_tokens(ids, skip_special_tokens=skip_special_tokens)
        if isinstance(tokens, str):
            tokens = [tokens]
        text = self.convert_tokens_to_string(tokens)
        if clean_up if clean_up is not None else self.clean_up_tokenization_spaces:
            text = self.clean_up_tokenization(text)
        return text

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None,
               **kwargs) -> str | list[str]:
        """Text of a sequence of ids (a list, array or tensor); a batch (2-d) gives a list of texts."""
        token_ids = to_python(token_ids)
        if isinstance(token_ids, list) and token_ids and isinstance(token_ids[0], list):
            return [self._decode_one(row, skip_special_tokens, clean_up_tokenization_spaces) for row in token_ids]
        return self._decode_one(token_ids, skip_special_tokens, clean_up_tokenization_spaces)

    def batch_decode(self, sequences, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None, **kwargs) -> list[str]:
        """Texts of a batch of id sequences (list of lists, 2-d array or tensor)."""
        sequences = to_python(sequences)
        if isinstance(sequences, list) and not sequences:
            return []
        result = self.decode(sequences, skip_special_tokens=skip_special_tokens,
                             clean_up_tokenization_spaces=clean_up_tokenization_spaces)
        return [result] if isinstance(result, str) else result



__all__ = ["TextCodecMixin"]
