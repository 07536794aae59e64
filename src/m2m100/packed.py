"""Inference-only speed-up: every Linear's matrix reordered once into oneDNN's blocked layout (a module swap).

A general CPU GEMM re-packs the weight matrix into cache-sized panels on every call. At decoding sizes (1-64
rows against 1024 x 4096 or the 128,112 x 1024 output projection) that per-call work costs as much as the
arithmetic, so reordering the weights once at load time makes each step's matmuls 1.5-4x faster. The
arithmetic stays float32 (or bfloat16 for bfloat16 models): results equal `F.linear` up to summation order,
as between any two BLAS libraries, and generated ids stay identical to transformers'.

A packed matrix is opaque: it cannot be indexed, trained or moved to another device. The shared embedding
therefore keeps its own rows (the tied output projection gets a packed copy), `unpack_model` restores plain
`nn.Linear` modules, and `save_pretrained` writes a packed model's weights in the ordinary layout.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from .errors import ConfigError, TrainingError
from .meta import meta_device


def can_prepack(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether this torch build and CPU can pack weights of `dtype` on `device`."""
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    ops = torch.ops.mkldnn
    if not (hasattr(ops, "_reorder_linear_weight") and hasattr(ops, "_linear_pointwise")):
        return False
    if dtype == torch.bfloat16:
        return cpu_has_native_bf16()
    return dtype == torch.float32


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 matrix products natively on this CPU (AVX-512 BF16 or AMX).

    Without them (AVX2-only CPUs such as many AMD EPYC cloud machines) torch still computes in bfloat16 by
    converting to float32 inside each kernel: correct, but slower than float32 itself.
    """
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def warn_if_emulated_bf16(device: torch.device, dtype: torch.dtype) -> None:
    """Say so, once per load, when a CPU model is loaded in bfloat16 on a CPU that has to emulate it."""
    if device.type == "cpu" and dtype == torch.bfloat16 and not cpu_has_native_bf16():
        warnings.warn(
            "this CPU has no bfloat16 instructions (AVX-512 BF16 or AMX): bfloat16 is emulated and runs slower than "
            "float32; it still halves the memory. For speed load in float32 (prepacked by default in the "
            "Translator) or with quantize='int8'.", UserWarning, stacklevel=3)


def check_prepack(device: torch.device, dtype: torch.dtype) -> None:
    """Raise ConfigError when prepack=True cannot be honoured."""
    if can_prepack(device, dtype):
        return
    if device.type == "cpu" and dtype == torch.bfloat16 and torch.backends.mkldnn.is_available():
        raise ConfigError(
            "prepack=True with bfloat16 needs a CPU with bfloat16 instructions (AVX-512 BF16 or AMX), which this "
            "one lacks; load in float32 with prepack=True, or bfloat16 with prepack=False (emulated, slower)")
    raise ConfigError(
        f"prepack=True needs a CPU model in float32 or bfloat16 and a torch build with oneDNN "
        f"(got device {device}, dtype {dtype}); load with prepack=False"
    )


class PackedLinear(nn.Module):
    """y = x W^T + b with W held in oneDNN's blocked layout (inference only)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.dtype = weight.dtype
        # a plain attribute, not a buffer: module-wide .to()/.half()/state_dict() must not touch an opaque tensor
        # the batch-size hint picks a layout that is as fast for 1-512 rows as the generic one and 2.5x quicker to build
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), 16)
        self.bias = None if bias is None else nn.Parameter(bias.detach().to(weight.dtype), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad and torch.is_grad_enabled():
            raise TrainingError("this model's weights are packed for inference (prepack=True); "
                                "load it without prepack to train, or call m2m100.unpack_model(model)")
        if x.dtype != self.dtype:
            raise ConfigError(f"packed {self.dtype} weights got {x.dtype} inputs; unpack_model() before converting")
        return torch.ops.mkldnn._linear_pointwise(x.contiguous(), self.packed, self.bias, "none", [], "")

    def dense_weight(self) -> torch.Tensor:
        """The matrix in ordinary row-major layout (exact: reordering loses nothing)."""
        return self.packed.to_dense()

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed {self.dtype}"


def _swap(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def prepack_model(model: nn.Module) -> nn.Module:
    """Swap every nn.Linear (the tied lm_head included) for a PackedLinear, in place; the model goes to eval."""
    param = next(model.parameters())
    check_prepack(param.device, param.dtype)
    if getattr(model, "quantization", None):
        raise ConfigError(f"cannot prepack a {model.quantization}-quantized model: its matrices are packed already")
    return install_packed(model, {})


def install_packed(model: nn.Module, weights: dict[str, Any]) -> nn.Module:
    """Swap modules in place. `weights` (from the streaming loader) maps Linear names to ready PackedLinears and
    embedding names to their float matrices; every other Linear is packed from its current weight."""
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.Embedding) and name in weights:
                module.weight = nn.Parameter(weights[name], requires_grad=False)
        if hasattr(model, "tie_weights"):
            model.tie_weights()
        for name, module in list(model.named_modules()):
            if type(module) is nn.Linear:
                _swap(model, name, weights.get(name) or PackedLinear(module.weight, module.bias))
                module.weight = None  # free the float matrix now, unless the tied embedding still holds it
    model.eval()
    model.packed_weights = True
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def unpack_model(model: nn.Module) -> nn.Module:
    """Undo prepack_model: plain nn.Linear modules again (trainable after requires_grad_), ties restored."""
    with torch.no_grad():
        for name, module in list(model.named_modules()):
            if isinstance(module, PackedLinear):
                with meta_device():  # no random init: the weight is assigned below
                    plain = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
                plain.weight = nn.Parameter(module.dense_weight(), requires_grad=False)
                if module.bias is not None:
                    plain.bias = module.bias
                _swap(model, name, plain)
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    model.packed_weights = False
    return model


def packed_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """`name.weight` -> dense matrix for every PackedLinear (for saving a packed model)."""
    return {f"{name}.weight": m.dense_weight() for name, m in model.named_modules() if isinstance(m, PackedLinear)}
