"""Greedy and beam-search rows of many generate() calls, decoded by one decoder call per step (continuous
batching).

    merged rows      self-attention cache slots (right-aligned)     cross-attention K/V (padded to the longest source)
    cohort A, row 0  [ . . a a a a a ]                              [ s s s s s s 0 0 ]
    cohort A, row 1  [ . . a a a a a ]                              [ s s s s s s s s ]
    cohort B, row 0  [ . . . . . b b ]                              [ s s s 0 0 0 0 0 ]
                                   ^ the next step writes every row's K/V into one new slot, at the end

A *cohort* is the rows of one generate() call: they share options (processors, max_length) and their step count.
Each merged step feeds every row's last token with the row's own position (the decoder's `positions`); its
self-attention sees only the row's own slots (the decoder's `attention_mask`) and its cross-attention only its
own source (the encoder mask). The logits are then split per cohort, which applies its processors and picks
tokens exactly as greedy search does (generation.greedy), or, for a beam-search cohort (BeamCohort: its rows are
inputs x beams), as beam search does (generation.beam.BeamRows): a beam that continues another beam's hypothesis
gets a copy of that row's cache slots (always a row of the same input, so within the cohort's rows). Rows that
end, and the beams of inputs that are done, leave at once (the remaining rows move up; leading slots no row uses
any more are dropped once they are half the cache). A newcomer runs its first step in the next merged step (its
cross-attention K/V are projected when it joins, one copy per row: a beam cohort's input gets one per beam; a
multi-token decoder prompt is fed alone first); its rows go after the last row. The K/V live in buffers
preallocated with room to grow, so joining costs a copy of the newcomer only.

Each row computes what it would alone, up to float rounding: masked slots and padded sources add exact zeros to
the attention, but sums over more keys (and GEMMs over more rows) may round differently in the last bit.
"""

from __future__ import annotations

from functools import partial

import torch

from ..cache import KVCache
from .beam import BeamRows
from .decoding import DecoderState
from .few_rows import few_row_linears, plain_linears, project_to_vocab
from .greedy import LiveRows


class Cohort(LiveRows):
    """The rows of one greedy generate() call: the pruned rows of generation.greedy.greedy_or_sample (LiveRows),
    whose logits come from the merged decoder call. `project`: the call's own output projection
    (generation.shortlist_projection), None for the model's.
    """

    def __init__(self, sequences: torch.Tensor, prompt_len: int, max_length: int, procs: list,
                 eos: torch.Tensor | None, project=None):
        super().__init__(sequences, prompt_len, max_length, procs, eos)
        self.project = project  # hidden -> float32 logits of its own (a vocabulary shortlist), or None: lm_head

    parents = None  # greedy rows never continue another row's hypothesis (see BeamCohort.parents)

    @property
    def size(self) -> int:
        """Rows still decoding."""
        return 0 if self.finished else self.current.shape[0]

    def last_tokens(self) -> torch.Tensor:
        """(size, 1): the token each row still decoding feeds to the next step."""
        return self.current[:, self.cur_len - 1 : self.cur_len]

    def first_step(self, state: DecoderState) -> None:
        """The cohort's first decoder call, alone, on its own DecoderState (which computes the cross-attention
        K/V of its source); rows that end there leave `state` too."""
        keep = self.step(state.logits(self.current, self.cur_len))
        if keep is not None and not self.finished:
            state.keep(keep)


class BeamCohort(BeamRows):
    """The rows of one beam-search generate() call (inputs x beams, input by input): generation.beam.BeamRows
    without sampling, pruned, whose logits come from the merged decoder call. `parents` after each step: row r
    (of the cohort's rows before the step) continues the hypothesis of row parents[r]; MergedRows copies the
    cache slots accordingly before the rows of done inputs leave. `project`: as Cohort's.
    """

    def __init__(self, prompt: torch.Tensor, num_beams: int, max_length: int, procs: list,
                 eos: torch.Tensor | None, pad_token_id: int | None, length_penalty: float, early_stopping,
                 num_return_sequences: int, project=None):
        super().__init__(prompt, num_beams, max_length, procs, eos, pad_token_id, length_penalty, early_stopping,
                         num_return_sequences, do_sample=False, prune=True)
        self.project = project
        self.parents: torch.Tensor | None = None

    @property
    def size(self) -> int:
        """Rows still decoding (active inputs x beams)."""
        return 0 if self.finished else self.items.shape[0] * self.num_beams

    def last_tokens(self) -> torch.Tensor:
        """(size, 1): the last token of each running hypothesis."""
        return self.run_seq[:, :, self.cur_len - 1].reshape(-1, 1)

    def step(self, logits: torch.Tensor) -> torch.Tensor | None:
        """Like Cohort.step (returns the rows that go on, or None), and sets `parents`."""
        self.parents, keep = super().step(logits)
        return keep

    def first_step(self, state: DecoderState) -> None:
        """As Cohort.first_step, on the call's own DecoderState (its beams share their input's cross K/V)."""
        keep = self.step(state.logits(self.current, self.cur_len))
        state.reorder_beams(self.parents)
        if keep is not None and not self.finished:
            state.keep(keep)


class MergedRows:
    """The decoder state of rows of many cohorts, decoded together (see the module docstring).

    Cohorts are stored in order: cohort i owns the next `cohorts[i].size` rows. Per row: `lengths` (rows,)
    tokens in its cache; `slots` (rows, cache length) bool, True on its own cache slots (right-aligned);
    `source_mask` (rows, src_len) bool, True on its own source positions (left-aligned, padded to the longest).
    The K/V live in preallocated buffers (_Buffers), so that a newcomer costs a copy of its own rows only.
    """

    def __init__(self, model):
        self.decoder = model.get_decoder()
        self.linears = plain_linears(self.decoder)  # each step's few-row matmuls (generation.few_rows)
        self.project = partial(project_to_vocab, model)  # lm_head, looked up per step (few_rows.project_to_vocab)
        self.d_model = int(model.config.d_model)
        self.buffers = _Buffers(len(self.decoder.layers))
        self.cohorts: list[Cohort | BeamCohort] = []
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
    def join(self, cohort: Cohort | BeamCohort, state: DecoderState) -> None:
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
        group = n // theirs.cross_k[0].shape[0]
        if group > 1:
            # Beams share their input's cross K/V in their own DecoderState (rows_per_source). Here every row gets
            # its own copy (the merged cross-attention is one padded source per row, whatever the cohort): the
            # simplest layout, at the cost of num_beams copies of each source's K/V (and beams attend to them as
            # separate rows, which may round differently in the last bit than the shared multi-query path).
            for index in range(theirs.num_layers):
                theirs.set_cross(index, theirs.cross_k[index].repeat_interleave(group, dim=0),
                                 theirs.cross_v[index].repeat_interleave(group, dim=0))
            mask = None if mask is None else mask.repeat_interleave(group, dim=0)
        device = theirs.cross_k[0].device
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
    def remove(self, cohort: Cohort | BeamCohort) -> None:
        """Take a cohort's rows out (a cancelled request)."""
        start = self._start(cohort)
        index = torch.cat([torch.arange(0, start), torch.arange(start + cohort.size, self.rows)])
        self.cohorts.remove(cohort)
        self._keep(index.to(self.lengths.device))

    def _start(self, cohort: Cohort | BeamCohort) -> int:
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
    def step(self) -> list[tuple[Cohort | BeamCohort, Exception | None]]:
        """One decoder call for every row; each cohort picks its rows' tokens (beam cohorts reorder their rows'
        cache slots). Returns the cohorts whose rows have left, each with None (it finished) or the error its own
        step raised (e.g. a logits processor of its call): such a cohort leaves, the others go on. An error of the
        decoder call itself propagates (every cohort is concerned)."""
        rows = self.rows
        tokens = torch.cat([c.last_tokens() for c in self.cohorts])  # (rows, 1)
        slots = torch.cat([self.slots, self.slots.new_ones(rows, 1)], dim=1)  # plus the slot written now
        cache = self.buffers.cache(extra_slots=1)
        # The cross K/V come from the cache; of the encoder output the decoder only reads the shape.
        encoder_shape = cache.cross_k[0].new_zeros(()).expand(rows, self.source_len, self.d_model)
        with few_row_linears(self.decoder, self.linears):
            out = self.decoder(
                input_ids=tokens, attention_mask=slots, encoder_hidden_states=encoder_shape,
                encoder_attention_mask=self.source_mask, past_key_values=cache, use_cache=True,
                positions=self.lengths, return_dict=True,
            )
        self.steps += 1
        self.buffers.length += 1
        self.slots, self.lengths = slots, self.lengths + 1
        logits = self._logits(out.last_hidden_state)  # per cohort, (its rows, vocab) float32
        keep, left, start = [], [], 0
        parents, heirs = [], []  # beam rows: row heirs[i] continues the hypothesis of row parents[i]
        for cohort, its_logits in zip(self.cohorts, logits):
            n = cohort.size
            try:
                kept = cohort.step(its_logits)
            except Exception as exc:  # noqa: BLE001 - its call's error, handed to it; its rows leave
                left.append((cohort, exc))
                start += n
                continue
            keep.append(torch.arange(start, start + n, device=tokens.device) if kept is None else kept + start)
            if cohort.finished:
                left.append((cohort, None))
            elif cohort.parents is not None:
                parents.append(cohort.parents + start)
                heirs.append(torch.arange(start, start + n, device=tokens.device))
            start += n
        if parents:  # before any row leaves: the parents are numbered like this step's rows
            self._reorder(torch.cat(heirs), torch.cat(parents))
        if left:
            gone = {id(cohort) for cohort, _ in left}
            self.cohorts = [c for c in self.cohorts if id(c) not in gone]
        index = torch.cat(keep) if keep else torch.empty(0, dtype=torch.long, device=tokens.device)
        if index.numel() != rows:
            self._keep(index)
        return left

    def _reorder(self, rows: torch.Tensor, parents: torch.Tensor) -> None:
        """Row rows[i] continues the hypothesis of row parents[i] (a beam of the same input: same length, slots
        and source), so only self-attention K/V move; only the rows whose parent is another row are copied."""
        moved = parents != rows
        if bool(moved.any()):
            dst = moved.nonzero().squeeze(1)
            self.buffers.copy_rows(rows.index_select(0, dst), parents.index_select(0, dst))

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

    def copy_rows(self, dst: torch.Tensor, src: torch.Tensor) -> None:
        """Self-attention only: row dst[i] becomes old row src[i] (all reads happen before the writes)."""
        for buf in self._all(self.SELF):
            filled = buf[: self.rows, :, : self.length]
            filled.index_copy_(0, dst, filled.index_select(0, src))

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
