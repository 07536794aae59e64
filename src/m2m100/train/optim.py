"""Loss, optimizer, learning-rate schedule and parameter freezing for fine-tuning."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ..errors import ConfigError

SCHEDULES = ("linear", "cosine", "inverse_sqrt", "constant")


def label_smoothed_loss(logits: torch.Tensor, labels: torch.Tensor, epsilon: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(smoothed loss summed over tokens, plain NLL summed over tokens); labels of -100 are ignored.

    The loss from full logits: `m2m100 train --no-chunked-loss`, and the reference the chunked loss
    (m2m100.loss, the default) is tested against.

    Sums, not means: the trainer divides by the token count of the whole (accumulated, distributed) step, so
    every token weighs the same whatever batch it landed in. Computed in float32 even under bf16 autocast.
    """
    log_probs = logits.float().log_softmax(dim=-1)
    mask = labels != -100
    target = labels.masked_fill(~mask, 0).unsqueeze(-1)
    nll = -log_probs.gather(-1, target).squeeze(-1)
    nll = nll.masked_fill(~mask, 0.0).sum()
    if epsilon <= 0:
        return nll, nll.detach()
    smooth = -log_probs.mean(dim=-1).masked_fill(~mask, 0.0).sum()
    return (1.0 - epsilon) * nll + epsilon * smooth, nll.detach()


def build_optimizer(model: nn.Module, learning_rate: float, weight_decay: float, betas: tuple[float, float],
                    eps: float) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; biases and layer norms get no weight decay (the usual practice)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():  # tied weights are listed once
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "layer_norm" in name else decay).append(param)
    if not decay and not no_decay:
        raise ConfigError("nothing to train: every parameter is frozen")
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=learning_rate, betas=betas, eps=eps)


def lr_lambda(schedule: str, warmup_steps: int, total_steps: int | None) -> Callable[[int], float]:
    """Multiplier of the peak learning rate after `step` updates: linear warmup, then the chosen decay."""
    if schedule not in SCHEDULES:
        raise ConfigError(f"unknown learning-rate schedule {schedule!r}: use one of {', '.join(SCHEDULES)}")
    if schedule in ("linear", "cosine") and not total_steps:
        raise ConfigError(f"the {schedule} schedule needs the number of steps: pass --max-steps or --epochs")
    warmup = max(0, int(warmup_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup  # never exactly 0, so the first update already moves the weights
        if schedule == "constant":
            return 1.0
        if schedule == "inverse_sqrt":
            return math.sqrt(max(warmup, 1) / (step + 1))
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        if schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def freeze(model: nn.Module, embeddings: bool = False, encoder: bool = False) -> None:
    """Stop gradients to the shared token embeddings (and so the tied output projection) and/or the encoder."""
    if embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
        output = model.get_output_embeddings()
        if output is not None:
            output.weight.requires_grad_(False)
    if encoder:
        shared = model.get_input_embeddings().weight  # the encoder's embed_tokens; freezing it is `embeddings`
        for param in model.get_encoder().parameters():
            if param is not shared:
                param.requires_grad_(False)


def grad_norm_and_clip(params: list[torch.Tensor], max_norm: float | None) -> torch.Tensor:
    """Total gradient norm (inf/nan when a gradient is not finite); clips to `max_norm` when given."""
    if max_norm and max_norm > 0:
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    return torch.nn.utils.clip_grad_norm_(params, float("inf"))
