"""Opt-in speed-ups as module swaps: int8 weights for every Linear and the output projection.

The eager fp32 model stays the reference; `quantize_model(model, "int8")` replaces modules in place.
int8 uses fbgemm's dynamic-quantisation GEMM (per-output-channel int8 weights, activations quantised per
call; AVX-512 VNNI where the CPU has it). Where that kernel is missing, weights are dequantised per call
(slow but correct), so the option never fails on an unusual build.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError

QUANTIZE_MODES = ("int8",)


def quantize_per_row(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per output row: weight ~= q * scale[:, None]. Returns (q int8, scale float32)."""
    weight = weight.detach().float()
    scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    q = torch.clamp(torch.round(weight / scale[:, None]), -127, 127).to(torch.int8)
    return q, scale


def _fbgemm_available() -> bool:
    return "fbgemm" in torch.backends.quantized.supported_engines or "x86" in torch.backends.quantized.supported_engines


class Int8Linear(nn.Module):
    """y = x W^T + b with W stored as int8 per output channel (4x less memory traffic than fp32)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]
        q, scale = quantize_per_row(weight)
        self.bias = None if bias is None else nn.Parameter(bias.detach().float(), requires_grad=False)
        self.packed = None
        if _fbgemm_available():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch flags the quantized-tensor API as legacy; the kernel is current
                qweight = torch._make_per_channel_quantized_tensor(q, scale.double(), torch.zeros_like(scale, dtype=torch.long), 0)
                self.packed = torch.ops.quantized.linear_prepack(qweight, self.bias)
        if self.packed is None:
            self.register_buffer("q", q)
            self.register_buffer("scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        if self.packed is not None:
            shape = x.shape
            y = torch.ops.quantized.linear_dynamic(x.reshape(-1, shape[-1]).float().contiguous(), self.packed, True)
            return y.view(*shape[:-1], self.out_features).to(dtype)
        return F.linear(x.float(), self.q.float() * self.scale[:, None], self.bias).to(dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def quantize_model(model: nn.Module, mode: str) -> nn.Module:
    """Swap every nn.Linear (attention projections, FFN, lm_head) for its int8 version, in place.

    The token embedding keeps its float weights for lookups; the output projection gets its own int8 copy,
    which unties it from the embedding (inference only).
    """
    if mode not in QUANTIZE_MODES:
        raise ConfigError(f"quantize must be one of {QUANTIZE_MODES}, got {mode!r}")
    if next(model.parameters()).device.type != "cpu":
        raise ConfigError("quantize='int8' runs on CPU; for GPUs use dtype=torch.bfloat16 or torch.float16")
    targets = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, Int8Linear(module.weight, module.bias))
    model.eval()
    model.quantization = mode
    for p in model.parameters():
        p.requires_grad_(False)
    return model
