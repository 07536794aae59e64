"""Cross-entropy over the output projection without the (tokens, vocab) logits: the fused linear + CE loss.

The plain loss multiplies every target token's hidden state by the (vocab, d_model) output matrix, keeps the
whole (tokens, vocab) logits tensor, a log-softmax of it and their gradients: at 4,096 target tokens and M2M100's
128,112-token vocabulary that is 2 GB of float32 per copy. Here the tokens go through in chunks; each chunk's
logits live only while that chunk is processed, and its contribution to the gradients of the hidden states, the
weight and the bias is computed right there, so nothing vocabulary-sized outlives a chunk except the weight
gradient itself (which the optimizer needs anyway).

Why the gradients are computed in the forward pass rather than by recomputing the logits in the backward pass:
both keep the same memory (a chunk of logits, plus the weight-sized gradient that appears as soon as backward
starts), but recomputing costs one more (tokens x d_model x vocab) matmul per step, ~1/3 of the loss's work.
The forward pass knows whether gradients will be needed (grad mode, `requires_grad`); without them (validation,
`torch.no_grad()`) it computes the loss alone.

Label smoothing follows fairseq / transformers / `torch.nn.functional.cross_entropy(label_smoothing=eps)`:
per token, (1 - eps) * NLL + eps * mean over the vocabulary of -log p. Labels equal to `ignore_index` (-100)
count neither in the loss nor in the "mean" denominator, and their hidden states get a zero gradient.

Precision: logits, softmax and sums are float32 whatever the inputs; the two matmuls per chunk run in the
compute dtype (the autocast dtype when autocast is on, as the plain `Linear` would, else the inputs' dtype); the
weight and bias gradients accumulate in float32 across chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import ConfigError

# Logits elements per chunk (float32: 64 MiB): 131 tokens at M2M100's 128,112-token vocabulary, 2,048 at 8,192.
# Large enough for efficient matmuls, small next to the activations of a training batch.
CHUNK_ELEMENTS = 1 << 24

REDUCTIONS = ("mean", "sum")


@dataclass(frozen=True)
class ChunkedCrossEntropy:
    """Options of the chunked loss; call it as `loss_fn(hidden, weight, labels, bias=None)`.

    - label_smoothing: eps in [0, 1) (0: plain cross-entropy).
    - reduction: "mean" over the tokens that are not ignored (transformers' loss), or "sum".
    - chunk_size: target tokens per chunk; None picks about CHUNK_ELEMENTS / vocab_size.
    - ignore_index: the label value that marks padding (-100, as transformers and torch).

    Raises ConfigError for an invalid option.
    """

    label_smoothing: float = 0.0
    reduction: str = "mean"
    chunk_size: int | None = None
    ignore_index: int = -100

    def __post_init__(self) -> None:
        eps = self.label_smoothing
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < 1:
            raise ConfigError(f"label_smoothing must be a number in [0, 1), got {eps!r}")
        if self.reduction not in REDUCTIONS:
            raise ConfigError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {self.reduction!r}")
        size = self.chunk_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ConfigError(f"chunk_size must be a positive integer or None, got {size!r}")

    def __call__(self, hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
                 bias: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return linear_cross_entropy(hidden, weight, labels, bias, label_smoothing=self.label_smoothing,
                                    reduction=self.reduction, chunk_size=self.chunk_size,
                                    ignore_index=self.ignore_index)


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    chunk_size: int | None = None,
    ignore_index: int = -100,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of `hidden @ weight.T + bias` against `labels`, without materialising the logits.

    hidden: (..., d_model) float; weight: (vocab, d_model); bias: (vocab,) or None; labels: (...) integer token
    ids in [0, vocab) or `ignore_index`, the same leading shape as `hidden`.

    Returns (loss, nll_loss), float32 scalars: the label-smoothed loss (differentiable with respect to hidden,
    weight and bias) and the plain negative log-likelihood with the same reduction (detached; equal to the loss
    when label_smoothing is 0). With reduction "mean" and every label ignored both are NaN, as in torch.

    Equal to `F.cross_entropy(F.linear(hidden, weight, bias).float().flatten(0, -2), labels.flatten(),
    ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction)` within float rounding,
    gradients included. Raises ConfigError for invalid options, ValueError for mismatched shapes or labels
    outside the vocabulary.
    """
    ChunkedCrossEntropy(label_smoothing, reduction, chunk_size, ignore_index)  # validates the options
    if hidden.dim() < 1 or weight.dim() != 2 or hidden.shape[-1] != weight.shape[1]:
        raise ValueError(f"hidden (..., d_model) and weight (vocab, d_model) do not match: "
                         f"{tuple(hidden.shape)} and {tuple(weight.shape)}")
    if labels.shape != hidden.shape[:-1]:
        raise ValueError(f"labels {tuple(labels.shape)} must have the shape of hidden without its last dimension "
                         f"{tuple(hidden.shape[:-1])}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer token ids, got {labels.dtype}")
    vocab = weight.shape[0]
    if bias is not None and bias.shape != (vocab,):
        raise ValueError(f"bias must have shape ({vocab},), got {tuple(bias.shape)}")

    flat = labels.reshape(-1).to(hidden.device)
    keep = (flat != ignore_index).nonzero().squeeze(1)  # ignored tokens cost nothing: they are dropped here
    targets = flat.index_select(0, keep)
    if targets.numel() and not (0 <= int(targets.min()) and int(targets.max()) < vocab):
        bad = targets[(targets < 0) | (targets >= vocab)][0].item()
        raise ValueError(f"label {bad} is outside the vocabulary [0, {vocab}) and is not ignore_index ({ignore_index})")

    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        compute_dtype = torch.get_autocast_dtype(device)  # what autocast would give the plain Linear
    else:
        compute_dtype = torch.promote_types(hidden.dtype, weight.dtype)
    size = chunk_size or max(1, CHUNK_ELEMENTS // vocab)
    grad_enabled = torch.is_grad_enabled()
    with torch.autocast(device, enabled=False):  # the dtypes above are applied by hand
        return _LinearCrossEntropy.apply(hidden, weight, bias, keep, targets, float(label_smoothing), reduction,
                                         size, compute_dtype, grad_enabled)


class _LinearCrossEntropy(torch.autograd.Function):
    """Forward: loss and, when needed, every gradient for a unit upstream gradient; backward: scale them."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, keep, targets, eps, reduction, chunk_size, compute_dtype, grad_enabled):
        d_model, vocab = hidden.shape[-1], weight.shape[0]
        need_x, need_w, need_b = (grad_enabled and ctx.needs_input_grad[i] for i in range(3))
        x = hidden.reshape(-1, d_model).index_select(0, keep).to(compute_dtype)  # (n, d_model): kept tokens only
        w = weight.to(compute_dtype)  # (vocab, d_model); a no-op without autocast
        n = x.shape[0]
        f32 = torch.float32
        loss_sum = torch.zeros((), dtype=f32, device=x.device)
        nll_sum = torch.zeros((), dtype=f32, device=x.device)
        grad_x = torch.empty_like(x) if need_x else None  # (n, d_model), compute dtype
        grad_w = torch.zeros(weight.shape, dtype=f32, device=x.device) if need_w else None
        grad_b = torch.zeros(vocab, dtype=f32, device=x.device) if need_b else None
        # One reusable (chunk, vocab) float32 buffer: on CPU a fresh large tensor per chunk means fresh pages.
        logits_buf = torch.empty(min(chunk_size, max(n, 1)), vocab, dtype=f32, device=x.device)
        part_w = None  # the weight-gradient term of one chunk, when it cannot be added in place (low precision)

        for start in range(0, n, chunk_size):
            x_c, y = x[start:start + chunk_size], targets[start:start + chunk_size]
            rows = x_c.shape[0]
            z = logits_buf[:rows]  # (rows, vocab) float32
            if compute_dtype == f32:
                torch.mm(x_c, w.t(), out=z)
            else:
                z.copy_(x_c @ w.t())  # rounded to the compute dtype first, as the plain Linear's output is
            if bias is not None:
                z.add_(bias.to(compute_dtype).to(f32))
            z_target = z.gather(1, y.unsqueeze(1)).squeeze(1)  # (rows,)
            z_mean = z.mean(dim=1) if eps else None
            peak = z.amax(dim=1, keepdim=True)
            z.sub_(peak).exp_()  # z now holds exp(logit - max)
            total = z.sum(dim=1, keepdim=True)
            lse = (peak + total.log()).squeeze(1)  # log-sum-exp per token
            nll = lse - z_target
            nll_sum += nll.sum()
            loss_sum += ((1 - eps) * nll + eps * (lse - z_mean)).sum() if eps else nll.sum()
            if not (need_x or need_w or need_b):
                continue
            # d(loss_i)/d(logits_i) = softmax - (1 - eps) * one_hot(y_i) - eps / vocab
            z.div_(total)
            z.scatter_add_(1, y.unsqueeze(1), z.new_full((rows, 1), -(1 - eps)))
            if eps:
                z.sub_(eps / vocab)
            if need_b:
                grad_b += z.sum(dim=0)
            if need_x:
                torch.mm(z.to(compute_dtype), w, out=grad_x[start:start + rows])
            if need_w:
                if compute_dtype == f32:
                    grad_w.addmm_(z.t(), x_c)
                else:  # low-precision matmul as autocast's backward would run it, summed in float32
                    part_w = torch.mm(z.to(compute_dtype).t(), x_c, out=part_w)
                    grad_w += part_w

        if reduction == "mean":
            loss_sum, nll_sum = loss_sum / n, nll_sum / n  # 0 / 0 = NaN when every label is ignored, like torch
        ctx.scale = 1.0 / n if reduction == "mean" and n else 1.0
        ctx.shape, ctx.dtypes = hidden.shape, (hidden.dtype, weight.dtype, bias.dtype if bias is not None else None)
        # Kept on ctx rather than saved tensors so that backward can drop its references: the weight gradient
        # it returns is then the engine's alone, and accumulates into `.grad` without a vocab-sized copy.
        ctx.grads = (keep, grad_x, grad_w, grad_b)
        ctx.mark_non_differentiable(nll_sum)
        return loss_sum, nll_sum

    @staticmethod
    def backward(ctx, grad_loss, grad_nll):
        if ctx.grads is None:
            raise RuntimeError("the chunked loss keeps its gradients only for one backward pass; "
                               "compute the loss again to backpropagate again")
        keep, grad_x, grad_w, grad_b = ctx.grads
        ctx.grads = None
        scale = grad_loss * ctx.scale  # a 0-d tensor: no host synchronisation
        x_dtype, w_dtype, b_dtype = ctx.dtypes
        out_x = out_w = out_b = None
        if grad_x is not None:
            d_model = ctx.shape[-1]
            out_x = torch.zeros(ctx.shape.numel() // d_model, d_model, dtype=x_dtype, device=grad_x.device)
            out_x.index_copy_(0, keep, grad_x.to(x_dtype) * scale.to(x_dtype))  # ignored tokens: zero
            out_x = out_x.view(ctx.shape)
        if grad_w is not None:
            out_w = grad_w.mul_(scale).to(w_dtype)  # in place: the buffer is not used again
        if grad_b is not None:
            out_b = grad_b.mul_(scale).to(b_dtype)
        return out_x, out_w, out_b, None, None, None, None, None, None, None


__all__ = ["CHUNK_ELEMENTS", "ChunkedCrossEntropy", "linear_cross_entropy"]
