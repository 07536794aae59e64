"""Hugging Face hub-layout checkpoints: find the files, read them safely, map keys by table, save.

Load pipeline: resolve files -> read tensors (safetensors memory-mapped; pickles only with weights_only)
-> map every key through KEY_RULES (consumed or deliberately ignored, nothing silently dropped)
-> check every shape -> assign into a model built on the meta device (no wasted random init).
Converted loads (quantize="int8", prepack=True) stream the file instead: each matrix is read, converted into its
inference module and dropped (`load_streaming`), so the float checkpoint is never resident.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import json
import logging
import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .config import M2M100Config
from .errors import CheckpointError, ConfigError
from .hub import atomic_write_bytes, atomic_write_text, resolve_file

logger = logging.getLogger(__name__)

SAFE_WEIGHTS = "model.safetensors"
SAFE_INDEX = "model.safetensors.index.json"
PT_WEIGHTS = "pytorch_model.bin"
PT_INDEX = "pytorch_model.bin.index.json"

IGNORE = None
# Checkpoint key (after prefix normalisation to the ForConditionalGeneration layout) -> our key, or IGNORE.
# Rules are tried in order; the first match wins; keys matching none are an error.
KEY_RULES: list[tuple[str, str | None]] = [
    # Sinusoid tables are a function of the config; some old uploads store them anyway.
    (r"model\.(encoder|decoder)\.embed_positions\.(weights|_float_tensor)", IGNORE),
    # fairseq bookkeeping carried by a few conversions
    (r"model\.(encoder|decoder)\.version", IGNORE),
    # Encoder/decoder token embeddings are the shared matrix under other names (tied).
    (r"model\.(encoder|decoder)\.embed_tokens\.weight", "model.shared.weight"),
    # The output projection is tied to the shared embedding when tie_word_embeddings.
    (r"lm_head\.weight", "lm_head.weight"),
    (r"(model\..+)", r"\1"),
]
_COMPILED = [(re.compile(pattern + r"\Z"), target) for pattern, target in KEY_RULES]


def map_key(key: str) -> str | None:
    """Our parameter name for a checkpoint key (in the ForConditionalGeneration layout), IGNORE, or raise."""
    for pattern, target in _COMPILED:
        match = pattern.match(key)
        if match:
            return None if target is IGNORE else match.expand(target)
    raise KeyError(key)


# ---------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------
def find_weight_files(name_or_path: str | os.PathLike, **hub: Any) -> list[Path]:
    """The weight files of a checkpoint, preferring safetensors; shard names are validated."""
    _refuse_special_files(name_or_path, hub.get("subfolder"))
    for single, index in ((SAFE_WEIGHTS, SAFE_INDEX), (PT_WEIGHTS, PT_INDEX)):
        path = resolve_file(name_or_path, single, required=False, **hub)
        if path is not None:
            return [path]
        index_path = resolve_file(name_or_path, index, required=False, **hub)
        if index_path is not None:
            return [resolve_file(name_or_path, shard, **hub) for shard in shard_names(index_path)]
    raise CheckpointError(
        f"no weights found for {name_or_path}: expected {SAFE_WEIGHTS}, {SAFE_INDEX}, {PT_WEIGHTS} or {PT_INDEX}"
    )


def _refuse_special_files(name_or_path: str | os.PathLike, subfolder: str | None) -> None:
    """A weight file name in a local directory that is not a regular file (a link to /dev/zero, a FIFO, a
    directory) is an error naming it, never read and never reported as "no weights found"."""
    root = Path(name_or_path)
    if not root.is_dir():
        return
    if subfolder:
        root = root / subfolder
    for name in (SAFE_WEIGHTS, SAFE_INDEX, PT_WEIGHTS, PT_INDEX):
        path = root / name
        if os.path.lexists(path) and not path.is_file():
            kind = "a broken link" if not path.exists() else "not a regular file"
            target = f" (links to {os.readlink(path)})" if path.is_symlink() else ""
            raise CheckpointError(f"checkpoint file {path} is {kind}{target}: refusing to read weights from it")


def shard_names(index_path: Path) -> list[str]:
    try:
        index = json.loads(Path(index_path).read_text(encoding="utf-8"))
        weight_map = index["weight_map"]
        names = sorted(set(weight_map.values()))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"shard index {index_path} is malformed: {exc}") from None
    for name in names:
        # A shard index is data from the internet: never let it point outside the model directory.
        if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts or "\\" in name:
            raise CheckpointError(f"shard index {index_path} names a file outside the model directory: {name!r}")
    return names


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of one file, on CPU. safetensors are memory-mapped; pickles load with weights_only=True."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"checkpoint file {path} is empty (0 bytes)")
    if path.suffix == ".safetensors":
        return _read_safetensors(path, size)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # pickle and zip errors come in many types
        raise CheckpointError(f"cannot read checkpoint file {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint file {path} does not hold a flat dictionary of tensors")
    return state


def _safetensors_header(path: Path, size: int) -> tuple[int, dict[str, Any]]:
    """(data start offset, header) after checking them: a truncated download otherwise fails deep inside."""
    with open(path, "rb") as handle:
        head = handle.read(8)
        header_len = int.from_bytes(head, "little") if len(head) == 8 else -1
        if header_len <= 0 or header_len > min(size - 8, 100_000_000):
            raise CheckpointError(f"checkpoint file {path} is corrupt: bad safetensors header length {header_len}")
        try:
            header = json.loads(handle.read(header_len))
        except ValueError:
            raise CheckpointError(f"checkpoint file {path} is corrupt: unreadable safetensors header") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"checkpoint file {path} is corrupt: the safetensors header is not an object")
    header.pop("__metadata__", None)
    try:
        ends = [entry["data_offsets"][1] for entry in header.values()]
    except (TypeError, KeyError, IndexError):
        raise CheckpointError(f"checkpoint file {path} is corrupt: malformed tensor entries in its header") from None
    if ends and 8 + header_len + max(ends) > size:
        raise CheckpointError(
            f"checkpoint file {path} is truncated: {size} bytes, the header needs {8 + header_len + max(ends)}"
        )
    return 8 + header_len, header


def _read_safetensors(path: Path, size: int) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    _safetensors_header(path, size)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as reader:
            return {key: reader.get_tensor(key) for key in reader.keys()}
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint file {path}: {exc}") from None


_ST_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
              "I64": torch.int64, "I32": torch.int32, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


class StreamingSafetensors:
    """Reads tensors (or row blocks of them) with plain file reads, so a loader that converts weights as they
    arrive (int8, prepacked) never has the whole float checkpoint resident; `mapped` maps one tensor instead."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.start, self.header = _safetensors_header(self.path, self.path.stat().st_size)
        self._local = threading.local()  # a scratch buffer per thread: no allocator churn, flat peak memory

    def placeholders(self) -> dict[str, torch.Tensor]:
        """Meta tensors with each entry's shape: enough for key mapping and shape checks."""
        out = {}
        for key, entry in self.header.items():
            if entry.get("dtype") not in _ST_DTYPES:
                raise CheckpointError(f"unsupported dtype {entry.get('dtype')!r} for {key!r} in {self.path}")
            out[key] = torch.empty(entry["shape"], dtype=_ST_DTYPES[entry["dtype"]], device="meta")
        return out

    def read(self, key: str, row_start: int = 0, row_end: int | None = None, scratch: bool = False) -> torch.Tensor:
        """The tensor (or rows [row_start, row_end) of it); with scratch=True it lives in a buffer that the next
        scratch read overwrites."""
        entry = self.header[key]
        dtype, shape = _ST_DTYPES[entry["dtype"]], list(entry["shape"])
        begin, end = entry["data_offsets"]
        if row_end is not None or row_start:
            row_bytes = (end - begin) // max(1, shape[0])
            row_end = shape[0] if row_end is None else row_end
            begin, end = begin + row_start * row_bytes, begin + row_end * row_bytes
            shape[0] = row_end - row_start
        if scratch:
            if len(getattr(self._local, "scratch", b"")) < end - begin:
                self._local.scratch = bytearray(end - begin)
            buffer = memoryview(self._local.scratch)[: end - begin]
        else:
            buffer = bytearray(end - begin)
        with open(self.path, "rb") as handle:
            handle.seek(self.start + begin)
            if handle.readinto(buffer) != len(buffer):
                raise CheckpointError(f"checkpoint file {self.path} ended early while reading {key!r}")
        if not buffer:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(buffer, dtype=dtype).view(shape)

    def mapped(self, key: str) -> torch.Tensor:
        """The tensor as a copy-on-write memory map of the file: no new memory, pages come from the page cache."""
        import mmap

        entry = self.header[key]
        begin, end = entry["data_offsets"]
        dtype = _ST_DTYPES[entry["dtype"]]
        if end == begin:
            return torch.empty(entry["shape"], dtype=dtype)
        with open(self.path, "rb") as handle:
            view = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)  # stays alive with the tensor
        count = (end - begin) // dtype.itemsize
        return torch.frombuffer(view, dtype=dtype, count=count, offset=self.start + begin).view(entry["shape"])

    def quantize_rows(self, key: str, block: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-row int8 quantisation, read `block` rows at a time (the 128k x 1024 embedding is 0.5 GB in fp32)."""
        from .quantize import quantize_per_row

        rows, cols = self.header[key]["shape"]
        q = torch.empty(rows, cols, dtype=torch.int8)
        scale = torch.empty(rows)
        for r in range(0, rows, block):
            end = min(rows, r + block)
            q[r:end], scale[r:end] = quantize_per_row(self.read(key, r, end, scratch=True).float(), inplace=True)
        return q, scale


def normalise_prefix(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Put keys in the ForConditionalGeneration layout: base-model checkpoints lack the `model.` prefix."""
    if any(k.startswith("model.") for k in state):
        return state
    if any(k.startswith(("encoder.", "decoder.", "shared.")) for k in state):
        return {(k if k == "lm_head.weight" else f"model.{k}"): v for k, v in state.items()}
    raise CheckpointError(f"{source} does not look like an M2M100 checkpoint (no model/encoder/decoder keys)")


def _unexpected_key(key: str, source: str) -> CheckpointError:
    if re.search(r"(^|\.)(experts?|router|moe)[._]", key):  # NLLB-MoE / switch-transformer style weights
        return CheckpointError(
            f"unexpected key {key!r} in {source}: mixture-of-experts weights (NLLB-MoE) are not supported; "
            "this package runs dense M2M100 and NLLB-200 checkpoints"
        )
    return CheckpointError(f"unexpected key {key!r} in {source}")


def map_state_dict(
    state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], config: M2M100Config, source: str,
    mismatched: list | None = None,
) -> dict[str, torch.Tensor]:
    """Map checkpoint tensors onto `expected` (our names -> meta tensors); every key consumed, every shape checked.

    A shape that differs from the config raises, unless `mismatched` is a list: then (checkpoint key, its shape,
    the expected shape) is appended and the target is left out of the result (for the caller to initialise).
    """
    mapped: dict[str, torch.Tensor] = {}
    skipped: set[str] = set()
    for key, tensor in state.items():
        try:
            target = map_key(key)
        except KeyError:
            raise _unexpected_key(key, source) from None
        if target is None:
            continue
        if target not in expected:
            if target == "lm_head.weight":  # a ForConditionalGeneration checkpoint loaded as M2M100Model
                continue
            raise _unexpected_key(key, source)
        want = tuple(expected[target].shape)
        if tuple(tensor.shape) != want and mismatched is not None:
            mismatched.append((key, tensor.shape, expected[target].shape))
            skipped.add(target)
            continue
        if tuple(tensor.shape) != want and target in ("model.shared.weight", "lm_head.weight") \
                and tuple(tensor.shape[1:]) == want[1:]:
            # Resized vocabularies (fine-tuned NLLB/M2M100 copies) are common; as in transformers a config that
            # disagrees with the weights is an error, but the message says which number to fix.
            raise CheckpointError(
                f"shape mismatch for {key!r} in {source}: config.json says vocab_size={want[0]} but the "
                f"embedding matrix has {tensor.shape[0]} rows (a resized vocabulary?); set \"vocab_size\": "
                f"{tensor.shape[0]} in config.json, or pass vocab_size={tensor.shape[0]} to from_pretrained"
            )
        if tuple(tensor.shape) != want:
            raise CheckpointError(
                f"shape mismatch for {key!r} in {source}: checkpoint has {tuple(tensor.shape)}, "
                f"the config expects {want} (check config.json: vocab_size, d_model, ffn dims)"
            )
        if expected[target].is_floating_point() and not tensor.is_floating_point():
            # Integer weights would be cast silently on one loading path and fail deep in torch on another.
            raise CheckpointError(
                f"{key!r} in {source} has dtype {str(tensor.dtype).removeprefix('torch.')}: M2M100 weights must be "
                f"floating point (float32, float16 or bfloat16)"
            )
        if target in mapped and target == "model.shared.weight" and key != "model.shared.weight":
            continue  # an alias of the shared embedding; the real key wins
        mapped[target] = tensor
    if "lm_head.weight" in expected and "lm_head.weight" not in mapped:
        # Old uploads omit the tied output projection.
        if "model.shared.weight" in mapped and config.tie_word_embeddings:
            mapped["lm_head.weight"] = mapped["model.shared.weight"]
    missing = sorted(set(expected) - set(mapped) - skipped)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise CheckpointError(f"{source} is missing {len(missing)} weight(s): {shown}")
    return mapped


# ---------------------------------------------------------------------------------------------------
# Loading into a model
# ---------------------------------------------------------------------------------------------------
def resolve_dtype(dtype: Any, config: M2M100Config, state: dict[str, torch.Tensor] | None = None) -> torch.dtype:
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
    quantize="int8" and prepack=True are the opt-in inference swaps (quantize.py, packed.py); prepack=None
    packs when the device and dtype allow it.
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
    if quantize is not None:
        from .quantize import check_mode, int8_conversion

        if prepack:  # None (automatic) just steps aside
            raise ConfigError("quantize and prepack are alternatives (int8 matrices are packed already); pick one")
        check_mode(quantize, device)
        conversion = int8_conversion(quantize)
    elif prepack is not False:  # True: required; None: whenever this device and dtype allow it
        from .packed import can_prepack, check_prepack, packed_conversion

        # the file's own dtype matters only for dtype="auto"; otherwise don't read its header twice
        stored = StreamingSafetensors(files[0]).placeholders() if streamable and requested_dtype == "auto" else None
        target_dtype = resolve_dtype(requested_dtype, config, stored)
        if prepack:
            check_prepack(device, target_dtype)
        if can_prepack(device, target_dtype):
            conversion = packed_conversion(target_dtype)
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
    from .packed import warn_if_emulated_bf16

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


def _layout(cls: type[nn.Module]) -> str:
    """Which part of the full model `cls` is: "lm" (with lm_head), "base", "encoder" or "decoder"."""
    from .model import M2M100Decoder, M2M100Encoder, M2M100Model

    for part, base in (("encoder", M2M100Encoder), ("decoder", M2M100Decoder), ("base", M2M100Model)):
        if issubclass(cls, base):
            return part
    return "lm"


def stack_state(state: dict[str, torch.Tensor], part: str, source: str) -> dict[str, torch.Tensor]:
    """An encoder's (or decoder's) own keys: a stand-alone save as is, or its part of a whole model's checkpoint."""
    if not any(k.startswith(("model.", "encoder.", "decoder.", "shared.")) for k in state):
        return dict(state)
    full = normalise_prefix(state, source)
    prefix = f"model.{part}."
    own = {k[len(prefix):]: v for k, v in full.items() if k.startswith(prefix)}
    if "model.shared.weight" in full:  # the real key wins over the tied alias
        own["embed_tokens.weight"] = full["model.shared.weight"]
    return own


_STACK_IGNORE = re.compile(r"(embed_positions\.(weights|_float_tensor)|version)\Z")


def map_stack_state(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], source: str,
                    mismatched: list | None) -> dict[str, torch.Tensor]:
    """Keys of a stand-alone encoder/decoder checkpoint are our parameter names: check each one and its shape."""
    mapped = {}
    for key, tensor in state.items():
        if _STACK_IGNORE.match(key):
            continue
        if key not in expected:
            raise CheckpointError(f"unexpected key {key!r} in {source}")
        if tensor.shape != expected[key].shape:
            if mismatched is None:
                raise CheckpointError(
                    f"shape mismatch for {key!r} in {source}: checkpoint has {tuple(tensor.shape)}, "
                    f"the config expects {tuple(expected[key].shape)}"
                )
            mismatched.append((key, tensor.shape, expected[key].shape))
            continue
        mapped[key] = tensor
    missing = sorted(set(expected) - set(mapped) - {k for k, _, _ in mismatched or []})
    if missing:
        raise CheckpointError(f"{source} is missing {len(missing)} weight(s): {', '.join(missing[:5])}")
    return mapped


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


def _generation_config(name_or_path, config: M2M100Config, hub: dict[str, Any]):
    from .generation import GenerationConfig, load_generation_config

    if name_or_path is None:  # built from config= and state_dict=
        return GenerationConfig.from_model_config(config)
    return load_generation_config(name_or_path, config, **hub)


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


@dataclass
class StreamingConversion:
    """How `load_streaming` turns weights into modules as they are read (the int8 and prepacked loaders differ
    only here). `convert` does the same to a float model already in memory."""

    dtype: torch.dtype  # of layer norms and biases
    linear: Callable[[StreamingSafetensors, str, torch.Tensor | None], nn.Module]  # (reader, key, bias)
    embedding: Callable[[StreamingSafetensors, str], Any]  # (reader, key) -> what `install` expects
    install: Callable[[nn.Module, dict[str, Any]], nn.Module]  # (meta model, {module name: converted})
    convert: Callable[[nn.Module], nn.Module]
    # Threads running `linear` at once (each reads with its own scratch buffer). Above 1 only for work mostly
    # outside OpenMP (fbgemm packs on one core): a second thread's OpenMP team would spin against the first.
    threads: int = 1


def load_streaming(cls: type[nn.Module], config: M2M100Config, path: Path, conversion: StreamingConversion) -> nn.Module:
    """A converted model straight from a safetensors file: each matrix is read, converted and dropped in turn,
    so the float checkpoint is never resident (a conversion may memory-map what it keeps unchanged)."""
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


@contextlib.contextmanager
def meta_device():
    """Build modules on the meta device without running their random initialisers: on meta tensors those
    route through torch's reference implementations, whose first use imports the compiler stack (~1 s)."""
    names = ("normal_", "uniform_", "kaiming_uniform_", "zeros_", "ones_", "constant_", "trunc_normal_")
    saved = {name: getattr(nn.init, name) for name in names}
    try:
        for name in names:
            setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
        with torch.device("meta"):
            yield
    finally:
        for name, fn in saved.items():
            setattr(nn.init, name, fn)


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
    """Rebuild the (unsaved) position tables off the meta device; fail if any weight was left unloaded."""
    from .model import SinusoidalPositions, sinusoid_table

    for module in model.modules():
        if isinstance(module, SinusoidalPositions):
            rows, dim = module.weights.shape
            module.weights = sinusoid_table(rows, dim, module.padding_idx).to(device=device, dtype=dtype)
    leftovers = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
    if leftovers:
        raise CheckpointError(f"weights left uninitialised after loading: {leftovers[:5]}")


# ---------------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------------
def save_pretrained(
    model: nn.Module, save_directory: str | os.PathLike, safe_serialization: bool = True,
    state_dict: dict[str, torch.Tensor] | None = None, is_main_process: bool = True, push_to_hub: bool = False,
    **kwargs: Any,
) -> None:
    """config.json + model.safetensors (+ generation_config.json for a generating model) in the hub layout
    (transformers loads it); each file written atomically. `state_dict` (e.g. from a training wrapper) replaces
    the model's own tensors; tied aliases in it are stored once. push_to_hub=True uploads the directory too."""
    from safetensors.torch import save

    if not is_main_process:
        return

    directory = Path(save_directory)
    if getattr(model, "quantization", None):
        raise CheckpointError(
            f"cannot save a {model.quantization}-quantized model: quantization is a load-time option "
            "(from_pretrained(..., quantize=...)); save the float model instead"
        )
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"cannot save to {directory}: it exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    # Tied weights are stored once, under the shared embedding's name, as transformers does.
    if state_dict is not None:
        tensors = {name: t.detach().to("cpu").contiguous() for name, t in state_dict.items()
                   if not (model.config.tie_word_embeddings and _is_tied_alias(name))}
    else:
        tensors = {name: p.detach().to("cpu").contiguous() for name, p in model.named_parameters()}
    if getattr(model, "packed_weights", False):
        from .packed import packed_tensors

        packed = packed_tensors(model)
        if model.config.tie_word_embeddings:
            packed.pop("lm_head.weight", None)
        tensors.update(packed)
    if not model.config.tie_word_embeddings:
        # transformers unties the encoder/decoder token embeddings from `shared` too when the output
        # projection is untied, and would initialise them randomly if they were missing from the file.
        prefix = "model." if "model.shared.weight" in tensors else ""
        if f"{prefix}shared.weight" in tensors:  # not for a stand-alone encoder or decoder
            for side in ("encoder", "decoder"):
                tensors[f"{prefix}{side}.embed_tokens.weight"] = tensors[f"{prefix}shared.weight"].clone()
    if any(p.is_meta for p in tensors.values()):
        raise CheckpointError("cannot save a model whose weights are still on the meta device")
    if not safe_serialization:
        import io

        buffer = io.BytesIO()
        torch.save(tensors, buffer)
        atomic_write_bytes(directory / PT_WEIGHTS, buffer.getvalue())
    else:
        atomic_write_bytes(directory / SAFE_WEIGHTS, save(tensors, metadata={"format": "pt"}))
    # The saved config records the stored dtype (dtype="auto" reads it back); the model's own config is untouched.
    stored_dtype = str(next(iter(tensors.values())).dtype).removeprefix("torch.")
    saved = {**model.config.to_dict(), "dtype": stored_dtype, "architectures": [type(model).__name__]}
    M2M100Config.from_dict(saved).save_pretrained(directory)
    generation = getattr(model, "generation_config", None)  # generating models only, as transformers
    if generation is not None and hasattr(generation, "to_json_string"):
        atomic_write_text(directory / "generation_config.json", generation.to_json_string())
    if push_to_hub:
        from .hub import push_to_hub as upload

        repo_id = kwargs.pop("repo_id", None) or directory.name
        upload(lambda d, **kw: save_pretrained(model, d, **kw), repo_id, safe_serialization=safe_serialization,
               **{k: v for k, v in kwargs.items() if k in ("commit_message", "private", "token", "revision",
                                                            "create_pr")})


def _is_tied_alias(name: str) -> bool:
    """Keys a full state_dict repeats for the tied shared matrix (nn.Module.state_dict lists every alias)."""
    return name in ("lm_head.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight",
                    "encoder.embed_tokens.weight", "decoder.embed_tokens.weight")
