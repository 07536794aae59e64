"""Opt-in inference speed-up for the output projection: lm_head swapped for a CachedHead (a module swap, like
packed.py and quantize.py).

By default lm_head is a plain nn.Linear: forward() calls it as it is (the reference path), and generate()
multiplies it as (W h^T)^T for the few rows of a decoding step (generation.few_rows.project_to_vocab), reading
the weight in place. `cache_head(model)` swaps in a CachedHead: the very same parameters (still tied to the
embedding, same state_dict keys), whose inference products (no gradient wanted, CPU, input of the weight's
dtype, no bias) multiply by a copy of the matrix in oneDNN's blocked layout (a row-major W^T copy where oneDNN
cannot pack the dtype). `uncache_head(model)` puts a plain nn.Linear back.

Measured on a 2-core Xeon (d_model 1024 x 128,112 vocabulary, median of interleaved runs): F.linear 54 ms,
(W h^T)^T 34 ms, the packed copy 30 ms at 16 rows; at 32 rows 67 / 44 / 44 ms; at 1 and 80 rows all about
equal. The copy costs vocab x d_model more memory (525 MB for m2m100_418M in float32) for at most ~10% of
the projection, hence opt-in.

The copy is rebuilt whenever the weight changes: another tensor, another storage, an in-place edit (torch's
version counter) or an edit through `.data` (which bypasses that counter: a fixed sample of entries is compared
too). It is not part of the module's state: pickling, copy.deepcopy and torch.save(model) leave it out (it is
rebuilt on the next call), and under torch.compile the plain F.linear is traced (an opaque packed tensor cannot
be lowered).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError
from .meta import meta_device
from .packed import can_prepack


class CachedHead(nn.Linear):
    """An nn.Linear (sharing the parameters of the one it replaces) whose inference products use a cached
    copy of its matrix in a layout made for them (see the module docstring)."""

    def __init__(self, linear: nn.Linear):
        with meta_device():  # no initialisation: the parameters are the given module's
            super().__init__(linear.in_features, linear.out_features, bias=linear.bias is not None)
        self.weight = linear.weight  # the same Parameter: ties and state_dict keys are unchanged
        self.bias = linear.bias
        self.train(linear.training)
        # (source weight, its version, a sample of its entries, the copy, whether the copy is oneDNN-packed)
        self._layout: tuple | None = None

    @property
    def has_cache(self) -> bool:
        """Whether a copy of the matrix is held now (one is built by the next inference call)."""
        return self._layout is not None

    def clear_cache(self) -> None:
        """Drop the copy of the matrix (it is rebuilt on the next inference call)."""
        self._layout = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if torch.compiler.is_compiling():  # trace the reference product; the cache is left as it is
            return F.linear(x, weight, self.bias)
        if (self.bias is not None or weight.device.type != "cpu" or x.dtype != weight.dtype
                or (torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad))):
            self._layout = None  # training or another device: the copy would only hold memory
            return F.linear(x, weight, self.bias)
        layout, packed = self._inference_layout(weight)
        if packed:
            return torch.ops.mkldnn._linear_pointwise(x.contiguous(), layout, None, "none", [], "")
        return torch.matmul(x, layout)

    def _inference_layout(self, weight: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """(the copy of `weight`, whether it is oneDNN-packed), rebuilt when `weight` changed."""
        cached = self._layout
        if cached is not None:
            source, version, sample, layout, packed = cached
            # `source` keeps the old storage alive, so an equal data_ptr really is the same storage
            if (source.data_ptr() == weight.data_ptr() and version == weight._version
                    and source.shape == weight.shape and source.stride() == weight.stride()
                    and source.dtype == weight.dtype and torch.equal(_sample(weight), sample)):
                return layout, packed
        self._layout = None  # free the stale copy before building the new one
        source = weight.detach()
        packed = source.dtype == torch.float32 and can_prepack(source.device, source.dtype)
        if packed:
            layout = torch.ops.mkldnn._reorder_linear_weight(source.contiguous(), 16)  # hint: ~16-row batches
        else:
            layout = source.t().contiguous()  # (in_features, out_features)
        self._layout = (source, weight._version, _sample(weight), layout, packed)
        return layout, packed

    def __getstate__(self) -> dict[str, Any]:
        # pickle, copy.deepcopy and torch.save(model) go through here: the copy (an opaque tensor when packed,
        # which has no storage to save) is left out and rebuilt on the next call
        state = self.__dict__.copy()
        state["_layout"] = None
        return state

    def extra_repr(self) -> str:
        return super().extra_repr() + ", cached inference layout"


def cache_head(model: nn.Module) -> CachedHead:
    """Swap the model's plain nn.Linear output projection for a CachedHead, in place; returns it (also when the
    head is one already). Raises ConfigError for any other head (packed and int8 heads have their own layout)."""
    head = model.get_output_embeddings()
    if isinstance(head, CachedHead):
        return head
    if type(head) is not nn.Linear:
        raise ConfigError(f"cache_head needs a plain nn.Linear output projection, got {type(head).__name__}")
    cached = CachedHead(head)
    model.set_output_embeddings(cached)
    return cached


def uncache_head(model: nn.Module) -> nn.Module:
    """Undo cache_head: a plain nn.Linear with the same parameters again (the copy is freed); returns the head."""
    head = model.get_output_embeddings()
    if not isinstance(head, CachedHead):
        return head
    with meta_device():
        plain = nn.Linear(head.in_features, head.out_features, bias=head.bias is not None)
    plain.weight, plain.bias = head.weight, head.bias
    plain.train(head.training)
    head.clear_cache()
    model.set_output_embeddings(plain)
    return plain


def _sample(weight: torch.Tensor, count: int = 64) -> torch.Tensor:
    """A fixed spread of entries of a (rows, cols) matrix: compared to notice edits that bypass the version counter."""
    rows, cols = weight.shape
    if rows == 0 or cols == 0:
        return weight.new_empty(0)
    r = torch.linspace(0, rows - 1, count).long()
    c = torch.arange(count) % cols
    with torch.no_grad():
        return weight.detach()[r, c].clone()
