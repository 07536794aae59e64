"""Padding and truncation: transformers' strategies resolved once per call, sequences cut to length, and rows
padded into a BatchEncoding.

Rectangular batches asked for as tensors are filled straight into numpy arrays (`_fill_rows`), so padding a
large batch does no per-token Python work; python-list results keep transformers' per-row layout.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from itertools import chain
from typing import Any

import numpy as np

from .encoding import BatchEncoding, resolve_tensor_type, to_python

# transformers' sentinels: a model_max_length above LARGE_INTEGER means "no limit known".
VERY_LARGE_INTEGER = int(1e30)
LARGE_INTEGER = int(1e20)

_PADDINGS = ("longest", "max_length", "do_not_pad")
_TRUNCATIONS = ("only_first", "only_second", "longest_first", "do_not_truncate")


def _fill_rows(rows: list[list[int]], lens: np.ndarray, width: int, fill: int, side: str) -> np.ndarray:
    out = np.full((len(rows), width), fill, dtype=np.int64)
    if not len(rows) or width == 0:
        return out
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(lens.sum()))
    row_index = np.repeat(np.arange(len(rows)), lens)
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    col = np.arange(flat.size) - np.repeat(starts, lens)
    if side == "left":
        col = col + np.repeat(width - lens, lens)
    out[row_index, col] = flat
    return out



class PaddingMixin:
    """Padding and truncation of TokenizerCore (it reads `model_max_length`, the pad token, `padding_side` and
    `truncation_side`); only usable as part of TokenizerCore."""

    def _strategies(self, padding, truncation, max_length, pad_to_multiple_of, verbose=True):
        """(padding, truncation, max_length) resolved the way transformers does."""
        padding = getattr(padding, "value", padding)
        truncation = getattr(truncation, "value", truncation)
        if max_length is not None and padding is False and truncation is None:
            truncation = "longest_first"  # max_length alone means "truncate to it"
        if padding is True:
            if verbose and max_length is not None and truncation in (None, False, "do_not_truncate"):
                warnings.warn(
                    "`max_length` is ignored when `padding`=`True` and there is no truncation strategy. "
                    "To pad to max length, use `padding='max_length'`.", stacklevel=3,
                )
            pad = "longest"
        elif padding is False or padding is None:
            pad = "do_not_pad"
        elif padding in _PADDINGS:
            pad = padding
        else:
            raise ValueError(f"padding must be True, False or one of {_PADDINGS}, not {padding!r}")
        if truncation is True:
            trunc = "longest_first"
        elif truncation is False or truncation is None:
            trunc = "do_not_truncate"
        elif truncation in _TRUNCATIONS:
            trunc = truncation
        else:
            raise ValueError(f"truncation must be True, False or one of {_TRUNCATIONS}, not {truncation!r}")
        if max_length is None:
            if pad == "max_length":
                if self.model_max_length > LARGE_INTEGER:
                    pad = "do_not_pad"
                else:
                    max_length = self.model_max_length
            if trunc != "do_not_truncate":
                if self.model_max_length > LARGE_INTEGER:
                    trunc = "do_not_truncate"
                else:
                    max_length = self.model_max_length
        if (pad != "do_not_pad") and self.pad_token is None:
            raise ValueError("asked to pad but the tokenizer has no pad token")
        if (trunc != "do_not_truncate" and pad != "do_not_pad" and pad_to_multiple_of is not None
                and max_length is not None and max_length % pad_to_multiple_of != 0):
            raise ValueError(
                f"Truncation and padding are both activated but truncation length ({max_length}) is not a "
                f"multiple of pad_to_multiple_of ({pad_to_multiple_of})."
            )
        return pad, trunc, max_length

    def _truncate(self, ids: list[int], pair_ids: list[int] | None, remove: int, trunc: str, stride: int = 0):
        """transformers' truncate_sequences: (ids, pair_ids, overflow), where overflow is the removed tokens
        plus `stride` tokens of context next to them (empty for a pair truncated 'longest_first')."""
        left = self.truncation_side == "left"
        cut: list[int] = []
        if trunc == "only_first" or (trunc == "longest_first" and pair_ids is None):
            window = min(len(ids), stride + remove)
            cut = ids[:window] if left else ids[-window:] if window else []
            ids = ids[remove:] if left else ids[:-remove]
        elif trunc == "longest_first":
            len_ids, len_pair = len(ids), len(pair_ids)
            first_remove = min(abs(len_pair - len_ids), remove)
            second_remove = remove - first_remove
            if len_ids > len_pair:
                ids_move = first_remove + second_remove // 2
                pair_move = second_remove - second_remove // 2
            else:
                ids_move = second_remove // 2
                pair_move = first_remove + second_remove - second_remove // 2
            if left:
                ids = ids[ids_move:]
                pair_ids = pair_ids[pair_move:]
            else:
                ids = ids[:-ids_move] if ids_move > 0 else ids
                pair_ids = pair_ids[:-pair_move] if pair_ids and pair_move > 0 else pair_ids
        elif trunc == "only_second" and pair_ids:
            window = min(len(pair_ids), stride + remove)
            cut = pair_ids[:window] if left else pair_ids[-window:] if window else []
            pair_ids = pair_ids[remove:] if left else pair_ids[:-remove]
        return ids, pair_ids, cut

    @staticmethod
    def _target_length(pad: str, longest: int, max_length: int | None, multiple: int | None) -> int | None:
        if pad == "do_not_pad":
            return None
        length = longest if pad == "longest" else max_length
        if length is not None and multiple is not None and length % multiple != 0:
            length = (length // multiple + 1) * multiple
        return length

    def _pad_list(self, row: list[int], value: int, length: int | None, side: str) -> list[int]:
        if length is None or len(row) >= length:
            return row
        filler = [value] * (length - len(row))
        return row + filler if side == "right" else filler + row

    def _finish_single(self, row, type_rows, special_rows, want_types, want_special, want_mask, want_length, pad,
                       max_length, multiple, side, tensor_kind, overflow=None) -> BatchEncoding:
        data: dict[str, Any] = {"input_ids": row}
        if want_types:
            data["token_type_ids"] = type_rows[0]
        if want_special:
            data["special_tokens_mask"] = special_rows[0]
        data.update(overflow or {})
        length = self._target_length(pad, len(row), max_length, multiple)
        if want_mask:
            data["attention_mask"] = [1] * len(row)
        if length is not None and len(row) != length:
            data = self._pad_fields(data, length, side)
        if want_length:
            data["length"] = len(data["input_ids"])
        return BatchEncoding(data, tensor_type=tensor_kind, prepend_batch_axis=True)

    def _pad_fields(self, data: dict[str, Any], length: int, side: str) -> dict[str, Any]:
        fills = {"input_ids": self.pad_token_id, "attention_mask": 0, "token_type_ids": self.pad_token_type_id,
                 "special_tokens_mask": 1}
        return {key: self._pad_list(value, fills[key], length, side) if key in fills else value
                for key, value in data.items()}

    def _finish_batch(self, rows, type_rows, special_rows, lengths, want_types, want_special, want_mask,
                      want_length, pad, max_length, multiple, side, tensor_kind, overflow=None) -> BatchEncoding:
        data: dict[str, Any] = {"input_ids": rows}
        if want_types:
            data["token_type_ids"] = type_rows
        if want_special:
            data["special_tokens_mask"] = special_rows
        data.update(overflow or {})
        if want_length:
            data["length"] = list(lengths)
        if not rows:
            if want_mask:
                data["attention_mask"] = []
            if tensor_kind is not None:
                return BatchEncoding({k: np.zeros((0, 0) if k != "length" else (0,), dtype=np.int64)
                                      for k in data}, tensor_type=tensor_kind)
            return BatchEncoding(data)
        length = self._target_length(pad, max(lengths), max_length, multiple)
        uniform = length is not None and all(n <= length for n in lengths)
        if tensor_kind is not None and (uniform or len(set(lengths)) == 1):
            # Rectangular result: fill numpy arrays directly, no per-token python work.
            width = length if uniform else lengths[0]
            lens = np.asarray(lengths, dtype=np.int64)
            out: dict[str, Any] = {}
            for key, value, fill in (("input_ids", rows, self.pad_token_id),
                                     ("token_type_ids", type_rows, self.pad_token_type_id),
                                     ("special_tokens_mask", special_rows, 1)):
                if key in data:
                    out[key] = _fill_rows(value, lens, width, fill, side)
            if want_length:
                out["length"] = lens
            if want_mask:
                cols = np.arange(width)
                if side == "right":
                    out["attention_mask"] = (cols[None, :] < lens[:, None]).astype(np.int64)
                else:
                    out["attention_mask"] = (cols[None, :] >= (width - lens)[:, None]).astype(np.int64)
            ordered = {key: out[key] for key in ("input_ids", "token_type_ids", "special_tokens_mask", "length",
                                                 "attention_mask") if key in out}
            return BatchEncoding(ordered, tensor_type=tensor_kind)
        if want_mask:
            data["attention_mask"] = [[1] * n for n in lengths]
        if length is not None:
            fills = {"input_ids": self.pad_token_id, "attention_mask": 0, "token_type_ids": self.pad_token_type_id,
                     "special_tokens_mask": 1}
            for key, fill in fills.items():
                if key in data:
                    data[key] = [self._pad_list(row, fill, length, side) for row in data[key]]
        return BatchEncoding(data, tensor_type=tensor_kind)

    def pad(self, encoded_inputs, padding: bool | str = True, max_length: int | None = None,
            pad_to_multiple_of: int | None = None, padding_side: str | None = None,
            return_attention_mask: bool | None = None, return_tensors: str | None = None,
            verbose: bool = True) -> BatchEncoding:
        """Pad already-encoded inputs (a dict of lists, or a list of dicts, as a DataCollator passes)."""
        if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], Mapping):
            encoded_inputs = {key: [example[key] for example in encoded_inputs] for key in encoded_inputs[0].keys()}
        if not isinstance(encoded_inputs, Mapping) or "input_ids" not in encoded_inputs:
            raise ValueError("pad() needs encodings that include input_ids")
        kind = resolve_tensor_type(return_tensors)
        data = {}
        for key, value in encoded_inputs.items():
            if hasattr(value, "tolist") and not isinstance(value, list):
                if kind is None:
                    kind = "pt" if type(value).__module__.startswith("torch") else "np"
                value = value.tolist()
            data[key] = to_python(value)
        pad, _, max_length = self._strategies(padding, None, max_length, pad_to_multiple_of, verbose)
        side = padding_side or self.padding_side
        want_mask = return_attention_mask is None or bool(return_attention_mask)
        ids = data["input_ids"]
        batched = bool(ids) and isinstance(ids[0], list)
        rows = {key: (value if batched else [value]) for key, value in data.items()}
        if want_mask and "attention_mask" not in rows:
            rows["attention_mask"] = [[1] * len(r) for r in rows["input_ids"]]
        longest = max((len(r) for r in rows["input_ids"]), default=0)
        length = self._target_length(pad, longest, max_length, pad_to_multiple_of)
        fills = {"input_ids": self.pad_token_id, "attention_mask": 0, "token_type_ids": self.pad_token_type_id,
                 "special_tokens_mask": 1}
        if length is not None:
            for key, fill in fills.items():
                if key in rows:
                    rows[key] = [self._pad_list(list(r), fill, length, side) for r in rows[key]]
        out = rows if batched else {key: value[0] for key, value in rows.items()}
        return BatchEncoding(out, tensor_type=kind)


__all__ = ["LARGE_INTEGER", "VERY_LARGE_INTEGER", "PaddingMixin"]
