"""Weight conversions: how float checkpoint weights become inference modules (int8, oneDNN-packed, ...).

Each conversion is one small module in this package. It registers a factory under its mode name and the
from_pretrained option that selects it (`quantize="int8"`, `prepack=True`); the factory checks that the
conversion can run here and returns a `Conversion`, the recipe both loaders follow:
- streaming (one safetensors file): each matrix is read, turned into its module by `linear` / `embedding` and
  dropped, then `install` swaps the modules in (loading/stream.py);
- in memory (shards, pickles, a state_dict): the float model is built first, then `convert` swaps in place.

The kernels themselves (PackedLinear, Int8Linear and their swaps) live in m2m100.packed / m2m100.quantize and
know nothing of loading; these modules sit above them. A new weight format is one new file here plus its
import in loading/build.py, which is what makes it register.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ...errors import ConfigError


@dataclass
class Conversion:
    """How the loaders turn weights into modules (the int8 and packed loaders differ only here)."""

    dtype: torch.dtype  # of layer norms and biases
    # (reader: read.StreamingSafetensors, checkpoint key, bias or None) -> the module replacing that nn.Linear
    linear: Callable[[Any, str, torch.Tensor | None], nn.Module]
    embedding: Callable[[Any, str], Any]  # (reader, key) -> what `install` expects for that embedding
    install: Callable[[nn.Module, dict[str, Any]], nn.Module]  # (meta model, {module name: converted})
    convert: Callable[[nn.Module], nn.Module]  # the same swap on a float model already in memory, in place
    # Threads running `linear` at once (each reads with its own scratch buffer). Above 1 only for work mostly
    # outside OpenMP (fbgemm packs on one core): a second thread's OpenMP team would spin against the first.
    threads: int = 1


@dataclass(frozen=True)
class Request:
    """What from_pretrained asked for, as a conversion factory needs it."""

    mode: str  # the registered name ("int8", "packed")
    device: torch.device
    required: bool  # True: raise ConfigError when the conversion cannot run here; False: step aside (None)
    target_dtype: Callable[[], torch.dtype]  # resolved on demand: dtype="auto" may read the file's header


Factory = Callable[[Request], "Conversion | None"]

CONVERSIONS: dict[str, Factory] = {}
OPTIONS: dict[str, str] = {}  # mode -> the from_pretrained option that selects it ("quantize" or "prepack")


def register(mode: str, option: str) -> Callable[[Factory], Factory]:
    """Decorator: file `factory` under `mode`, selected by from_pretrained's `option` argument."""

    def add(factory: Factory) -> Factory:
        if mode in CONVERSIONS:
            raise ValueError(f"conversion {mode!r} is registered twice")
        CONVERSIONS[mode] = factory
        OPTIONS[mode] = option
        return factory

    return add


def modes(option: str) -> tuple[str, ...]:
    """The registered modes that `option` ("quantize" or "prepack") can select, in registration order."""
    return tuple(mode for mode, selected_by in OPTIONS.items() if selected_by == option)


def select(request: Request) -> Conversion | None:
    """The conversion for `request`, or None when it may step aside and cannot run here.

    Raises ConfigError for an unknown mode or (request.required) one that cannot run on this device/dtype.
    """
    factory = CONVERSIONS.get(request.mode)
    if factory is None:
        raise ConfigError(f"unknown weight conversion {request.mode!r}; registered: {tuple(CONVERSIONS)}")
    return factory(request)
