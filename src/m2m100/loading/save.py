"""save_pretrained: the hub layout transformers reads (config.json, model.safetensors or pytorch_model.bin,
generation_config.json), each file written atomically, tied matrices stored once."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import M2M100Config
from ..errors import CheckpointError
from ..hub import atomic_write_bytes, atomic_write_text
from ..hub import push_to_hub as upload_to_hub
from ..packed import packed_tensors
from .files import PT_WEIGHTS, SAFE_WEIGHTS


def save_pretrained(
    model: nn.Module, save_directory: str | os.PathLike, safe_serialization: bool = True,
    state_dict: dict[str, torch.Tensor] | None = None, is_main_process: bool = True, push_to_hub: bool = False,
    **kwargs: Any,
) -> None:
    """config.json + model.safetensors (+ generation_config.json for a generating model) in the hub layout
    (transformers loads it); each file written atomically. `state_dict` (e.g. from a training wrapper) replaces
    the model's own tensors; tied aliases in it are stored once. push_to_hub=True uploads the directory too.
    Raises CheckpointError for a quantized model, a target that is not a directory, or weights still on meta."""
    from safetensors.torch import save  # lazily: only saving needs the writer

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
        repo_id = kwargs.pop("repo_id", None) or directory.name
        upload_to_hub(lambda d, **kw: save_pretrained(model, d, **kw), repo_id, safe_serialization=safe_serialization,
                      **{k: v for k, v in kwargs.items() if k in ("commit_message", "private", "token", "revision",
                                                                   "create_pr")})


def _is_tied_alias(name: str) -> bool:
    """Keys a full state_dict repeats for the tied shared matrix (nn.Module.state_dict lists every alias)."""
    return name in ("lm_head.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight",
                    "encoder.embed_tokens.weight", "decoder.embed_tokens.weight")
