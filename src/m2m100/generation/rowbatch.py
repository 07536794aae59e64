"""Greedy rows of many generate() calls decoded by one decoder call per step (continuous batching).

    merged rows      self-attention cache slots (right-aligned)     cross-attention K/V (padded to the longest source)
    cohort A, row 0  [ . . a a a a a ]                              [ s s s s s s 0 0 ]
    cohort A, row 1  [ . . a a a a a ]                              [ s s s s s s s s ]
    cohort B, row 0  [ . . . . . b b ]                              [ s s s 0 0 0 0 0 ]
                                   ^ the next step writes every row's K/V into one new slot, at the end

A *cohort* is the rows of one generate() call: they share options (processors, max_length) and their step count.
Each merged step feeds every row's last token with the row's own position (the decoder's `positions`); its
self-attention sees only the row's own slots (the decoder's `attention_mask`) and its cross-attention only its
own source (the encoder mask). The logits are then split per cohort, which applies its processors and picks
tokens exactly as greedy search does (generation.greedy). Rows that end leave at once (the remaining rows move
up; leading slots no row uses any more are dropped once they are half the cache). A newcomer runs its first step
in the next merged step (its cross-attention K/V are projected when it joins; a multi-token decoder prompt is
fed alone first); its rows go after the last row. The K/V live in buffers preallocated with room to grow, so
joining costs a copy of the newcomer only.

Each row computes what it would alone, up to float rounding: masked slots and padded sources add exact zeros to
the attention, but sums over more keys (and GEMMs over more rows) may round differently in the last bit.
"""

from __future__ import annotations

import torch

from ..cache import KVCache
from .decoding import DecoderState
from .processors import apply


class Cohort:
    """The rows of one greedy generate() call (the pruned path of generation.greedy.greedy_or_sample).

    sequences: (rows, max_length), the decoder prompt in [:, :prompt_len] and padding after it; filled in place.
    eos: (n_eos,) token ids or None (never stop early). `current` holds the rows still decoding, `rows` their
    index in `sequences` (per-row processors such as a forced BOS token per row need it). `project`: the call's
    own output projection (generation.shortlist_projection), None for the model's.
    """

    def __init__(self, sequences: torch.Tensor, prompt_len: int, max_length: int, procs: list,
                 eos: torch.Tensor | None, project=None):
        self.sequences = sequences
        self.project = project  # hidden -> float32 logits of its own (a vocabulary shortlist), or None: lm_head
        self.current = sequences
        self.rows = torch.arange(sequences.shape[0], device=sequences.device)
        self.cur_len = prompt_len
        self.max_length = max_length
        self.procs = procs
        self.eos = eos
        self.finished = False

    @property
    def size(self) -> int:
        """Rows still decoding."""
        return 0 if self.finished else self.current.shape[0]

    def last_tokens(self) -> torch.Tensor:
        """(size, 1): the token each row still decoding feeds to the next step."""
        return self.current[:, self.cur_len - 1 : self.cur_len]

    def step(self, logits: torch.Tensor) -> torch.Tensor | None:
        """Pick every row's next token from its logits (size, vocab), float32; may modify them in place.

        Returns None when every row goes on, else the indices (into the rows before this step) of the rows that
        go on: an empty tensor once the cohort is finished (all rows ended, or max_length reached).
        """
        scores = apply(self.procs, self.current[:, : self.cur_len], logits, self.rows)
        tokens = scores.argmax(dim=-1)
        self.current[:, self.cur_len] = tokens
        self.cur_len += 1
        if self.cur_len >= self.max_length:
            return self._finish()
        if self.eos is None:
            return None
        ended = torch.isin(tokens, self.eos)
        n_ended = int(ended.sum())  # the step's one synchronisation
        if n_ended == 0:
            return None
        if n_ended == ended.shape[0]:
            return self._finish()
        keep = (~ended).nonzero().squeeze(1)
        if self.current is not self.sequences:
            self.sequences[self.rows] = self.current  # the finished rows are complete: write them back
        self.current = self.current.index_select(0, keep)
        self.rows = self.rows.index_select(0, keep)
        return keep

    def _finish(self) -> torch.Tensor:
        if self.current is not self.sequences:
            self.sequences[self.rows] = self.current
        self.finished = True
        return torch.empty(0, dtype=torch.long, device=self.sequences.device)

    def first_step(self, state: DecoderState) -> None:
        """The cohort's first decoder call, alone, on its own DecoderState (which computes the cross-attention
        K/V of its source); rows that end there leave `state` too."""
        keep = self.step(state.logits(self.current, self.cur_len))
        if keep is not None and not self.finished:
            state.keep(keep)

    def result(self) -> torch.Tensor:
        """(rows, length) generated sequences, padded after EOS: what greedy_or_sample returns."""
        return self.sequences[:, : self.cur_len]


class MergedRows:
    """The decoder state of rows of many cohorts, decoded together (see the module docstring).

    Cohorts are stored in order: cohort i owns the next `cohorts[i].size` rows. Per row: `lengths` (rows,)
    tokens in its cache; `slots` (rows, cache length) bool, True on its own cache slots (right-aligned);
    `source_mask` (rows, src_len) bool, True on its own source positions (left-aligned, padded to the longest).
    The K/V live in preallocated buffers (_Buffers), so that a newcomer costs a copy of its own rows only.
    """

    def __init__(self, model):
        self.decoder = model.get_decoder()
        self.project = model.project_to_vocab
        self.d_model = int(model.config.d_model)
        self.buffers = _Buffers(len(self.decoder.layers))
        self.cohorts: list[Cohort] = []
        self.lengths: torch.Tensor | None = None
        self.slots: torch.Tensor | None = None
        self.source_mask: torch.Tensor | None = None
        self.steps = 0  # merged decoder calls run

    @property
    def rows(self) -> int:
        return 0 if self.lengths is None else int(self.lengths.shape[0])

    @property
    def source_len(self) -> int:
        return 0 if self.source_mask is None else int(self.source_mask.shape[1])

    # -- membership (all under inference mode: the buffers and the callers' tensors may be inference tensors,
    # which only inference mode may update in place) ----------------------------------------------------
    @torch.inference_mode()
    def join(self, cohort: Cohort, state: DecoderState) -> None:
        """Append a cohort, one row per row still decoding. `state`: its encoder output and mask and its cache,
        either empty (its first token is fed by the next merged step; its cross K/V are projected here, as its
        first decoder call would) or after its first step(s) (the K/V of the tokens fed and the cross K/V)."""
        theirs = state.cache
        if not theirs.has_cross(0):
            for index, layer in enumerate(self.decoder.layers):
                attn = layer.encoder_attn  # what model.Attention computes and caches on a first call
                hidden = state.encoder_hidden  # (n, src_len, d_model)
                theirs.set_cross(index, attn.split_heads(attn.k_proj(hidden)), attn.split_heads(attn.v_proj(hidden)))
        rows, n, fed = self.rows, cohort.size, theirs.get_seq_length()
        src = theirs.cross_k[0].shape[2]
        mask = state.encoder_mask
        device = cohort.sequences.device
        their_source = torch.ones(n, src, dtype=torch.bool, device=device) if mask is None else mask.bool()
        length = max(self.buffers.length, fed)
        width = max(self.source_len, src)
        self.buffers.make_room(theirs, rows + n, length, width)
        self.buffers.write(rows, theirs, fed)
        slots = torch.zeros(rows + n, length, dtype=torch.bool, device=device)
        source = torch.zeros(rows + n, width, dtype=torch.bool, device=device)
        if rows:
            slots[:rows, length - self.slots.shape[1]:] = self.slots
            source[:rows, : self.source_len] = self.source_mask
        slots[rows:, length - fed:] = True
        source[rows:, :src] = their_source
        self.slots, self.source_mask = slots, source
        fed_col = torch.full((n,), fed, dtype=torch.long, device=device)
        self.lengths = fed_col if rows == 0 else torch.cat([self.lengths, fed_col])
        self.cohorts.append(cohort)

    @torch.inference_mode()
    def remove(self, cohort: Cohort) -> None:
        """Take a cohort's rows out (a cancelled request)."""
        start = self._start(cohort)
        index = torch.cat([torch.arange(0, start), torch.arange(start + cohort.size, self.rows)])
        self.cohorts.remove(cohort)
        self._keep(index.to(self.lengths.device))

    def _start(self, cohort: Cohort) -> int:
        start = 0
        for other in self.cohorts:
            if other is cohort:
                return start
            start += other.size
        raise ValueError("cohort is not in this batch")

    def _keep(self, index: torch.Tensor) -> None:
        """Continue with rows `index` only (in order); drop leading slots nobody uses once they are half the
        cache, and source positions past the longest remaining source."""
        if index.numel() == 0:
            self.cohorts, self.lengths, self.slots, self.source_mask = [], None, None, None
            self.buffers.release()  # an idle merger holds no memory
            return
        self.buffers.select(index)
        lengths = self.lengths.index_select(0, index)
        slots = self.slots.index_select(0, index)
        old, new = slots.shape[1], int(lengths.max())
        if old - new >= max(16, old // 2):  # masked slots cost attention time; moving them costs a copy
            self.buffers.drop_slots(old - new)
            slots = slots[:, old - new:]
        source = self.source_mask.index_select(0, index)
        width = int(source.any(0).nonzero().max()) + 1
        self.buffers.width = width
        self.lengths, self.slots, self.source_mask = lengths, slots, source[:, :width]

    # -- decoding -----------------------------------------------------------------------------------------
    @torch.inference_mode()
    def step(self) -> list[Cohort]:
        """One decoder call for every row; each cohort picks its rows' tokens. Returns the cohorts that finished
        (their rows have left)."""
        rows = self.rows
        tokens = torch.cat([c.last_tokens() for c in self.cohorts])  # (rows, 1)
        slots = torch.cat([self.slots, self.slots.new_ones(rows, 1)], dim=1)  # plus the slot written now
        cache = self.buffers.cache(extra_slots=1)
        # The cross K/V come from the cache; of the encoder output the decoder only reads the shape.
        encoder_shape = cache.cross_k[0].new_zeros(()).expand(rows, self.source_len, self.d_model)
        out = self.decoder(
            input_ids=tokens, attention_mask=slots, encoder_hidden_states=encoder_shape,
            encoder_attention_mask=self.source_mask, past_key_values=cache, use_cache=True,
            positions=self.lengths, return_dict=True,
        )
        self.steps += 1
        self.buffers.length += 1
        self.slots, self.lengths = slots, self.lengths + 1
        logits = self._logits(out.last_hidden_state)  # per cohort, (its rows, vocab) float32
        keep, finished, start = [], [], 0
        for cohort, its_logits in zip(self.cohorts, logits):
            n = cohort.size
            kept = cohort.step(its_logits)
            keep.append(torch.arange(start, start + n, device=tokens.device) if kept is None else kept + start)
            if cohort.finished:
                finished.append(cohort)
            start += n
        if finished:
            self.cohorts = [c for c in self.cohorts if not c.finished]
        index = torch.cat(keep)
        if index.numel() != rows:
            self._keep(index)
        return finished

    def _logits(self, hidden: torch.Tensor) -> list[torch.Tensor]:
        """hidden (rows, 1, d_model) -> each cohort's logits (its rows, vocab): one lm_head call for all the
        cohorts that use the model's projection, one call per cohort that has its own (a shortlist)."""
        sizes = [c.size for c in self.cohorts]
        plain = [c.project is None for c in self.cohorts]
        if all(plain):
            return list(self.project(hidden)[:, -1].float().split(sizes))
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        rows = [torch.arange(s, s + n, device=hidden.device) for s, n, p in zip(starts, sizes, plain) if p]
        shared = iter(self.project(hidden.index_select(0, torch.cat(rows)))[:, -1].float().split(
            [n for n, p in zip(sizes, plain) if p]) if rows else [])
        return [next(shared) if p else c.project(hidden[s : s + n])[:, -1].float()
                for c, s, n, p in zip(self.cohorts, starts, sizes, plain)]


class _Buffers:
    """Preallocated K/V of the merged rows, per layer: self-attention (row capacity, heads, slot capacity,
    head_dim), cross-attention (row capacity, heads, source capacity, head_dim). The batch uses the first `rows`
    rows, `length` slots (right-aligned per row) and `width` source positions (left-aligned); every entry a row
    does not own is zero, so that masked keys stay finite. Capacities double when outgrown."""

    SELF, CROSS = ("self_k", "self_v"), ("cross_k", "cross_v")

    def __init__(self, num_layers: int):
        self.num_layers = num_layers
        self.store: dict[str, list[torch.Tensor]] = {}
        self.rows = self.length = self.width = 0

    def release(self) -> None:
        self.store = {}
        self.rows = self.length = self.width = 0

    def cache(self, extra_slots: int = 0) -> KVCache:
        """A KVCache over the used part (views): the decoder writes the next slot into these buffers."""
        self._grow(self.rows, self.length + extra_slots, self.width)
        out = KVCache(self.num_layers)
        out.length = self.length
        for name in self.SELF:
            getattr(out, name)[:] = [buf[: self.rows] for buf in self.store[name]]
        for name in self.CROSS:
            getattr(out, name)[:] = [buf[: self.rows, :, : self.width] for buf in self.store[name]]
        return out

    def make_room(self, like: KVCache, rows: int, length: int, width: int) -> None:
        """Room for `rows` rows, `length` slots and `width` source positions (`like`: a cache to copy the
        shapes and dtype from when nothing is allocated yet)."""
        if not self.store:
            ref = like.cross_k[0]  # (rows, heads, src_len, head_dim): self-attention has the same heads
            for name in self.SELF + self.CROSS:
                self.store[name] = [ref.new_zeros(rows, ref.shape[1], length + 16 if name in self.SELF else width,
                                                  ref.shape[3]) for _ in range(self.num_layers)]
        elif length > self.length:  # a newcomer with more tokens than any row: move the others' slots right
            shift, old = length - self.length, self.length
            self._grow(self.rows, length, self.width)
            for buf in self._all(self.SELF):
                buf[: self.rows, :, shift : shift + old] = buf[: self.rows, :, :old].clone()
                buf[: self.rows, :, :shift] = 0
        self._grow(rows, length, width)
        self.length, self.width = length, width

    def write(self, first: int, theirs: KVCache, fed: int) -> None:
        """Copy a newcomer's rows (its cache holds `fed` slots) to rows first.. and count them in."""
        n = theirs.cross_k[0].shape[0]
        for name in self.SELF:
            for buf, src in zip(self.store[name], getattr(theirs, name)):
                buf[first : first + n, :, : self.length - fed] = 0
                if fed:
                    buf[first : first + n, :, self.length - fed : self.length] = src[:, :, :fed]
        for name in self.CROSS:
            for buf, src in zip(self.store[name], getattr(theirs, name)):
                buf[first : first + n, :, : src.shape[2]] = src
                buf[first : first + n, :, src.shape[2]:] = 0
        self.rows = first + n

    def select(self, index: torch.Tensor) -> None:
        """Keep rows `index` (ascending), moved to the front."""
        kept = index.numel()
        if not bool(torch.equal(index, torch.arange(kept, device=index.device))):
            for name in self.SELF + self.CROSS:
                extent = self.length if name in self.SELF else self.width
                for buf in self.store[name]:
                    buf[:kept, :, :extent] = buf[: self.rows, :, :extent].index_select(0, index)
        self.rows = kept

    def drop_slots(self, drop: int) -> None:
        """Forget the first `drop` slots (no row owns them any more)."""
        self.length -= drop
        for buf in self._all(self.SELF):
            buf[: self.rows, :, : self.length] = buf[: self.rows, :, drop : drop + self.length].clone()

    def _all(self, names: tuple[str, ...]):
        return (buf for name in names for buf in self.store[name])

    def _grow(self, rows: int, length: int, width: int) -> None:
        """Reallocate (doubling) any dimension that is too small, keeping the used part."""
        first = self.store[self.SELF[0]][0]
        cap_rows, cap_slots = first.shape[0], first.shape[2]
        cap_width = self.store[self.CROSS[0]][0].shape[2]
        if rows <= cap_rows and length <= cap_slots and width <= cap_width:
            return
        new_rows = max(rows, 2 * cap_rows) if rows > cap_rows else cap_rows
        for name in self.SELF + self.CROSS:
            cross = name in self.CROSS
            cap = cap_width if cross else cap_slots
            need = width if cross else length
            new_cap = max(need, 2 * cap) if need > cap else cap
            used = self.width if cross else self.length
            grown = []
            for buf in self.store[name]:
                new = buf.new_zeros(new_rows, buf.shape[1], new_cap, buf.shape[3])
                new[: self.rows, :, :used] = buf[: self.rows, :, :used]
                grown.append(new)
            self.store[name] = grown
