"""One decoder step for a set of rows: the state shared by greedy search, sampling and beam search.

The encoder output is computed once by the caller. With use_cache the cross-attention K/V are projected on the
first step and reused, self-attention K/V live in buffers preallocated for max_length, and each step feeds only
the newest token. Rows leave the batch (`keep`) once finished; beams are reordered (`reorder_beams`) by copying
only the filled part of the self-attention cache.
"""

from __future__ import annotations

from functools import partial

import torch

from ..cache import KVCache
from .few_rows import few_row_linears, plain_linears, project_to_vocab


class DecoderState:
    def __init__(self, model, encoder_hidden: torch.Tensor, encoder_mask: torch.Tensor | None, use_cache: bool,
                 capacity: int, output_attentions: bool = False, output_hidden_states: bool = False,
                 rows_per_source: int = 1, project=None, few_row_matmuls: bool = True):
        self.decoder = model.model.decoder
        # each step's matmuls as (W x^T)^T (generation.few_rows); off in the bit-exact full-batch mode
        self.linears = plain_linears(self.decoder) if few_row_matmuls else []
        # hidden -> logits: a vocabulary shortlist's (shortlist_projection.py), or lm_head's: as (W h^T)^T
        # (generation.few_rows) unless in the bit-exact mode, where it runs its own forward as the reference does
        if project is None:
            project = partial(project_to_vocab, model) if few_row_matmuls else model.get_output_embeddings()
        self.project = project
        # Beam search passes each input's encoder output once, not once per beam: the decoder projects its
        # cross-attention K/V once and the beams attend to them together (model.Attention).
        self.rows_per_source = rows_per_source
        self.encoder_hidden = encoder_hidden  # (rows / rows_per_source, src_len, d_model)
        self.encoder_mask = encoder_mask  # (rows / rows_per_source, src_len) or None
        self.cache = KVCache(len(self.decoder.layers), capacity=capacity) if use_cache else None
        # per step, what return_dict_in_generate reports (the caller keeps every row in the batch meanwhile)
        self.output_attentions, self.output_hidden_states = output_attentions, output_hidden_states
        self.self_attentions: list[tuple] = []  # per step, per layer: (rows, heads, new, past + new)
        self.cross_attentions: list[tuple] = []  # per step, per layer: (rows, heads, new, src_len)
        self.hidden_states: list[tuple] = []  # per step: embeddings + each layer, (rows, new, d_model)

    def logits(self, sequences: torch.Tensor, cur_len: int) -> torch.Tensor:
        """Next-token logits (rows, vocab) in float32, given the sequences so far (rows, >= cur_len)."""
        if self.cache is not None:
            new = sequences[:, self.cache.get_seq_length() : cur_len]
        else:  # recompute the whole prefix, as transformers does without a cache
            new = sequences[:, :cur_len]
        with few_row_linears(self.decoder, self.linears):
            out = self.decoder(
                input_ids=new,
                encoder_hidden_states=self.encoder_hidden,
                encoder_attention_mask=self.encoder_mask,
                past_key_values=self.cache,
                use_cache=self.cache is not None,
                output_attentions=self.output_attentions,
                output_hidden_states=self.output_hidden_states,
                return_dict=True,
            )
        hidden = out.last_hidden_state
        if self.output_attentions:
            self.self_attentions.append(out.attentions)
            self.cross_attentions.append(out.cross_attentions)
        if self.output_hidden_states:
            self.hidden_states.append(out.hidden_states)
        # The projection runs on every position the decoder saw (one per step with a cache), like the reference.
        return self.project(hidden)[:, -1].float()

    def keep(self, rows: torch.Tensor) -> None:
        """Continue with these rows only (finished ones leave the batch; rows sharing a source leave together)."""
        group = self.rows_per_source
        sources = rows if group == 1 else rows[::group] // group
        self.encoder_hidden = self.encoder_hidden.index_select(0, sources)
        if self.encoder_mask is not None:
            self.encoder_mask = self.encoder_mask.index_select(0, sources)
        if self.cache is not None:
            self.cache.reorder(rows, cross=sources)

    def reorder_beams(self, parents: torch.Tensor) -> None:
        """Row r continues the hypothesis of row parents[r] (always a beam of the same input)."""
        if self.cache is None:
            return
        moved = parents != torch.arange(parents.numel(), device=parents.device)
        if bool(moved.any()):
            dst = moved.nonzero().squeeze(1)
            self.cache.copy_rows(dst, parents.index_select(0, dst))


def fill_transformers_cache(target, cache: KVCache) -> None:
    """Copy our per-layer K/V into a caller's transformers EncoderDecoderCache (anything with
    `self_attention_cache.update(k, v, layer)` and `cross_attention_cache.update(...)`), so that a cache passed
    to generate() as past_key_values comes back filled, layer by layer, as transformers leaves it."""
    length = cache.get_seq_length()
    for layer in range(cache.num_layers):
        if cache.self_k[layer] is not None:
            target.self_attention_cache.update(cache.self_k[layer][:, :, :length], cache.self_v[layer][:, :, :length], layer)
        if cache.cross_k[layer] is not None:
            target.cross_attention_cache.update(*cache.cross_per_row(layer), layer)
            if hasattr(target, "is_updated"):
                target.is_updated[layer] = True
