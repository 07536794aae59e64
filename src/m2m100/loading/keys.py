"""The checkpoint key table and the checks around it: every key consumed or deliberately ignored, every shape
and dtype checked, before a single tensor is assigned.

The table is data (KEY_RULES); the functions apply it. Checkpoints come in three layouts: the whole
ForConditionalGeneration model (`model.` prefix), the base model (no prefix) and a stand-alone encoder or
decoder (our own parameter names); each is brought to one layout first.
"""

from __future__ import annotations

import re

import torch

from ..config import M2M100Config
from ..errors import CheckpointError

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
