"""Checks at generate()'s entry: the token tensors are what the model can read, and the search fits in memory.

Both run before anything is allocated, so hostile input (negative or out-of-vocabulary ids, float ids, a Python
list, an empty batch, a million beams) is a GenerationError naming the argument instead of an IndexError deep
in an embedding or a request to the allocator for terabytes.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ..errors import GenerationError

_ID_DTYPES = (torch.long, torch.int, torch.int32, torch.int16, torch.int8, torch.uint8)
# Refuse a search whose estimated working set exceeds this share of the memory that is free now.
MEMORY_SHARE = 0.9


def check_generate_inputs(model: Any, gc: Any, model_inputs: dict[str, Any]) -> None:
    """Raise GenerationError when the inputs of generate() cannot be run.

    model_inputs: the tensors given to generate() (input_ids, attention_mask, decoder_input_ids,
    inputs_embeds, encoder_outputs); gc: the resolved GenerationConfig. Checks, in order: every tensor
    argument is a torch.Tensor; token ids are integers in [0, vocab_size); the batch and the source are not
    empty; num_beams x batch x length fits in the free memory of the model's device (see estimate_bytes).
    """
    vocab = int(model.config.vocab_size)
    for name in ("input_ids", "attention_mask", "decoder_input_ids", "inputs_embeds"):
        value = model_inputs.get(name)
        if value is None:
            continue
        if not isinstance(value, torch.Tensor):
            hint = " (wrap it: torch.tensor(ids))" if isinstance(value, (list, tuple)) else ""
            raise GenerationError(f"{name} must be a torch.Tensor, got {type(value).__name__}{hint}")
        if name == "inputs_embeds":
            if not value.is_floating_point() or value.dim() != 3:
                raise GenerationError(
                    f"inputs_embeds must be a 3-D float tensor (batch, length, d_model), got {value.dtype} "
                    f"with shape {tuple(value.shape)}"
                )
        elif name != "attention_mask" and value.dtype not in _ID_DTYPES:
            raise GenerationError(f"{name} must hold integers, got dtype {value.dtype}")
        if value.dim() == 0 or value.dim() > (3 if name == "inputs_embeds" else 2):
            raise GenerationError(f"{name} must be a 1-D or 2-D tensor, got shape {tuple(value.shape)}")
        if value.numel() == 0:
            raise GenerationError(f"{name} is empty (shape {tuple(value.shape)}): nothing to translate")
        if name in ("input_ids", "decoder_input_ids"):
            low, high = int(value.min()), int(value.max())
            if low < 0 or high >= vocab:
                bad = low if low < 0 else high
                where = (value == bad).nonzero()[0].tolist()
                raise GenerationError(
                    f"{name} must be token ids in [0, {vocab}), got {bad} at position {tuple(where)}"
                )
    check_memory(model, gc, model_inputs)


def check_memory(model: Any, gc: Any, model_inputs: dict[str, Any]) -> None:
    """Raise GenerationError when num_beams x batch x length would not fit in the device's free memory."""
    batch, src_len = _batch_shape(model_inputs)
    if batch is None:
        return
    needed = estimate_bytes(model, gc, batch, src_len)
    free = free_memory(_device(model))
    if free is not None and needed > MEMORY_SHARE * free:
        raise GenerationError(
            f"num_beams={gc.num_beams} x batch={batch} x length={_max_length(model, gc, model_inputs)} needs about "
            f"{needed / 2**30:.1f} GiB, more than the {free / 2**30:.1f} GiB free on {_device(model)}; use fewer "
            f"beams (num_beams), a smaller batch or a smaller max_new_tokens"
        )


def estimate_bytes(model: Any, gc: Any, batch: int, src_len: int) -> int:
    """Working set of one search in bytes: decoder self- and cross-attention caches, the expanded encoder
    output, per-step logits (three float32 copies: scores, log-softmax, processors) and the sequences."""
    config = model.config
    rows = batch * max(int(gc.num_beams or 1), int(gc.num_return_sequences or 1))
    length = _max_length(model, gc, {})
    element = _element_size(model)
    d_model = int(config.d_model)
    layers = int(config.decoder_layers)
    caches = layers * 2 * rows * (length + src_len) * d_model * element
    encoder = rows * src_len * d_model * element
    logits = 3 * rows * int(config.vocab_size) * 4
    sequences = rows * length * 8
    return caches + encoder + logits + sequences


def free_memory(device: torch.device) -> int | None:
    """Bytes free for new tensors on `device` (None when unknown)."""
    try:
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
        if device.type == "cpu":
            with open("/proc/meminfo", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
            return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, RuntimeError, AttributeError):
        return None
    return None


def _batch_shape(model_inputs: dict[str, Any]) -> tuple[int | None, int]:
    for name in ("input_ids", "inputs_embeds"):
        value = model_inputs.get(name)
        if isinstance(value, torch.Tensor):
            if value.dim() == 1:
                return 1, int(value.shape[0])
            return int(value.shape[0]), int(value.shape[1])
    encoder_outputs = model_inputs.get("encoder_outputs")
    hidden = getattr(encoder_outputs, "last_hidden_state", None)
    if hidden is None and isinstance(encoder_outputs, (tuple, list)) and encoder_outputs:
        hidden = encoder_outputs[0]
    if isinstance(hidden, torch.Tensor) and hidden.dim() == 3:
        return int(hidden.shape[0]), int(hidden.shape[1])
    return None, 0


def _max_length(model: Any, gc: Any, model_inputs: dict[str, Any]) -> int:
    """An upper bound of the generated length: the requested one, never more than the position table."""
    limit = int(model.config.max_position_embeddings)
    requested = gc.max_new_tokens if gc.max_new_tokens is not None else gc.max_length
    if requested is None:
        return limit
    prompt = model_inputs.get("decoder_input_ids")
    prompt_len = (int(prompt.shape[-1]) if isinstance(prompt, torch.Tensor) else 0) + 1
    return min(limit, int(requested) + prompt_len)


def _device(model: Any) -> torch.device:
    device = getattr(model, "device", None)
    return device if isinstance(device, torch.device) else torch.device("cpu")


def _element_size(model: Any) -> int:
    for param in model.parameters():
        if param.is_floating_point():
            return max(2, param.element_size())
    return 4
