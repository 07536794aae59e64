"""The output projection restricted to a subset of the vocabulary: what `generate(..., vocab_shortlist=ids)` uses.

The tied output projection (vocab x d_model; 128,112 x 1,024 for m2m100_418M) is the largest matrix a decoding
step reads. With a shortlist, each step multiplies the decoder state by the kept rows only and scatters the
result into a full-width (rows, vocab) float32 tensor filled with -inf. Logits processors, greedy search, beam
search and sampling therefore run unchanged and can never pick a token outside the subset; the softmax (and beam
search's log_softmax) normalises over the kept tokens only, so reported scores are those of the restricted
distribution.

Each kept logit is the same dot product the full projection computes, by the same kind of kernel: plain float
(generate's few-row (W h^T)^T product, generation.few_rows), oneDNN-prepacked float32/bfloat16
(packed.PackedLinear) or fbgemm int8 (quantize.Int8Linear, built from the same int8 rows). Kept columns equal the full ones bit for bit with prepacked
and int8 weights; with plain weights within an ulp, because BLAS picks its kernel by the matrix width
(tests/test_shortlist.py).

The kept rows come in two parts, so that a call gathers tens of rows rather than tens of thousands:
* the caller's shortlist (e.g. the tokens of a target language): gathered (and packed) once per model and kept
  in a small LRU cache (CACHE_SIZE entries per model; each costs kept x d_model in the weight format: 80 MB for
  20,000 float32 rows of m2m100_418M, 20 MB in int8);
* the call's extras (source tokens, special and forced tokens not in the shortlist): gathered on every call.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from ..errors import GenerationError
from .few_rows import few_row_product

CACHE_SIZE = 4  # shortlist row sets kept per model (one per target language in use, typically)

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # output projection -> OrderedDict[key, rows]
_cache_lock = threading.Lock()  # generate() may run in several threads (the server's continuous scheduler)


class ShortlistProjection:
    """hidden (..., d_model) -> logits (..., vocab) in float32: exact on the kept ids, -inf on every other id."""

    def __init__(self, vocab_size: int, parts: list[tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]]):
        self.vocab_size = vocab_size
        self.parts = [(ids, rows) for ids, rows in parts if ids.numel() > 0]  # (kept ids (k,), hidden -> (..., k))

    @property
    def kept_ids(self) -> torch.Tensor:
        """Every id the projection computes, (kept,) int64 (the shortlist's in order, then the extras)."""
        return torch.cat([ids for ids, _ in self.parts])

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        out = torch.full((*hidden.shape[:-1], self.vocab_size), float("-inf"), dtype=torch.float32,
                         device=hidden.device)
        for ids, rows in self.parts:
            out.index_copy_(-1, ids, rows(hidden).float())
        return out


def check_shortlist_ids(value: Any, vocab_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """vocab_shortlist as sorted unique int64 ids on `device`; GenerationError unless it is a non-empty 1-D
    collection of integer token ids in [0, vocab_size)."""
    if isinstance(value, torch.Tensor):
        ids = value
    else:
        try:
            ids = torch.as_tensor(list(value) if not isinstance(value, (str, bytes)) else value)
        except (TypeError, ValueError, RuntimeError):
            raise GenerationError(
                f"vocab_shortlist must be a 1-D list or tensor of token ids, got {type(value).__name__}") from None
    if ids.dim() != 1 or ids.numel() == 0 or ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise GenerationError(
            f"vocab_shortlist must be a non-empty 1-D list or tensor of integer token ids, got "
            f"{ids.dtype} with shape {tuple(ids.shape)}")
    ids = torch.unique(ids.to(device=device, dtype=torch.long))  # sorted
    if int(ids[0]) < 0 or int(ids[-1]) >= vocab_size:
        raise GenerationError(f"vocab_shortlist must hold token ids in [0, {vocab_size}), got "
                              f"{int(ids[0])}..{int(ids[-1])}")
    return ids


def shortlist_projection(model: nn.Module, shortlist: torch.Tensor,
                         extras: Iterable[torch.Tensor | int]) -> ShortlistProjection:
    """The projection onto `shortlist` (sorted unique ids from check_shortlist_ids) plus the `extras` ids (tensors
    or ints: source tokens, special tokens) it lacks. Raises GenerationError for an output projection type that
    has no row gathering here (every weight mode of this package has one)."""
    vocab = int(model.config.vocab_size)
    device = shortlist.device
    pieces = [torch.as_tensor(x, device=device).reshape(-1).long() for x in extras if x is not None]
    extra = torch.unique(torch.cat(pieces)) if pieces else shortlist.new_empty(0)
    extra = extra[(extra >= 0) & (extra < vocab)]  # -1 = "no such token" (pad/eos) never reaches the vocab
    in_shortlist = torch.zeros(vocab, dtype=torch.bool, device=device)
    in_shortlist[shortlist] = True  # a lookup table: quicker than torch.isin for a few ids against thousands
    extra = extra[~in_shortlist[extra]]
    make, version = _row_source(model)
    parts = [(shortlist, _cached_rows(model, shortlist, make, version))]
    if extra.numel():
        parts.append((extra, make(extra)))
    return ShortlistProjection(vocab, parts)


def clear_shortlist_cache() -> None:
    """Drop every cached shortlist row set (they are also dropped with their model, and rebuilt when the
    weights change)."""
    with _cache_lock:
        _cache.clear()


# -- row gathering per weight format ---------------------------------------------------------------------------
class _DenseRows:
    """Float rows, multiplied the way generate multiplies the full matrix (few_rows.project_to_vocab), so that
    the values match."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        self.weight, self.bias = weight, bias

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        return few_row_product(self.weight, self.bias, hidden)


def _version(*tensors: torch.Tensor) -> tuple:
    """Changes whenever one of the tensors is replaced or edited in place (torch's version counter)."""
    return tuple((t.data_ptr(), t._version, tuple(t.shape), t.dtype) for t in tensors)


def _row_source(model: nn.Module) -> tuple[Callable[[torch.Tensor], Callable], tuple]:
    """(make: ids -> the output projection's rows `ids` as a callable hidden -> (..., len(ids)), weight version)."""
    # imported here: generation does not need the weight-format modules otherwise
    from ..head import CachedHead
    from ..packed import PackedLinear
    from ..quantize import Int8Embedding, Int8Linear

    head = model.get_output_embeddings()
    embedding = model.get_input_embeddings()
    tied = bool(getattr(model.config, "tie_word_embeddings", True))
    bias = getattr(head, "bias", None)

    def bias_rows(ids: torch.Tensor) -> torch.Tensor | None:
        return None if bias is None else bias.detach().index_select(0, ids.to(bias.device))

    if type(head) is nn.Linear or isinstance(head, CachedHead):
        weight = head.weight
        return (lambda ids: _DenseRows(weight.detach().index_select(0, ids), bias_rows(ids)), _version(weight))
    if isinstance(head, PackedLinear):
        # the packed matrix cannot be indexed: the tied embedding holds the same rows in the ordinary layout
        if tied and isinstance(embedding, nn.Embedding) and embedding.weight.dtype == head.dtype:
            source = embedding.weight
        else:
            source = head.dense_weight()  # untied: a full copy per gathering (slow, but exact)
        return (lambda ids: PackedLinear(source.detach().index_select(0, ids.to(source.device)), bias_rows(ids)),
                _version(source))
    if isinstance(head, Int8Linear):
        # a tied int8 lm_head is packed from the embedding's int8 rows (quantize.install_int8): same q and scale
        if tied and isinstance(embedding, Int8Embedding):
            q, scale = embedding.q, embedding.scale
        else:
            q, scale = _int8_rows(head)
        return (lambda ids: Int8Linear(q.index_select(0, ids), scale.index_select(0, ids), bias_rows(ids)),
                _version(q, scale))
    raise GenerationError(f"vocab_shortlist cannot restrict an output projection of type {type(head).__name__}")


def _int8_rows(head: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(q int8 (vocab, d), scale float32 (vocab,)) of an untied Int8Linear, unpacked from fbgemm when packed."""
    if head.packed is None:
        return head.q, head.scale
    qs, scales = [], []
    for packed in head.packed:
        weight, _ = torch.ops.quantized.linear_unpack(packed)
        qs.append(weight.int_repr())
        scales.append(weight.q_per_channel_scales().float())
    return torch.cat(qs), torch.cat(scales)


def _cached_rows(model: nn.Module, ids: torch.Tensor, make: Callable, version: tuple) -> Callable:
    head = model.get_output_embeddings()
    key = (hashlib.blake2b(ids.cpu().numpy().tobytes(), digest_size=16).digest(), ids.device, version)
    with _cache_lock:
        entries = _cache.setdefault(head, OrderedDict())
        rows = entries.get(key)
        if rows is not None:
            entries.move_to_end(key)
            return rows
    rows = make(ids)  # outside the lock: packing thousands of rows takes a while
    with _cache_lock:
        entries[key] = rows
        while len(entries) > CACHE_SIZE:
            entries.popitem(last=False)
    return rows
