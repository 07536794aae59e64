"""The attention math behind model.Attention: masks, the reference (eager) kernel, flash-attn 2, and the folding
that lets several decoder rows (the beams of one input) attend to one encoder row as extra query positions.

SDPA (the default) is torch's `F.scaled_dot_product_attention`, called by model.Attention itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


# -- masks ------------------------------------------------------------------------------------------------------
def padding_mask(attention_mask: torch.Tensor | None, batch: int, length: int) -> torch.Tensor | None:
    """Boolean (batch, length) 'is a real token', or None when nothing is padded (lets SDPA skip the mask)."""
    if attention_mask is None:
        return None
    if attention_mask.shape != (batch, length):
        raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, expected {(batch, length)}")
    keep = attention_mask.bool()
    return None if bool(keep.all()) else keep


def additive_mask(allowed: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """Boolean (batch, 1, q, k) 'may attend' -> additive float mask; a fully masked row stays finite."""
    if allowed is None:
        return None
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill_(~allowed, torch.finfo(dtype).min)


def decoder_self_mask(padding: torch.Tensor | None, past: int, tgt_len: int, output_attentions: bool,
                      dtype: torch.dtype, device) -> tuple[torch.Tensor | None, bool]:
    """(additive mask or None, is_causal) for decoder self-attention: query i sees keys up to past + i and no
    padding (`padding`: bool (batch, past + tgt_len) or None). Plain causal attention without a cache offset is
    left to the kernel's is_causal."""
    if padding is not None or (tgt_len > 1 and (past > 0 or output_attentions)):
        allowed = torch.ones(tgt_len, past + tgt_len, dtype=torch.bool, device=device).tril(past)[None, None]
        if padding is not None:
            allowed = allowed & padding[:, None, None, :]
        return additive_mask(allowed, dtype), False
    return None, tgt_len > 1



def cross_attention_inputs(encoder_hidden: torch.Tensor | None, encoder_mask: torch.Tensor | None, batch: int,
                           impl: str, dtype: torch.dtype) -> tuple[torch.Tensor | None, torch.Tensor | None,
                                                                   torch.Tensor | None]:
    """(encoder rows, bool padding (rows, src_len) or None, additive mask or None) for the cross-attention of
    `batch` decoder rows. There may be fewer encoder rows than decoder rows: each then serves a group of
    consecutive decoder rows (the beams of one input); flash-attn takes one key row per query row, so for it
    they are repeated."""
    if encoder_hidden is None:
        return None, None, None
    sources, src_len = encoder_hidden.shape[:2]
    if sources != batch and (sources == 0 or batch % sources):
        raise ValueError(f"{batch} decoder rows cannot share {sources} encoder rows evenly")
    if sources != batch and impl == "flash_attention_2":
        encoder_hidden = encoder_hidden.repeat_interleave(batch // sources, dim=0)
        if encoder_mask is not None:
            encoder_mask = encoder_mask.repeat_interleave(batch // sources, dim=0)
        sources = batch
    padding = padding_mask(encoder_mask, sources, src_len)
    mask = None if padding is None else additive_mask(padding[:, None, None, :], dtype)
    return encoder_hidden, padding, mask


# -- beams sharing one source -----------------------------------------------------------------------------------
def fold_group(t: torch.Tensor, group: int) -> torch.Tensor:
    """(sources * group, heads, q_len, x) -> (sources, heads, group * q_len, x): a source's rows as its query positions."""
    rows, heads, q_len, last = t.shape
    return t.view(rows // group, group, heads, q_len, last).transpose(1, 2).reshape(rows // group, heads, group * q_len, last)


def unfold_group(t: torch.Tensor, group: int) -> torch.Tensor:
    """The inverse of fold_group: (sources, heads, group * q_len, x) -> (sources * group, heads, q_len, x)."""
    sources, heads, positions, last = t.shape
    q_len = positions // group
    return t.view(sources, heads, group, q_len, last).transpose(1, 2).reshape(sources * group, heads, q_len, last)


# -- kernels ----------------------------------------------------------------------------------------------------
def eager_attention(q, k, v, mask, scaling, dropout, is_causal, training):
    """The reference math: softmax(q k^T * scale + mask) v. Also returns the attention probabilities."""
    scores = torch.matmul(q, k.transpose(-1, -2)) * scaling  # (batch, heads, q_len, k_len)
    if is_causal and mask is None:
        q_len, k_len = scores.shape[-2:]
        causal = torch.ones(q_len, k_len, dtype=torch.bool, device=q.device).tril(k_len - q_len)
        mask = additive_mask(causal[None, None], scores.dtype)
    if mask is not None:
        scores = scores + mask
    probs = F.softmax(scores, dim=-1)
    probs = F.dropout(probs, p=dropout, training=training)
    return torch.matmul(probs, v), probs


def flash_attention(q, k, v, key_padding, scaling, dropout, is_causal, mask):
    """flash-attn 2 kernels (CUDA, fp16/bf16). Padding is removed with the varlen kernel."""
    from flash_attn import flash_attn_func, flash_attn_varlen_func  # checked at model construction

    # flash-attn wants (batch, time, heads, head_dim)
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    causal = is_causal or (mask is not None and key_padding is None)
    if key_padding is None or bool(key_padding.all()):
        out = flash_attn_func(q, k, v, dropout_p=dropout, softmax_scale=scaling, causal=causal)
        return out.transpose(1, 2)
    batch, q_len = q.shape[:2]
    k_lens = key_padding.sum(-1, dtype=torch.int32)
    cu_k = F.pad(torch.cumsum(k_lens, 0, dtype=torch.int32), (1, 0))
    keep = key_padding.flatten()
    k_flat, v_flat = k.flatten(0, 1)[keep], v.flatten(0, 1)[keep]
    if q_len == key_padding.shape[1] and not causal:
        # encoder self-attention: queries padded exactly like keys
        q_flat, cu_q, q_max = q.flatten(0, 1)[keep], cu_k, int(k_lens.max())
        out_flat = flash_attn_varlen_func(q_flat, k_flat, v_flat, cu_q, cu_k, q_max, int(k_lens.max()),
                                          dropout_p=dropout, softmax_scale=scaling, causal=False)
        out = q.new_zeros(q.shape).flatten(0, 1)
        out[keep] = out_flat
        return out.view(q.shape).transpose(1, 2)
    cu_q = torch.arange(0, (batch + 1) * q_len, q_len, dtype=torch.int32, device=q.device)
    out = flash_attn_varlen_func(q.flatten(0, 1), k_flat, v_flat, cu_q, cu_k, q_len, int(k_lens.max()),
                                 dropout_p=dropout, softmax_scale=scaling, causal=causal)
    return out.view(q.shape).transpose(1, 2)
