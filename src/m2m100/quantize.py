"""Opt-in speed-ups as module swaps: int8 weights for every Linear and the output projection.

The eager fp32 model stays the reference; `quantize_model(model, "int8")` replaces modules in place.
int8 uses fbgemm's dynamic-quantisation GEMM (per-output-channel int8 weights, activations quantised per
call; AVX-512 VNNI where the CPU has it). Where that kernel is missing, weights are dequantised per call
(slow but correct), so the option never fails on an unusual build.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError

QUANTIZE_MODES = ("int8",)


def quantize_per_row(weight: torch.Tensor, inplace: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per output row: weight ~= q * scale[:, None]. Returns (q int8, scale float32).

    inplace=True may overwrite `weight` (a float32 buffer the caller owns) to save a copy of it.
    """
    weight = weight.detach()
    if not (inplace and weight.dtype == torch.float32):
        weight = weight.float().clone()
    low, high = weight.aminmax(dim=1)  # one pass, no |weight| temporary (load time is a target)
    scale = torch.maximum(high, low.neg_()).clamp_(min=1e-12).div_(127.0)
    # |weight / scale| <= 127 up to float rounding, so rounding alone stays in int8 range (no clamp pass)
    q = weight.mul_((1.0 / scale).unsqueeze(1)).round_().to(torch.int8)
    return q, scale


def _fbgemm_available() -> bool:
    return "fbgemm" in torch.backends.quantized.supported_engines or "x86" in torch.backends.quantized.supported_engines


class Int8Linear(nn.Module):
    """y = x W^T + b with W stored as int8 per output channel (4x less memory traffic than fp32).

    Matrices taller than BLOCK_ROWS (the 128,112-row output projection) are packed as row blocks: fbgemm packs
    one huge matrix at a third of its usual speed, blocks pack in parallel, and the GEMM is as fast per block.
    """

    BLOCK_ROWS = 16384

    def __init__(self, q: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.out_features, self.in_features = q.shape
        self.bias = None if bias is None else nn.Parameter(bias.detach().float(), requires_grad=False)
        self.packed: list | None = None
        if _fbgemm_available():
            bounds = [(r, min(self.out_features, r + self.BLOCK_ROWS)) for r in range(0, self.out_features, self.BLOCK_ROWS)]
            self.bounds = bounds
            if len(bounds) == 1:
                self.packed = [self._pack(q, scale, self.bias)]
            else:
                with ThreadPoolExecutor(2) as pool:  # fbgemm packs on one core and releases the GIL
                    self.packed = list(pool.map(
                        lambda b: self._pack(q[b[0]:b[1]], scale[b[0]:b[1]], None if bias is None else self.bias[b[0]:b[1]]),
                        bounds))
        if self.packed is None:
            self.register_buffer("q", q)
            self.register_buffer("scale", scale)

    @staticmethod
    def _pack(q: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch flags the quantized-tensor API as legacy; the kernel is current
            zero = torch.zeros_like(scale, dtype=torch.long)
            qweight = torch._make_per_channel_quantized_tensor(q.contiguous(), scale.double(), zero, 0)
            return torch.ops.quantized.linear_prepack(qweight, None if bias is None else bias.contiguous())

    @classmethod
    def from_float(cls, weight: torch.Tensor, bias: torch.Tensor | None) -> "Int8Linear":
        return cls(*quantize_per_row(weight), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        if self.packed is None:
            return F.linear(x.float(), self.q.float() * self.scale[:, None], self.bias).to(dtype)
        shape = x.shape
        rows = x.reshape(-1, shape[-1]).float().contiguous()
        if len(self.packed) == 1:
            y = torch.ops.quantized.linear_dynamic(rows, self.packed[0], True)
        else:
            y = rows.new_empty(rows.shape[0], self.out_features)
            for (start, end), packed in zip(self.bounds, self.packed):
                y[:, start:end] = torch.ops.quantized.linear_dynamic(rows, packed, True)
        return y.view(*shape[:-1], self.out_features).to(dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


class Int8Embedding(nn.Module):
    """Token lookup from int8 rows: row * scale[row] * embed_scale (the same rows feed the int8 lm_head)."""

    def __init__(self, q: torch.Tensor, scale: torch.Tensor, padding_idx: int | None, embed_scale: float):
        super().__init__()
        self.register_buffer("q", q)  # (vocab, d_model) int8
        self.register_buffer("scale", scale)  # (vocab,) float32
        self.padding_idx = padding_idx
        self.embed_scale = embed_scale
        self.num_embeddings, self.embedding_dim = q.shape

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        rows = F.embedding(input_ids, self.q).float()  # (batch, time, d_model)
        return rows * (self.scale[input_ids] * self.embed_scale).unsqueeze(-1)


def check_mode(mode: str, device: torch.device) -> None:
    if mode not in QUANTIZE_MODES:
        raise ConfigError(f"quantize must be one of {QUANTIZE_MODES}, got {mode!r}")
    if device.type != "cpu":
        raise ConfigError("quantize='int8' runs on CPU; for GPUs use dtype=torch.bfloat16 or torch.float16")


def install_int8(model: nn.Module, weights: dict[str, Any], mode: str = "int8") -> nn.Module:
    """Swap modules for int8 ones, in place. `weights` maps a Linear's name to its Int8Linear or (q, scale), and
    the shared embedding's name to (q, scale).

    The shared embedding becomes an Int8Embedding; a tied lm_head is packed from the same int8 rows.
    """
    for name, module in list(model.named_modules()):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        if isinstance(module, nn.Linear):
            source = name
            if name == "lm_head" and name not in weights:
                source = "model.shared"  # tied output projection
            given = weights[source]
            layer = given if isinstance(given, Int8Linear) else Int8Linear(*given, module.bias)
            setattr(parent, child, layer)
    shared_name = "model.shared" if hasattr(model, "lm_head") else "shared"
    shared = model.get_submodule(shared_name)
    embedding = Int8Embedding(*weights[shared_name], shared.padding_idx, shared.embed_scale)
    base = model.model if hasattr(model, "lm_head") else model
    base.shared = base.encoder.embed_tokens = base.decoder.embed_tokens = embedding
    model.eval()
    model.quantization = mode
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def quantize_model(model: nn.Module, mode: str) -> nn.Module:
    """Quantize a float model already in memory (every Linear, the embedding and lm_head), in place.

    `from_pretrained(..., quantize="int8")` does the same while streaming the checkpoint, never holding the
    float weights; this is for models built or fine-tuned in this process.
    """
    check_mode(mode, next(model.parameters()).device)
    weights = {name: quantize_per_row(module.weight) for name, module in model.named_modules()
               if isinstance(module, (nn.Linear, nn.Embedding))}
    return install_int8(model, weights, mode)
