"""Where the weights go and in what precision: `dtype` and `device_map` as transformers users write them."""

from __future__ import annotations

from typing import Any

import torch

from ..config import M2M100Config
from ..errors import ConfigError


def resolve_dtype(dtype: Any, config: M2M100Config, state: dict[str, torch.Tensor] | None = None) -> torch.dtype:
    """A torch dtype for `dtype`: None -> float32; "auto" -> the config's recorded dtype, else the first floating
    tensor's in `state`; names such as "bf16". Raises ConfigError for anything else."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        stored = config.extra.get("dtype") or config.extra.get("torch_dtype")
        if stored:
            return resolve_dtype(stored, config)
        floats = [t.dtype for t in (state or {}).values() if t.is_floating_point()]
        return floats[0] if floats else torch.float32
    names = {"float32": torch.float32, "fp32": torch.float32, "float": torch.float32, "float16": torch.float16,
             "fp16": torch.float16, "half": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if isinstance(dtype, str) and dtype.lower().removeprefix("torch.") in names:
        return names[dtype.lower().removeprefix("torch.")]
    raise ConfigError(f"dtype must be a torch floating dtype, 'auto' or one of {sorted(names)}, got {dtype!r}")


def resolve_device(device_map: Any) -> torch.device:
    """device_map as transformers users pass it: None, 'auto', 'cpu', 'cuda:0', a torch.device, {'': device}."""
    if device_map is None:
        return torch.device("cpu")
    if isinstance(device_map, dict):
        devices = set(device_map.values())
        if len(devices) != 1:
            raise ConfigError(f"device_map placing modules on several devices is not supported: {device_map}")
        return resolve_device(devices.pop())
    if isinstance(device_map, int):
        return torch.device("cuda", device_map)
    if device_map == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(device_map)
    except (RuntimeError, TypeError):
        raise ConfigError(f"invalid device_map {device_map!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device_map={device_map!r} asks for CUDA, but no CUDA device is available")
    return device
