"""The M2M100 architecture, in dataflow order.

tokens -> ScaledEmbedding + SinusoidalPositions -> EncoderLayer x N (pre-norm) -> LayerNorm
       -> DecoderLayer x N (pre-norm self-attn, cross-attn, FFN) -> LayerNorm -> tied lm_head -> logits

The attention kernels and masks are in attention.py; loading, saving and training switches in pretrained.py;
generate() and its hooks in generation/surface.py. Inference-only speed-ups are module swaps applied from
outside: packed.py (every Linear in oneDNN's layout), quantize.py (int8), head.py (a cached copy of the output
matrix), generation/few_rows.py (decoding steps' few-row matmuls, including lm_head's).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .attention import (additive_mask, cross_attention_inputs, decoder_self_mask, eager_attention, flash_attention,
                        fold_group, padding_mask, unfold_group)
from .cache import KVCache
from .config import M2M100Config, check_attn_implementation
from .errors import InputTooLongError
from .generation import GenerationMixin
from .loss import ChunkedCrossEntropy
from .outputs import DecoderOutput, EncoderOutput, Seq2SeqLMOutput, Seq2SeqModelOutput
from .pretrained import PreTrainedMixin, init_weights, layer_dropped, run_layer

# fairseq reserves the first two position slots; real positions start after the padding id.
POSITION_OFFSET = 2

ACTIVATIONS = {
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
}


# --------------------------------------------------------------------------------------------------
# Embeddings
# --------------------------------------------------------------------------------------------------
class ScaledEmbedding(nn.Embedding):
    """Token embedding multiplied by sqrt(d_model) (when scale_embedding), as fairseq does."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None, embed_scale: float = 1.0):
        super().__init__(num_embeddings, embedding_dim, padding_idx)
        self.embed_scale = embed_scale

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return super().forward(input_ids) * self.embed_scale


def sinusoid_table(num_positions: int, dim: int, padding_idx: int | None) -> torch.Tensor:
    """(num_positions, dim) table: sin in the first half, cos in the second (tensor2tensor layout)."""
    half = dim // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    angles = torch.arange(num_positions, dtype=torch.float32).unsqueeze(1) * freq.unsqueeze(0)
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(num_positions, 1)], dim=1)
    if padding_idx is not None:
        table[padding_idx] = 0
    return table


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal position embeddings with fairseq's padding offset.

    Position ids start at padding_idx + 1 and count only non-pad tokens, so left padding does not shift a
    sentence; pad tokens get the all-zero row. Embeddings given directly get sequential positions.
    """

    def __init__(self, max_positions: int, dim: int, padding_idx: int):
        super().__init__()
        self.padding_idx = padding_idx
        self.max_positions = max_positions
        # Not saved: a pure function of the config (some old uploads store it; the loader ignores it).
        rows = max_positions + POSITION_OFFSET
        if torch.empty(0).is_meta:  # built by the loader, which fills the table in afterwards (finish_loading)
            table = torch.empty(rows, dim)
        else:
            table = sinusoid_table(rows, dim, padding_idx)
        self.register_buffer("weights", table, persistent=False)

    def position_ids(self, input_ids: torch.Tensor | None, shape: tuple[int, int], past: int | torch.Tensor,
                     device) -> torch.Tensor:
        if isinstance(past, torch.Tensor):
            past = past.view(-1, 1)  # one offset per row: (batch, 1) broadcasts over time
        if input_ids is not None:
            not_pad = input_ids.ne(self.padding_idx).int()
            return ((torch.cumsum(not_pad, dim=1) + past) * not_pad).long() + self.padding_idx
        batch, length = shape
        start = self.padding_idx + 1 + past
        return (start + torch.arange(length, device=device)).expand(batch, length)

    def forward(self, input_ids: torch.Tensor | None, shape: tuple[int, int], past: int | torch.Tensor = 0,
                device=None) -> torch.Tensor:
        """(batch, time, dim) embeddings of positions past .. past + time - 1 (pad tokens: zeros). `past` is the
        number of earlier tokens: one int for the whole batch, or a (batch,) tensor when rows are at different
        steps (continuous batching merges rows of requests that started at different times)."""
        positions = self.position_ids(input_ids, shape, past, device)  # (batch, time)
        # transformers silently grows the table past the trained limit; we refuse instead (the model never
        # saw those positions, and a long input should be split, not degraded).
        limit = self.weights.shape[0]
        longest = int(past.max()) if isinstance(past, torch.Tensor) else past
        if longest + shape[1] + self.padding_idx + 1 > limit:
            raise InputTooLongError(
                f"sequence of {longest + shape[1]} tokens exceeds the model's limit of "
                f"{self.max_positions} positions (max_position_embeddings); split the input"
            )
        return self.weights[positions]  # (batch, time, dim)


# --------------------------------------------------------------------------------------------------
# Attention
# --------------------------------------------------------------------------------------------------
class Attention(nn.Module):
    """Multi-head attention; self-attention when `kv` is None, cross-attention otherwise."""

    def __init__(self, d_model: int, heads: int, dropout: float, config: M2M100Config, is_cross: bool = False):
        super().__init__()
        self.heads = heads
        self.head_dim = d_model // heads
        self.scaling = self.head_dim ** -0.5
        self.dropout = dropout
        self.is_cross = is_cross
        self.config = config  # shared: attn_implementation can be switched on a loaded model
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, _ = x.shape
        return x.view(batch, time, self.heads, self.head_dim).transpose(1, 2)  # (batch, heads, time, head_dim)

    def forward(
        self,
        x: torch.Tensor,  # (batch, q_len, d_model)
        mask: torch.Tensor | None = None,  # additive (batch, 1, q_len, k_len) or None
        kv: torch.Tensor | None = None,  # encoder output (batch, src_len, d_model) for cross-attention
        cache: KVCache | None = None,
        layer: int = 0,
        is_causal: bool = False,  # mask is None and plain causal (no cache offset)
        need_weights: bool = False,
        key_padding: torch.Tensor | None = None,  # bool (batch, k_len), only for flash-attention
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        q = self.split_heads(self.q_proj(x))  # (batch, heads, q_len, head_dim)
        if self.is_cross:
            if cache is not None and cache.has_cross(layer):
                k, v = cache.cross_k[layer], cache.cross_v[layer]
            else:
                k, v = self.split_heads(self.k_proj(kv)), self.split_heads(self.v_proj(kv))
                if cache is not None:
                    cache.set_cross(layer, k, v)
        else:
            k, v = self.split_heads(self.k_proj(x)), self.split_heads(self.v_proj(x))
            if cache is not None:
                k, v = cache.update(layer, k, v)  # (batch, heads, past + q_len, head_dim)

        # Cross-attention K/V may come from fewer encoder rows than there are queries: the beams of one input
        # share its encoder output (see M2M100Decoder), so they attend to it as extra query positions.
        group = q.shape[0] // k.shape[0] if self.is_cross and k.shape[0] else 1
        if group > 1:
            q = fold_group(q, group)  # (sources, heads, group * q_len, head_dim)

        dropout = self.dropout if self.training else 0.0
        impl = self.config._attn_implementation
        weights = None
        if need_weights or impl == "eager":
            out, weights = eager_attention(q, k, v, mask, self.scaling, dropout, is_causal, self.training)
        elif impl == "flash_attention_2":
            out = flash_attention(q, k, v, key_padding, self.scaling, dropout, is_causal, mask)
        else:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal and mask is None, scale=self.scaling
            )
        if group > 1:
            out = unfold_group(out, group)
            weights = None if weights is None else unfold_group(weights, group)
        batch, _, q_len, _ = out.shape
        out = out.transpose(1, 2).reshape(batch, q_len, -1)  # (batch, q_len, d_model)
        return self.out_proj(out), weights


# --------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------
class EncoderLayer(nn.Module):
    """x = x + Attn(LN(x)); x = x + FFN(LN(x))."""

    def __init__(self, config: M2M100Config):
        super().__init__()
        d = config.d_model
        self.self_attn = Attention(d, config.encoder_attention_heads, config.attention_dropout, config)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, config.encoder_ffn_dim)
        self.fc2 = nn.Linear(config.encoder_ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.act = ACTIVATIONS[config.activation_function]
        self.dropout = config.dropout
        self.activation_dropout = config.activation_dropout

    def forward(self, x, mask, need_weights=False, key_padding=None):
        h, weights = self.self_attn(self.self_attn_layer_norm(x), mask, need_weights=need_weights, key_padding=key_padding)
        x = x + F.dropout(h, self.dropout, self.training)

        h = self.act(self.fc1(self.final_layer_norm(x)))
        h = self.fc2(F.dropout(h, self.activation_dropout, self.training))
        x = x + F.dropout(h, self.dropout, self.training)

        if x.dtype == torch.float16:
            # fp16 activations can overflow to inf in deep encoders; the reference clamps here.
            limit = torch.finfo(torch.float16).max - 1000
            x = x.clamp(-limit, limit)
        return x, weights


class DecoderLayer(nn.Module):
    """x = x + SelfAttn(LN(x)); x = x + CrossAttn(LN(x), encoder); x = x + FFN(LN(x))."""

    def __init__(self, config: M2M100Config, index: int):
        super().__init__()
        d = config.d_model
        self.index = index
        self.self_attn = Attention(d, config.decoder_attention_heads, config.attention_dropout, config)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = Attention(d, config.decoder_attention_heads, config.attention_dropout, config, is_cross=True)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, config.decoder_ffn_dim)
        self.fc2 = nn.Linear(config.decoder_ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.act = ACTIVATIONS[config.activation_function]
        self.dropout = config.dropout
        self.activation_dropout = config.activation_dropout

    def forward(self, x, self_mask, encoder_out, cross_mask, cache=None, is_causal=False, need_weights=False,
                self_padding=None, cross_padding=None):
        h, self_weights = self.self_attn(
            self.self_attn_layer_norm(x), self_mask, cache=cache, layer=self.index, is_causal=is_causal,
            need_weights=need_weights, key_padding=self_padding,
        )
        x = x + F.dropout(h, self.dropout, self.training)

        cross_weights = None
        if encoder_out is not None:
            h, cross_weights = self.encoder_attn(
                self.encoder_attn_layer_norm(x), cross_mask, kv=encoder_out, cache=cache, layer=self.index,
                need_weights=need_weights, key_padding=cross_padding,
            )
            x = x + F.dropout(h, self.dropout, self.training)

        h = self.act(self.fc1(self.final_layer_norm(x)))
        h = self.fc2(F.dropout(h, self.activation_dropout, self.training))
        x = x + F.dropout(h, self.dropout, self.training)
        return x, self_weights, cross_weights



# --------------------------------------------------------------------------------------------------
# Encoder and decoder stacks
# --------------------------------------------------------------------------------------------------
class _Stack(PreTrainedMixin, nn.Module):
    """What the encoder and the decoder share: their token embedding, checkpointing switch and output flags."""

    def __init__(self, config: M2M100Config, embed_tokens: ScaledEmbedding | None):
        super().__init__()
        self.config = config
        if embed_tokens is None:  # built on its own (e.g. M2M100Encoder.from_pretrained)
            scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
            embed_tokens = ScaledEmbedding(config.vocab_size, config.d_model, config.pad_token_id, scale)
        self.embed_tokens = embed_tokens
        self.embed_positions = SinusoidalPositions(config.max_position_embeddings, config.d_model, config.pad_token_id)
        self.layer_norm = nn.LayerNorm(config.d_model)
        self.gradient_checkpointing = False
        self.checkpoint_options = {"kwargs": {"use_reentrant": False}, "every_n_layers": 1, "offload": False}

    def get_input_embeddings(self) -> ScaledEmbedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: ScaledEmbedding) -> None:
        self.embed_tokens = value

    def _checkpointing(self, cache=None) -> dict | None:
        return self.checkpoint_options if self.gradient_checkpointing and cache is None else None

    def _flags(self, output_attentions, output_hidden_states, return_dict) -> tuple[bool, bool, bool]:
        """The call's output switches, each defaulting to the config's (as transformers)."""
        config = self.config
        return (bool(config.output_attentions if output_attentions is None else output_attentions),
                bool(config.output_hidden_states if output_hidden_states is None else output_hidden_states),
                bool(config.return_dict if return_dict is None else return_dict))


class M2M100Encoder(_Stack):
    def __init__(self, config: M2M100Config, embed_tokens: ScaledEmbedding | None = None):
        super().__init__(config, embed_tokens)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.encoder_layers))
        if self.layer_norm.weight.device.type != "meta" and embed_tokens is None:  # a stand-alone encoder
            init_weights(self, config.init_std)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,  # (batch, src_len)
        attention_mask: torch.Tensor | None = None,  # (batch, src_len), 1 = token, 0 = padding
        inputs_embeds: torch.Tensor | None = None,  # (batch, src_len, d_model), already scaled
        output_attentions: bool | None = None,  # default: config.output_attentions
        output_hidden_states: bool | None = None,  # default: config.output_hidden_states
        return_dict: bool | None = None,
        **_: Any,
    ) -> EncoderOutput:
        output_attentions, output_hidden_states, return_dict = self._flags(output_attentions, output_hidden_states,
                                                                           return_dict)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds to the encoder")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        batch, src_len = inputs_embeds.shape[:2]
        x = inputs_embeds + self.embed_positions(input_ids, (batch, src_len), 0, inputs_embeds.device).to(inputs_embeds.dtype)
        x = F.dropout(x, self.config.dropout, self.training)  # (batch, src_len, d_model)

        key_padding = padding_mask(attention_mask, batch, src_len)  # bool (batch, src_len) or None
        mask = None if key_padding is None else additive_mask(key_padding[:, None, None, :], x.dtype)

        hidden, attentions = [], []
        for index, layer in enumerate(self.layers):
            if output_hidden_states:
                hidden.append(x)
            if layer_dropped(self.training, self.config.encoder_layerdrop):
                continue
            x, weights = run_layer(layer, index, self._checkpointing(), x, mask, output_attentions, key_padding)
            if output_attentions:
                attentions.append(weights)
        x = self.layer_norm(x)
        if output_hidden_states:
            hidden.append(x)
        out = EncoderOutput(last_hidden_state=x, hidden_states=tuple(hidden) if output_hidden_states else None,
                            attentions=tuple(attentions) if output_attentions else None)
        return out if return_dict else out.to_tuple()


class M2M100Decoder(_Stack):
    def __init__(self, config: M2M100Config, embed_tokens: ScaledEmbedding | None = None):
        super().__init__(config, embed_tokens)
        self.layers = nn.ModuleList(DecoderLayer(config, i) for i in range(config.decoder_layers))
        if self.layer_norm.weight.device.type != "meta" and embed_tokens is None:  # a stand-alone decoder
            init_weights(self, config.init_std)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,  # (batch, tgt_len): only the new tokens when a cache is passed
        attention_mask: torch.Tensor | None = None,  # (batch, past + tgt_len), 1 = token, 0 = padding
        # (batch, src_len, d_model), or (batch / g, src_len, d_model): each encoder row then serves g consecutive
        # decoder rows (the beams of one input), whose cross-attention K/V are projected and kept once
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,  # (encoder rows, src_len)
        past_key_values: KVCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,  # default: config.output_attentions
        output_hidden_states: bool | None = None,  # default: config.output_hidden_states
        return_dict: bool | None = None,
        # (batch,) tokens each row has decoded before these, when rows are at different steps (continuous
        # batching: their cache slots are then marked by attention_mask); default: the cache length for all
        positions: torch.Tensor | None = None,
        **_: Any,
    ) -> DecoderOutput:
        output_attentions, output_hidden_states, return_dict = self._flags(output_attentions, output_hidden_states,
                                                                           return_dict)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of decoder_input_ids or decoder_inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        batch, tgt_len = inputs_embeds.shape[:2]
        use_cache = self.config.use_cache if use_cache is None else use_cache
        cache = past_key_values
        if use_cache and cache is None:
            cache = KVCache(len(self.layers))
        past = cache.get_seq_length() if cache is not None else 0

        offsets = past if positions is None else positions
        x = inputs_embeds + self.embed_positions(input_ids, (batch, tgt_len), offsets, inputs_embeds.device).to(inputs_embeds.dtype)
        x = F.dropout(x, self.config.dropout, self.training)  # (batch, tgt_len, d_model)

        # Self-attention: causal (query i sees keys up to past + i) and decoder padding.
        self_padding = padding_mask(attention_mask, batch, past + tgt_len)
        self_mask, is_causal = decoder_self_mask(self_padding, past, tgt_len, output_attentions, x.dtype, x.device)

        # Cross-attention: the encoder rows (one per decoder row, or per group of beams) and their padding.
        encoder_hidden_states, cross_padding, cross_mask = cross_attention_inputs(
            encoder_hidden_states, encoder_attention_mask, batch, self.config._attn_implementation, x.dtype)

        hidden, self_attns, cross_attns = [], [], []
        for index, layer in enumerate(self.layers):
            if output_hidden_states:
                hidden.append(x)
            if layer_dropped(self.training, self.config.decoder_layerdrop):
                continue
            x, self_w, cross_w = run_layer(
                layer, index, self._checkpointing(cache), x, self_mask, encoder_hidden_states, cross_mask,
                cache, is_causal, output_attentions, self_padding, cross_padding,
            )
            if output_attentions:
                self_attns.append(self_w)
                cross_attns.append(cross_w)
        if cache is not None:
            cache.advance(tgt_len)
        x = self.layer_norm(x)
        if output_hidden_states:
            hidden.append(x)
        out = DecoderOutput(
            last_hidden_state=x,
            past_key_values=cache if use_cache else None,
            hidden_states=tuple(hidden) if output_hidden_states else None,
            attentions=tuple(self_attns) if output_attentions else None,
            cross_attentions=tuple(cross_attns) if output_attentions and encoder_hidden_states is not None else None,
        )
        return out if return_dict else out.to_tuple()


# --------------------------------------------------------------------------------------------------
# Public models: the encoder-decoder, then with its output projection (the head)
# --------------------------------------------------------------------------------------------------
class M2M100Model(PreTrainedMixin, nn.Module):
    """Shared embeddings, encoder and decoder; returns the decoder's last hidden state."""

    def __init__(self, config: M2M100Config):
        super().__init__()
        check_attn_implementation(config._attn_implementation)
        self.config = config
        scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.shared = ScaledEmbedding(config.vocab_size, config.d_model, config.pad_token_id, scale)
        self.encoder = M2M100Encoder(config, self.shared)
        self.decoder = M2M100Decoder(config, self.shared)
        if self.shared.weight.device.type != "meta":  # weights built on meta are about to be loaded
            init_weights(self, config.init_std)
        self._register_tied_state_hooks()

    def get_input_embeddings(self) -> ScaledEmbedding:
        return self.shared

    def set_input_embeddings(self, value: ScaledEmbedding) -> None:
        self.shared = self.encoder.embed_tokens = self.decoder.embed_tokens = value

    def tie_weights(self) -> None:
        # the encoder and decoder look tokens up in the one shared matrix
        self.encoder.embed_tokens = self.decoder.embed_tokens = self.shared

    def get_encoder(self) -> M2M100Encoder:
        return self.encoder

    def get_decoder(self) -> M2M100Decoder:
        return self.decoder

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: EncoderOutput | tuple | None = None,
        past_key_values: KVCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> Seq2SeqModelOutput:
        output_attentions, output_hidden_states, return_dict = self.encoder._flags(
            output_attentions, output_hidden_states, return_dict)
        if encoder_outputs is None:
            encoder_outputs = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True,
            )
        elif not isinstance(encoder_outputs, EncoderOutput):
            # a tuple (last_hidden_state, hidden_states?, attentions?) as transformers accepts
            parts = list(encoder_outputs) + [None, None]
            encoder_outputs = EncoderOutput(parts[0], parts[1], parts[2])
        decoder_outputs = self.decoder(
            input_ids=decoder_input_ids, attention_mask=decoder_attention_mask,
            encoder_hidden_states=encoder_outputs.last_hidden_state, encoder_attention_mask=attention_mask,
            past_key_values=past_key_values, inputs_embeds=decoder_inputs_embeds, use_cache=use_cache,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True,
        )
        out = Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state, past_key_values=decoder_outputs.past_key_values,
            decoder_hidden_states=decoder_outputs.hidden_states, decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states, encoder_attentions=encoder_outputs.attentions,
        )
        return out if return_dict else out.to_tuple()


class M2M100ForConditionalGeneration(GenerationMixin, PreTrainedMixin, nn.Module):
    """M2M100Model plus the output projection (tied to the shared embedding) and the training loss.

    `lm_head` is a plain nn.Linear and forward() calls it as it is (the reference path: trainable, picklable,
    compilable). generate() and its hooks come from GenerationMixin (generation/surface.py)."""

    def __init__(self, config: M2M100Config):
        super().__init__()
        self.config = config
        self.model = M2M100Model(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.tie_weights()
        self._register_tied_state_hooks()

    def tie_weights(self) -> None:
        self.model.tie_weights()
        super().tie_weights()

    def get_encoder(self) -> M2M100Encoder:
        return self.model.encoder

    def get_decoder(self) -> M2M100Decoder:
        return self.model.decoder

    def get_input_embeddings(self) -> ScaledEmbedding:
        return self.model.shared

    def set_input_embeddings(self, value: ScaledEmbedding) -> None:
        self.model.set_input_embeddings(value)
        self.tie_weights()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: EncoderOutput | tuple | None = None,
        past_key_values: KVCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,  # (batch, tgt_len); -100 is ignored by the loss
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        chunked_loss: bool | ChunkedCrossEntropy = False,
        **kwargs: Any,
    ) -> Seq2SeqLMOutput:
        """transformers' forward; `chunked_loss` (with `labels`) is ours, for training with less memory.

        chunked_loss: False (default): `logits` (batch, tgt_len, vocab) and, with labels, their mean cross-entropy,
        as transformers. True or a `ChunkedCrossEntropy` (label smoothing, "sum" reduction, chunk size): with
        labels, `loss` is computed chunk by chunk over target tokens without the logits (m2m100.loss; same value
        within float rounding), `logits` is None and `nll_loss` holds the unsmoothed loss. Without labels it
        changes nothing.
        """
        if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)
        outputs = self.model(
            input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
            past_key_values=past_key_values, inputs_embeds=inputs_embeds, decoder_inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache, output_attentions=output_attentions, output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = loss = nll_loss = None
        if labels is not None and chunked_loss:
            loss_fn = chunked_loss if isinstance(chunked_loss, ChunkedCrossEntropy) else ChunkedCrossEntropy()
            loss, nll_loss = loss_fn(outputs.last_hidden_state, self.lm_head.weight, labels, self.lm_head.bias)
        else:
            logits = self.lm_head(outputs.last_hidden_state)  # (batch, tgt_len, vocab)
            if labels is not None:
                loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.to(logits.device).view(-1),
                                       ignore_index=-100)
        out = Seq2SeqLMOutput.extending(outputs, loss=loss, logits=logits, nll_loss=nll_loss)
        return_dict = self.config.return_dict if return_dict is None else return_dict
        return out if return_dict else out.to_tuple()


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """Teacher-forcing decoder inputs: [start, y0, y1, ...], with ignored (-100) labels turned into padding."""
    shifted = labels.new_empty(labels.shape)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    return shifted.masked_fill_(shifted == -100, pad_token_id)
