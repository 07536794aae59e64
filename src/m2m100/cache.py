"""The decoder's key/value cache: an explicit object with documented shapes.

Self-attention K/V grow by one step per generated token and live in preallocated buffers; cross-attention
K/V are projections of the encoder output, computed once on the first decoder call and reused.
"""

from __future__ import annotations

import torch


class KVCache:
    """Per-layer K/V tensors for incremental decoding.

    self_k[i], self_v[i]: (batch, heads, capacity, head_dim); positions [0, length) hold real entries.
    cross_k[i], cross_v[i]: (batch, heads, src_len, head_dim), or None until the first decoder call; in beam
    search (batch / num_beams, heads, src_len, head_dim), one row per input, shared by its beams.
    `capacity` may be given up front (generation knows its maximum length); otherwise buffers double
    as needed, so a cache passed back and forth through `forward` works like transformers' dynamic cache.
    """

    def __init__(self, num_layers: int, capacity: int | None = None):
        self.num_layers = num_layers
        self.capacity = capacity
        self.length = 0
        self.self_k: list[torch.Tensor | None] = [None] * num_layers
        self.self_v: list[torch.Tensor | None] = [None] * num_layers
        self.cross_k: list[torch.Tensor | None] = [None] * num_layers
        self.cross_v: list[torch.Tensor | None] = [None] * num_layers

    def get_seq_length(self) -> int:
        """Number of decoder positions already cached."""
        return self.length

    def __len__(self) -> int:
        return self.num_layers

    def __getitem__(self, layer: int) -> tuple[torch.Tensor | None, ...]:
        """Layer `layer` as transformers' legacy tuple: (self_k, self_v, cross_k, cross_v).

        Self-attention K/V are the filled positions, (batch, heads, length, head_dim); cross K/V are
        (batch, heads, src_len, head_dim), or None before the first decoder call. Views, not copies (except
        cross K/V shared by beams, repeated here for each beam).
        """
        if not -self.num_layers <= layer < self.num_layers:
            raise IndexError(f"layer {layer} out of range for a cache of {self.num_layers} layers")
        k, v = self.self_k[layer], self.self_v[layer]
        filled = (None, None) if k is None else (k[:, :, : self.length], v[:, :, : self.length])
        return (*filled, *self.cross_per_row(layer))

    def cross_per_row(self, layer: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Cross K/V of `layer` with one row per self-attention row (shared rows repeated for each beam)."""
        ck, cv, k = self.cross_k[layer], self.cross_v[layer], self.self_k[layer]
        if ck is None or k is None or ck.shape[0] in (0, k.shape[0]):
            return ck, cv
        group = k.shape[0] // ck.shape[0]
        return ck.repeat_interleave(group, dim=0), cv.repeat_interleave(group, dim=0)

    def __iter__(self):
        return (self[i] for i in range(self.num_layers))

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store new self-attention K/V (batch, heads, new, head_dim) after the cached ones; return all of them.

        Every layer writes at the same offset; `advance` moves it once the whole decoder step is done.
        """
        start, end = self.length, self.length + k.shape[2]
        buf_k = self.self_k[layer]
        if buf_k is None or buf_k.shape[2] < end or buf_k.shape[0] != k.shape[0]:
            self._grow(layer, k, end)
            buf_k = self.self_k[layer]
        buf_v = self.self_v[layer]
        buf_k[:, :, start:end] = k
        buf_v[:, :, start:end] = v
        return buf_k[:, :, :end], buf_v[:, :, :end]

    def _grow(self, layer: int, like: torch.Tensor, needed: int) -> None:
        old_k, old_v = self.self_k[layer], self.self_v[layer]
        capacity = max(needed, self.capacity or 0, 2 * (old_k.shape[2] if old_k is not None else 0), 16)
        batch, heads, _, head_dim = like.shape
        new_k = like.new_empty(batch, heads, capacity, head_dim)
        new_v = like.new_empty(batch, heads, capacity, head_dim)
        if old_k is not None and self.length:
            new_k[:, :, : self.length] = old_k[:, :, : self.length]
            new_v[:, :, : self.length] = old_v[:, :, : self.length]
        self.self_k[layer], self.self_v[layer] = new_k, new_v

    def advance(self, steps: int) -> None:
        self.length += steps

    def has_cross(self, layer: int) -> bool:
        return self.cross_k[layer] is not None

    def set_cross(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
        self.cross_k[layer], self.cross_v[layer] = k, v

    def reorder(self, index: torch.Tensor, cross: bool | torch.Tensor = True) -> None:
        """Select batch rows (beam reordering, dropping finished rows): row r becomes old row index[r].

        Only the `length` filled self-attention positions are copied, not the whole preallocated buffer. `cross`:
        True selects the same rows of the cross-attention K/V; False leaves them alone (a beam's parent is always
        a beam of the same input); a tensor selects those cross rows instead (beams sharing one input's K/V: the
        inputs kept).
        """
        rows = index.numel()
        for store in (self.self_k, self.self_v):
            for i, buf in enumerate(store):
                if buf is None:
                    continue
                idx = index.to(buf.device)
                picked = buf[:, :, : self.length].index_select(0, idx)  # (rows, heads, length, head_dim)
                if rows != buf.shape[0]:
                    buf = buf.new_empty(rows, *buf.shape[1:])
                    store[i] = buf
                buf[:, :, : self.length] = picked
        if cross is not False:
            cross_index = index if cross is True else cross
            for store in (self.cross_k, self.cross_v):
                for i, t in enumerate(store):
                    if t is not None:
                        store[i] = t.index_select(0, cross_index.to(t.device))

    def copy_rows(self, dst: torch.Tensor, src: torch.Tensor) -> None:
        """Self-attention only: row dst[i] becomes old row src[i]; the other rows are left as they are.

        Beam search uses it for the beams whose parent is another beam (a beam extending itself stays put).
        """
        for store in (self.self_k, self.self_v):
            for buf in store:
                if buf is None:
                    continue
                filled = buf[:, :, : self.length]
                picked = filled.index_select(0, src.to(buf.device))  # read everything before writing anything
                filled.index_copy_(0, dst.to(buf.device), picked)

    # transformers' caches call it this
    reorder_cache = reorder
