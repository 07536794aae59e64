"""A converted model straight from one safetensors file, never holding the float checkpoint.

The model is built on the meta device; each Linear/Embedding matrix is read, handed to the conversion (which
turns it into an int8 or packed module) and dropped; layer norms and biases are read in the conversion's
dtype; then the conversion swaps its modules in. Peak memory is the converted model plus one matrix.
"""

from __future__ import annotations

import ctypes
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import M2M100Config
from ..meta import meta_device
from .conversions import Conversion
from .fill import finish_loading
from .keys import map_state_dict, normalise_prefix
from .read import StreamingSafetensors


class _Inline:
    """The part of ThreadPoolExecutor's interface used below, running each call at once in this thread."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))
        return future


def load_streaming(cls: type[nn.Module], config: M2M100Config, path: Path, conversion: Conversion) -> nn.Module:
    """A converted model straight from a safetensors file: each matrix is read, converted and dropped in turn,
    so the float checkpoint is never resident (a conversion may memory-map what it keeps unchanged).

    `cls` is the whole model or the base model. Raises CheckpointError as the key table does (unexpected,
    missing or misshapen weights).
    """
    reader = StreamingSafetensors(path)
    raw = reader.placeholders()
    origin = {id(t): key for key, t in raw.items()}  # renaming below keeps the tensor objects
    placeholders = normalise_prefix(raw, str(path))
    if cls.__name__ == "M2M100Model":
        placeholders = {k: v for k, v in placeholders.items() if k != "lm_head.weight"}
    with meta_device():
        model = cls(config)
    prefix = "model." if cls.__name__ == "M2M100Model" else ""
    expected = {prefix + name: p for name, p in model.named_parameters()}
    mapped = map_state_dict(placeholders, expected, config, str(path))
    linears = {f"{prefix}{n}" for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    embeddings = {f"{prefix}{n}" for n, m in model.named_modules() if isinstance(m, nn.Embedding)}
    weights: dict[str, Any] = {}
    floats: dict[str, torch.Tensor] = {}
    with ThreadPoolExecutor(conversion.threads) if conversion.threads > 1 else _Inline() as pool:
        for target, placeholder in mapped.items():
            key = origin[id(placeholder)]
            module_name, _, leaf = target.rpartition(".")
            name = module_name.removeprefix(prefix)
            if leaf == "weight" and module_name in linears and name not in weights:
                bias = mapped.get(f"{module_name}.bias")
                bias = None if bias is None else reader.read(origin[id(bias)]).to(conversion.dtype)
                weights[name] = pool.submit(conversion.linear, reader, key, bias)
            elif leaf == "weight" and module_name in embeddings and name not in weights:
                weights[name] = conversion.embedding(reader, key)
            elif module_name not in linears and module_name not in embeddings:  # layer norms
                floats[target[len(prefix):]] = reader.read(key).to(conversion.dtype)
        weights = {name: w.result() if isinstance(w, Future) else w for name, w in weights.items()}
    # biases and layer norms are real tensors; the Linear/Embedding weights stay meta until swapped below
    for name, tensor in floats.items():
        module_name, _, leaf = name.rpartition(".")
        model.get_submodule(module_name)._parameters[leaf] = nn.Parameter(tensor, requires_grad=False)
    conversion.install(model, weights)
    finish_loading(model, conversion.dtype, torch.device("cpu"))
    release_free_memory()
    return model


def release_free_memory() -> None:
    """Give memory freed during loading back to the OS. glibc keeps it in the (per-thread) heaps that the
    float matrices passed through: about 130 MB of resident memory for the int8 418M model."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
