"""Decoding-step matmuls for a few rows: y^T = W x^T, so the GEMM packs the small input, not the weight.

A decoding step multiplies 1-48 rows (batch x beams) by every decoder matrix. `F.linear` computes x W^T, and
a CPU GEMM re-packs its transposed operand W^T (up to 1024 x 4096 floats) into cache-sized panels on every call:
at 16 rows that copy costs as much as the arithmetic. Computed as (W x^T)^T the weight is read in its stored
row-major order and only the small x^T is packed: 1.3-1.9x faster per matmul at 16-32 rows on the CPUs measured
(bench/bench_kernels.py), for no extra memory (unlike a packed copy of each matrix, +672 MB for m2m100_418M's
decoder). With a bias the product is addmm(b, W, x^T), which on the torch builds tested rounds exactly like
F.linear from 16 rows on (fewer rows may differ in the last bit: another summation order, not another result).

This is a swap applied around the decoder call of generate (generation.decoding / generation.rowbatch), plus
the way generate multiplies a plain lm_head (project_to_vocab), not a change to the model: nn.Linear modules
keep their type, parameters and state_dict; anything else (gradients wanted, GPU, half precision, packed or
quantized modules, one row or many) runs `F.linear` as before. Edits to weights are seen at once: nothing is
cached. For the output projection (d_model 1024 x 128,112 rows, 16 rows, measured on a 2-core Xeon) this is
within ~10% of multiplying by a cached oneDNN-packed copy of the matrix, which costs +525 MB; that copy is the
opt-in m2m100.head.cache_head.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

# Rows (batch x positions) for which (W x^T)^T beats x W^T on the CPUs measured; from 64 rows on the GEMM's
# per-call packing of W is amortised and the generic path is as fast or faster.
MIN_ROWS, MAX_ROWS = 2, 48

_lock = threading.Lock()
# id(module tree root) -> [calls inside few_row_linears, the modules given the forward] (threads share models)
_users: dict[int, list] = {}


def few_row_product(weight: torch.Tensor, bias: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """F.linear(x, weight, bias) for x (..., in_features) -> (..., out_features), computed as (W x^T)^T when it
    is faster (2-48 float32 CPU rows, no gradient wanted)."""
    rows = x.numel() // x.shape[-1] if x.dim() > 0 and x.shape[-1] else 0
    if (not MIN_ROWS <= rows <= MAX_ROWS or x.device.type != "cpu" or x.dtype != torch.float32
            or weight.dtype != torch.float32 or weight.device.type != "cpu"
            or (torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad))):
        return F.linear(x, weight, bias)
    flat = x.reshape(rows, x.shape[-1])
    out = torch.mm(weight, flat.t()) if bias is None else torch.addmm(bias.unsqueeze(1), weight, flat.t())
    return out.t().reshape(*x.shape[:-1], weight.shape[0])


def few_row_linear(module: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """module(x), computed as (W x^T)^T when it is faster (few_row_product)."""
    return few_row_product(module.weight, module.bias, x)


def is_plain_linear(module: nn.Module) -> bool:
    """A plain nn.Linear, by exact type, without an instance forward of its own (what few_row_linears swaps)."""
    return type(module) is nn.Linear and "forward" not in module.__dict__


def project_to_vocab(model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """The model's output projection of decoder states (rows, time, d_model) -> logits (rows, time, vocab) for a
    decoding step: a plain nn.Linear lm_head runs few_row_linear (the weight read in place, nothing cached); any
    other head (m2m100.head's CachedHead, packed, int8, an adapter) its own forward. The head is looked up at
    each call, so a head swapped between calls is seen."""
    head = model.get_output_embeddings()
    return few_row_linear(head, hidden) if is_plain_linear(head) else head(hidden)


def plain_linears(root: nn.Module) -> list[nn.Module]:
    """The modules few_row_linears swaps: plain nn.Linear, by exact type (subclasses such as LoRA layers, and
    quantized or packed modules, keep their own forward; so does a module given its own instance forward)."""
    return [m for m in root.modules() if is_plain_linear(m)]


@contextmanager
def few_row_linears(root: nn.Module, targets: list[nn.Module] | None = None) -> Iterator[None]:
    """Within the block, every plain nn.Linear under `root` runs few_row_linear (an instance-level forward).

    `targets`: plain_linears(root) computed beforehand, for callers that enter once per step (walking a
    418M decoder's modules costs ~0.4 ms). Re-entrant and shared between threads: the first caller installs,
    the last one out removes.
    """
    if targets is not None and not targets:  # nothing to swap (packed, quantized or bit-exact callers)
        yield
        return
    key = id(root)
    with _lock:
        if key not in _users:
            targets = plain_linears(root) if targets is None else targets
            for module in targets:
                # an instance attribute (bound method): module(x) runs few_row_linear(module, x)
                module.__dict__["forward"] = few_row_linear.__get__(module)
            _users[key] = [0, targets]
        _users[key][0] += 1
    try:
        yield
    finally:
        with _lock:
            _users[key][0] -= 1
            if _users[key][0] == 0:
                for module in _users.pop(key)[1]:
                    module.__dict__.pop("forward", None)
