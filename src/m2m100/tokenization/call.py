"""`tokenizer(text, ...)`: texts, pairs, pre-split words or ids in, a BatchEncoding of model inputs out.

It classifies the inputs, encodes every string of the batch in one go (`_encode_texts`) and adds the current
language's prefix/suffix tokens; cutting to length and padding are padding.py's steps.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .encoding import BatchEncoding, resolve_tensor_type

logger = logging.getLogger("m2m100.tokenization")


class CallMixin:
    """`__call__` and `encode` of TokenizerCore; only usable as part of TokenizerCore."""

    def encode(self, text, text_pair=None, add_special_tokens: bool = True, padding=False, truncation=None,
               max_length: int | None = None, return_tensors=None, **kwargs):
        """`input_ids` of one text (with `[lang] ... </s>` unless add_special_tokens=False)."""
        return self(text, text_pair=text_pair, add_special_tokens=add_special_tokens, padding=padding,
                    truncation=truncation, max_length=max_length, return_tensors=return_tensors,
                    return_attention_mask=False, **kwargs)["input_ids"]

    def __call__(
        self,
        text=None,
        text_pair=None,
        text_target=None,
        text_pair_target=None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        split_special_tokens: bool | None = None,
        max_target_length: int | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        **kwargs,
    ) -> BatchEncoding:
        """Encode a text or a batch of texts (and/or targets) for the model.

        Source texts become `[src_lang_id] tokens </s>`; `text_target=` texts become `[tgt_lang_id] tokens </s>`
        and are returned as `labels` (or as `input_ids` when no `text` is given). Padding, truncation and tensor
        options behave as in transformers. Lists of strings go through the batched fast path.
        """
        if tokenizer_kwargs:
            kwargs = {**tokenizer_kwargs, **kwargs}
        if kwargs:
            raise TypeError(f"M2M100Tokenizer.__call__() got unexpected keyword arguments: {sorted(kwargs)}")
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 0:
            raise ValueError(f"stride must be a non-negative integer, not {stride!r}")
        if return_offsets_mapping:
            raise NotImplementedError("return_offsets_mapping is not supported by this (sentencepiece) tokenizer")
        if text is None and text_target is None:
            raise ValueError("You need to specify either `text` or `text_target`.")
        if padding_side is not None and padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', not {padding_side!r}")
        if split_special_tokens is None:
            split_special_tokens = self.split_special_tokens
        tensor_kind = resolve_tensor_type(return_tensors)
        pad, trunc, max_length = self._strategies(padding, truncation, max_length, pad_to_multiple_of, verbose)
        options = dict(
            add_special_tokens=add_special_tokens, pad=pad, trunc=trunc, is_split_into_words=is_split_into_words,
            pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side or self.padding_side,
            tensor_kind=tensor_kind, return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask, return_special_tokens_mask=return_special_tokens_mask,
            return_length=return_length, split_special_tokens=split_special_tokens, stride=int(stride),
            # as transformers' python tokenizers: overflow is returned with python lists only
            return_overflowing_tokens=bool(return_overflowing_tokens) and tensor_kind is None,
            check_overflow_pairs=bool(return_overflowing_tokens),
        )
        if text_target is not None:
            self._check_target_language()
        encodings = targets = None
        try:
            if text is not None:
                self._switch_to_input_mode()
                encodings = self._encode_side(text, text_pair, max_length=max_length, **options)
            if text_target is not None:
                self._switch_to_target_mode()
                target_max = max_target_length if max_target_length is not None else max_length
                targets = self._encode_side(text_target, text_pair_target, max_length=target_max, **options)
        finally:
            self._switch_to_input_mode()
        if targets is None:
            return encodings
        if encodings is None:
            return targets
        encodings["labels"] = targets["input_ids"]
        return encodings

    def _classify(self, item, is_split_into_words: bool):
        """('text', str) | ('words', [str]) | ('ids', [int]) for one sequence."""
        if isinstance(item, str):
            return ("text", item)
        if isinstance(item, (list, tuple)) and item:
            if isinstance(item[0], (int, np.integer)):
                return ("ids", [int(i) for i in item])
            if isinstance(item[0], str):
                if is_split_into_words:
                    return ("words", list(item))
                return ("tokens", list(item))
        raise ValueError(f"Input must be a string, list of strings, or list of ints, got: {type(item)}")

    def _encode_side(self, text, text_pair, *, max_length, add_special_tokens, pad, trunc, is_split_into_words,
                     pad_to_multiple_of, padding_side, tensor_kind, return_token_type_ids, return_attention_mask,
                     return_special_tokens_mask, return_length, split_special_tokens, stride=0,
                     return_overflowing_tokens=False, check_overflow_pairs=False) -> BatchEncoding:
        is_batched = isinstance(text, (list, tuple)) and (
            (not text and not is_split_into_words)
            or (bool(text) and is_split_into_words and isinstance(text[0], (list, tuple)))
            or (bool(text) and not is_split_into_words and isinstance(text[0], (str, list, tuple)))
        )
        if is_batched:
            if text_pair is not None and (not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(text)):
                raise ValueError("If `text` is a batch, `text_pair` must also be a batch of the same length.")
            examples = []
            pairs = text_pair if text_pair is not None else [None] * len(text)
            for item, pair in zip(text, pairs):
                if isinstance(item, (list, tuple)) and item and not isinstance(item[0], (int, np.integer)) \
                        and pair is None:
                    is_pair = (
                        len(item) == 2
                        and (not is_split_into_words or isinstance(item, tuple))
                        and isinstance(item[0], (str, list, tuple))
                        and isinstance(item[1], (str, list, tuple))
                    )
                    if is_pair:
                        item, pair = item
                    elif len(item) == 1:
                        item = item[0]
                    elif not is_split_into_words:
                        raise ValueError(f"Expected a pair of sequences, got {len(item)} sequences.")
                first = self._classify(item, is_split_into_words)
                second = self._classify(pair, is_split_into_words) if pair is not None else None
                examples.append((first, second))
        else:
            if is_split_into_words and isinstance(text, (list, tuple)) and not text:
                first = ("words", [])
            else:
                first = self._classify(text, is_split_into_words)
            second = self._classify(text_pair, is_split_into_words) if text_pair is not None else None
            examples = [(first, second)]

        # One batched sentencepiece call for every string in the batch.
        strings: list[str] = []
        for pair_specs in examples:
            for spec in pair_specs:
                if spec is None:
                    continue
                if spec[0] == "text":
                    strings.append(spec[1])
                elif spec[0] == "words":
                    strings.extend(spec[1])
        encoded = iter(self._encode_texts(strings, split_special_tokens))

        def ids_of(spec) -> list[int] | None:
            if spec is None:
                return None
            kind, value = spec
            if kind == "text":
                return next(encoded)
            if kind == "words":
                return [i for _ in value for i in next(encoded)]
            if kind == "tokens":
                return [self._token_to_id(t) for t in value]
            return value

        prefix, suffix = list(self.prefix_tokens), list(self.suffix_tokens)
        n_special = len(prefix) + len(suffix) if add_special_tokens else 0
        want_types = bool(return_token_type_ids)
        want_mask = return_attention_mask is None or bool(return_attention_mask)

        rows: list[list[int]] = []
        type_rows: list[list[int]] = []
        special_rows: list[list[int]] = []
        lengths: list[int] = []
        # Per sequence (removed tokens + stride context, how many were removed); None where nothing was cut.
        # transformers returns the fields only when something was cut and fails on a batch where some
        # sequences overflowed and others not; here those get [] and 0 so the batch stays aligned.
        cuts: list[tuple[list[int], int] | None] = []
        for first_spec, second_spec in examples:
            ids, pair_ids = ids_of(first_spec), ids_of(second_spec)
            if check_overflow_pairs and trunc == "longest_first" and pair_ids is not None:
                raise ValueError(
                    "return_overflowing_tokens=True cannot return the overflow of a pair of sequences truncated "
                    "with 'longest_first'; use truncation='only_first' or 'only_second'."
                )
            total = len(ids) + (len(pair_ids) if pair_ids is not None else 0) + n_special
            if trunc != "do_not_truncate" and max_length and total > max_length:
                ids, pair_ids, cut = self._truncate(ids, pair_ids, total - max_length, trunc, stride)
                cuts.append((cut, total - max_length) if cut else None)
            else:
                cuts.append(None)
            if add_special_tokens:
                row = prefix + ids + (pair_ids or []) + suffix
            else:
                row = ids + (pair_ids or [])
            rows.append(row)
            if want_types:
                if add_special_tokens:
                    first_len = len(prefix) + len(ids) + len(suffix)
                    type_rows.append([0] * first_len + [1] * (len(row) - first_len) if pair_ids is not None
                                     else [0] * len(row))
                else:
                    type_rows.append([0] * len(row))
            if return_special_tokens_mask:
                if add_special_tokens:
                    special_rows.append([1] * len(prefix) + [0] * (len(row) - n_special) + [1] * len(suffix))
                else:
                    special_rows.append([0] * len(row))
            lengths.append(len(row))

        if lengths and max(lengths) > self.model_max_length and not self._warned_too_long:
            self._warned_too_long = True
            logger.warning(
                "Token indices sequence length is longer than the specified maximum sequence length for this model "
                "(%d > %d). Running this sequence through the model will result in indexing errors",
                max(lengths), self.model_max_length,
            )
        overflow: dict[str, list] = {}
        if return_overflowing_tokens and any(cut is not None for cut in cuts):
            overflow["overflowing_tokens"] = [cut[0] if cut else [] for cut in cuts]
            overflow["num_truncated_tokens"] = [cut[1] if cut else 0 for cut in cuts]
        if not is_batched:
            return self._finish_single(rows[0], type_rows, special_rows, want_types, return_special_tokens_mask,
                                       want_mask, return_length, pad, max_length, pad_to_multiple_of,
                                       padding_side, tensor_kind, {k: v[0] for k, v in overflow.items()})
        return self._finish_batch(rows, type_rows, special_rows, lengths, want_types, return_special_tokens_mask,
                                  want_mask, return_length, pad, max_length, pad_to_multiple_of, padding_side,
                                  tensor_kind, overflow)


__all__ = ["CallMixin"]
