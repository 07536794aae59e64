"""from_pretrained: read -> (convert) -> build, choosing the path.

One safetensors file with a conversion (int8, packed) streams (stream.py). Everything else reads the
tensors (read.py), maps them through the key table (keys.py), builds the model on the meta device and
assigns them (fill.py), then applies the conversion, if any, to the float model in memory.
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

import torch
from torch import nn

from ..config import M2M100Config
from ..errors import CheckpointError, ConfigError
from ..meta import meta_device
from ..model import M2M100Decoder, M2M100Encoder, M2M100Model
from ..packed import warn_if_emulated_bf16
from . import conversions
from .conversions import int8, packed  # noqa: F401  (importing a conversion registers it)
from .files import find_weight_files
from .fill import assign_parameters, fresh_parameter
from .keys import map_stack_state, map_state_dict, normalise_prefix, stack_state
from .placement import resolve_device, resolve_dtype
from .read import StreamingSafetensors, read_tensors
from .stream import load_streaming

logger = logging.getLogger(__name__)


def load_pretrained(
    cls: type[nn.Module],
    name_or_path: str | os.PathLike | None,
    *model_args: Any,
    config: M2M100Config | None = None,
    state_dict: dict[str, torch.Tensor] | None = None,
    dtype: Any = None,
    torch_dtype: Any = None,
    device_map: Any = None,
    attn_implementation: str | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    subfolder: str = "",
    output_loading_info: bool = False,
    ignore_mismatched_sizes: bool = False,
    quantize: str | None = None,
    prepack: bool | None = False,
    **config_overrides: Any,
) -> nn.Module | tuple[nn.Module, dict[str, Any]]:
    """Build `cls` from a hub-layout checkpoint (local directory or hub id, optionally in a `subfolder`).

    config / state_dict replace the checkpoint's config.json / weight files (with both, name_or_path may be
    None). Keys of the config (e.g. output_hidden_states=True) given as keyword arguments override it.
    ignore_mismatched_sizes=True re-initialises weights whose shape differs from the config instead of raising
    (they are reported); missing or unexpected keys always raise CheckpointError. output_loading_info=True
    returns (model, {"missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"}) as transformers.
    quantize="int8" and prepack=True are the opt-in inference swaps (loading/conversions/); prepack=None
    packs when the device and dtype allow it. Raises CheckpointError for missing, unsafe or mismatched files and
    ConfigError for options that cannot be honoured.
    """
    if model_args:
        raise ConfigError(f"from_pretrained got unexpected positional arguments {model_args!r}; pass options by name")
    hub = dict(revision=revision, cache_dir=cache_dir, token=token, local_files_only=local_files_only,
               subfolder=subfolder or None)
    for ignored in ("low_cpu_mem_usage", "use_safetensors", "trust_remote_code", "force_download", "proxies",
                    "resume_download", "_fast_init", "key_mapping", "weights_only", "offload_folder"):
        config_overrides.pop(ignored, None)  # no effect on what is loaded here
    if name_or_path is None and (config is None or state_dict is None):
        raise CheckpointError("from_pretrained(None, ...) needs both config= and state_dict=")
    if config is None:
        config = M2M100Config.from_pretrained(name_or_path, **hub)
    else:
        config = copy.deepcopy(config)  # the caller's object is theirs; transformers copies it too
    for key, value in config_overrides.items():
        setattr(config, key, value)
    if attn_implementation is not None:
        config._attn_implementation = attn_implementation
    config.validate()
    info: dict[str, Any] = {"missing_keys": set(), "unexpected_keys": set(), "mismatched_keys": set(), "error_msgs": []}
    mismatched: list | None = [] if ignore_mismatched_sizes else None

    files = find_weight_files(name_or_path, **hub) if state_dict is None else []
    streamable = len(files) == 1 and files[0].suffix == ".safetensors" and mismatched is None
    device = resolve_device(device_map)
    requested_dtype = dtype if dtype is not None else torch_dtype
    conversion = None
    requested = _requested_conversion(quantize, prepack)
    if requested is not None:
        mode, required = requested

        def conversion_dtype() -> torch.dtype:
            # the file's own dtype matters only for dtype="auto"; otherwise don't read its header twice
            stored = StreamingSafetensors(files[0]).placeholders() if streamable and requested_dtype == "auto" else None
            return resolve_dtype(requested_dtype, config, stored)

        conversion = conversions.select(conversions.Request(mode, device, required, conversion_dtype))
    if conversion is not None and streamable and _layout(cls) in ("lm", "base"):
        model = load_streaming(cls, config, files[0], conversion)
        if hasattr(model, "generate"):
            model.generation_config = _generation_config(name_or_path, config, hub)
        return (model, info) if output_loading_info else model
    if state_dict is None:
        state: dict[str, torch.Tensor] = {}
        for path in files:
            state.update(read_tensors(path))
        source = str(files[0]) if len(files) == 1 else f"{files[0].parent} ({len(files)} shards)"
    else:
        state, source = dict(state_dict), "the state_dict"

    target_dtype = resolve_dtype(requested_dtype, config, state)
    warn_if_emulated_bf16(device, target_dtype)
    with meta_device():
        model = cls(config)
    layout = _layout(cls)
    if layout in ("encoder", "decoder"):
        state = stack_state(state, layout, source)
        prefix = ""
        expected = dict(model.named_parameters())
        mapped = map_stack_state(state, expected, source, mismatched)
    else:
        state = normalise_prefix(state, source)
        if layout == "base":
            state = {k: v for k, v in state.items() if k != "lm_head.weight"}
            state = {k.removeprefix("model."): v for k, v in state.items()}
            state = {f"model.{k}": v for k, v in state.items()}  # mapping works in one layout
        prefix = "model." if layout == "base" else ""
        expected = {prefix + name: p for name, p in model.named_parameters()}  # tied weights listed once
        mapped = map_state_dict(state, expected, config, source, mismatched)
    tensors = {name[len(prefix):]: t for name, t in mapped.items()}
    for key, ckpt_shape, model_shape in mismatched or []:
        info["mismatched_keys"].add((key, ckpt_shape, model_shape))
    for name in set(expected) - set(mapped):  # re-initialised after a size mismatch
        tensors[name[len(prefix):]] = fresh_parameter(model, name[len(prefix):], expected[name].shape, config)
    if mismatched:
        shown = ", ".join(f"{k} (checkpoint {tuple(a)}, model {tuple(b)})" for k, a, b in mismatched)
        logger.warning("re-initialised weights whose shape differs from the checkpoint: %s", shown)
    assign_parameters(model, tensors, target_dtype, device)
    model.eval()
    if hasattr(model, "generate"):
        model.generation_config = _generation_config(name_or_path, config, hub)
    if conversion is not None:  # sharded or pickled checkpoints: convert the loaded float model
        conversion.convert(model)
    return (model, info) if output_loading_info else model


def _requested_conversion(quantize: str | None, prepack: bool | None) -> tuple[str, bool] | None:
    """(conversion mode, required) for from_pretrained's quantize/prepack options, or None for a float model.

    quantize names a registered mode and must run; prepack=True must run; prepack=None packs when it can.
    """
    if quantize is not None:
        if prepack:  # None (automatic) just steps aside
            raise ConfigError("quantize and prepack are alternatives (int8 matrices are packed already); pick one")
        allowed = conversions.modes("quantize")
        if quantize not in allowed:
            raise ConfigError(f"quantize must be one of {allowed}, got {quantize!r}")
        return quantize, True
    if prepack is not False:  # True: required; None: whenever this device and dtype allow it
        return "packed", bool(prepack)
    return None


def _layout(cls: type[nn.Module]) -> str:
    """Which part of the full model `cls` is: "lm" (with lm_head), "base", "encoder" or "decoder"."""
    for part, base in (("encoder", M2M100Encoder), ("decoder", M2M100Decoder), ("base", M2M100Model)):
        if issubclass(cls, base):
            return part
    return "lm"


def _generation_config(name_or_path, config: M2M100Config, hub: dict[str, Any]):
    # lazily: generation is only needed once a model is loaded, and `import m2m100` stays quick
    from ..generation import GenerationConfig, load_generation_config

    if name_or_path is None:  # built from config= and state_dict=
        return GenerationConfig.from_model_config(config)
    return load_generation_config(name_or_path, config, **hub)
