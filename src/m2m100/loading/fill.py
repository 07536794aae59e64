"""Filling a model built on the meta device: assign the checkpoint's tensors, re-tie, rebuild the position
tables (never saved), and refuse to hand back a model with any weight still on the meta device."""

from __future__ import annotations

import torch
from torch import nn

from ..config import M2M100Config
from ..errors import CheckpointError
from ..model import SinusoidalPositions, sinusoid_table


def assign_parameters(model: nn.Module, tensors: dict[str, torch.Tensor], dtype: torch.dtype, device: torch.device) -> None:
    """Replace meta parameters with real tensors (no copy when dtype and device already match); re-tie; rebuild buffers.

    Every parameter ends up an ordinary contiguous tensor; the inference path keeps its own layout (model.py).
    """
    params = dict(model.named_parameters())
    for name, tensor in tensors.items():
        module_name, _, leaf = name.rpartition(".")
        module = model.get_submodule(module_name)
        old = params[name]
        value = tensor.to(device=device, dtype=dtype if tensor.is_floating_point() else tensor.dtype).contiguous()
        module._parameters[leaf] = nn.Parameter(value, requires_grad=old.requires_grad)
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    finish_loading(model, dtype, device)


def finish_loading(model: nn.Module, dtype: torch.dtype, device: torch.device) -> None:
    """Rebuild the (unsaved) position tables off the meta device; raise CheckpointError if any weight was left
    unloaded."""
    for module in model.modules():
        if isinstance(module, SinusoidalPositions):
            rows, dim = module.weights.shape
            module.weights = sinusoid_table(rows, dim, module.padding_idx).to(device=device, dtype=dtype)
    leftovers = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
    if leftovers:
        raise CheckpointError(f"weights left uninitialised after loading: {leftovers[:5]}")


def fresh_parameter(model: nn.Module, name: str, shape: torch.Size, config: M2M100Config) -> torch.Tensor:
    """A newly initialised value for parameter `name` (transformers' scheme, as for a new model)."""
    module_name, _, leaf = name.rpartition(".")
    module = model.get_submodule(module_name)
    if isinstance(module, nn.LayerNorm):
        return torch.ones(shape) if leaf == "weight" else torch.zeros(shape)
    if leaf == "bias":
        return torch.zeros(shape)
    value = torch.randn(shape) * config.init_std
    if isinstance(module, nn.Embedding) and module.padding_idx is not None and module.padding_idx < shape[0]:
        value[module.padding_idx] = 0
    return value
