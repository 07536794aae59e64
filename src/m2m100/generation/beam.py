"""Beam search (and beam sampling), vectorised over inputs and beams, with transformers' exact bookkeeping.

Per input we keep `num_beams` running hypotheses and the `num_beams` best finished ones. Each step scores every
continuation of every running beam, keeps the K = (1 + #EOS, at least 2) * num_beams best, moves those that end
(EOS or max_length) and rank among the first num_beams into the finished set (score / length ** length_penalty),
and continues with the best num_beams that did not end. An input is done when no running beam can beat its
worst finished one (the early_stopping rule decides how that is estimated) or, with early_stopping=True, as
soon as num_beams hypotheses are finished; done inputs leave the decoder batch.

The bookkeeping is a step object, BeamRows, that knows nothing of the decoder: `beam_search` drives it with one
DecoderState, and generation.rowbatch drives it with rows of a decoder batch shared with other calls.
"""

from __future__ import annotations

import torch

from .decoding import DecoderState
from .greedy import sample_rows, scatter_rows
from .processors import apply

NEG = -1.0e9  # "impossible" score used by the reference (not -inf, so that sums stay ordered)


def _take(tensor: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """tensor (items, beams, ...) -> the beams `index` (items, k) of each item."""
    while index.dim() < tensor.dim():
        index = index.unsqueeze(-1)
    return torch.take_along_dim(tensor, index, dim=1)


class BeamRows:
    """The hypotheses of one beam search over `items` inputs, one step at a time (see the module docstring).

    prompt: (items * num_beams, prompt_len), each input's decoder prompt repeated per beam. The rows decoding are
    the beams of the inputs still active, input by input: `current` (rows, cur_len) their sequences so far, `rows`
    (rows,) their index in the full (items * num_beams) batch. A step is `process(logits)` (the processors' scores,
    which may be reported) then `advance(scores)`, which says what the decoder state must do: row r continues the
    hypothesis of row `parents[r]`, then only the rows `keep` go on (done inputs leave; only with `prune`).
    `finished` once every input is done or max_length is reached; `result()` then gives the hypotheses.
    """

    def __init__(self, prompt: torch.Tensor, num_beams: int, max_length: int, procs: list,
                 eos: torch.Tensor | None, pad_token_id: int | None, length_penalty: float, early_stopping,
                 num_return_sequences: int, do_sample: bool = False, prune: bool = True):
        device = prompt.device
        self.total_rows, self.prompt_len = prompt.shape
        self.n_items = self.total_rows // num_beams
        self.num_beams, self.max_length, self.procs, self.eos = num_beams, max_length, procs, eos
        self.length_penalty, self.early_stopping = length_penalty, early_stopping
        self.num_return_sequences, self.do_sample, self.prune = num_return_sequences, do_sample, prune
        n_eos = eos.numel() if eos is not None else 0
        self.k = max(2, 1 + n_eos) * num_beams
        self.top_beam_mask = torch.arange(self.k, device=device) < num_beams  # only these may become finished
        # the reference's filler for unused positions: `pad or eos[0]` if there is an EOS, else -1
        if eos is None:
            fill = -1
        else:
            fill = pad_token_id if pad_token_id else int(eos[0])
        n_items, prompt_len = self.n_items, self.prompt_len
        gen_slots = max_length - prompt_len

        # running hypotheses of the inputs still decoding ("active"); finished ones of every input
        self.run_seq = torch.full((n_items, num_beams, max_length), fill, dtype=torch.long, device=device)
        self.run_seq[:, :, :prompt_len] = prompt.view(n_items, num_beams, prompt_len)
        self.run_score = torch.zeros(n_items, num_beams, device=device)
        self.run_score[:, 1:] = NEG  # all beams start identical: only the first one may expand at step one
        self.run_beams = torch.full((n_items, num_beams, gen_slots), -1, dtype=torch.int32, device=device)
        self.fin_seq = self.run_seq.clone()
        self.fin_score = torch.full((n_items, num_beams), NEG, device=device)
        self.fin_beams = self.run_beams.clone()
        self.fin_flag = torch.zeros(n_items, num_beams, dtype=torch.bool, device=device)
        self.improvable = torch.ones(n_items, 1, dtype=torch.bool, device=device)
        # results of inputs that are done (and of all at the end), full batch
        self.out_seq, self.out_score = self.fin_seq.clone(), self.fin_score.clone()
        self.out_beams = self.fin_beams.clone()
        self.out_flag, self.out_improvable = self.fin_flag.clone(), self.improvable.clone()
        self.items = torch.arange(n_items, device=device)  # batch index of each active input
        self.beam_range = torch.arange(num_beams, device=device)
        self.cur_len = prompt_len
        self.finished = False

    @property
    def current(self) -> torch.Tensor:
        """(rows, cur_len): the running hypotheses of the active inputs, beam by beam."""
        return self.run_seq[:, :, : self.cur_len].reshape(-1, self.cur_len)

    @property
    def rows(self) -> torch.Tensor:
        """(rows,): each running hypothesis' row in the full batch (per-row processors and reports need it)."""
        return (self.items[:, None] * self.num_beams + self.beam_range).reshape(-1)

    def process(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (rows, vocab) after the processors, computed in `logits`' memory."""
        # in place (bit-identical): each fresh (rows x vocab) float32 temporary costs page faults on every step
        log_probs = torch.log_softmax(logits, dim=-1, out=logits)
        return apply(self.procs, self.current, log_probs, self.rows)

    def step(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """process then advance: what `advance` returns."""
        return self.advance(self.process(logits))

    def advance(self, log_probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Choose the next hypotheses from the step's scores (rows, vocab), which this modifies in place.

        Returns (parents, keep): parents (rows,) long, row r continues the hypothesis of row parents[r] (always a
        beam of the same input; indices into this step's rows); keep None when every row goes on, else the rows
        (after that reordering) that go on, empty once `finished`.
        """
        num_beams, k, prompt_len, max_length = self.num_beams, self.k, self.prompt_len, self.max_length
        early_stopping, length_penalty, cur_len = self.early_stopping, self.length_penalty, self.cur_len
        items = self.items
        n = items.shape[0]
        device = log_probs.device
        vocab = log_probs.shape[-1]

        # every continuation of every beam, scored by its whole hypothesis
        # in place too: log_probs is not needed afterwards
        totals = log_probs.view(n, num_beams, vocab).add_(self.run_score[:, :, None]).reshape(n, num_beams * vocab)
        if self.do_sample:
            picked = sample_rows(torch.softmax(totals, dim=-1), k, items, self.n_items)
            top_score = torch.gather(totals, 1, picked)
            # best first, as topk gives them: the later steps keep the first candidates that did not finish
            # (transformers sorts the draws too since 5.24; 5.23 kept them in draw order)
            top_score, order = top_score.sort(dim=-1, descending=True)
            picked = picked.gather(-1, order)
        else:
            top_score, picked = torch.topk(totals, k)
        parent = picked // vocab  # (n, k) beam each candidate extends
        token = picked % vocab
        top_seq = _take(self.run_seq, parent)
        top_seq[:, :, cur_len] = token
        top_beams = _take(self.run_beams, parent)
        top_beams[:, :, cur_len - prompt_len] = (parent + items[:, None] * num_beams).to(torch.int32)

        # which candidates end here (the stopping criteria: max_length, EOS)
        if cur_len + 1 >= max_length:
            ends = torch.ones(n, k, dtype=torch.bool, device=device)
        elif self.eos is not None:
            ends = torch.isin(token, self.eos)
        else:
            ends = torch.zeros(n, k, dtype=torch.bool, device=device)

        # the best num_beams candidates that did not end keep running
        cont_score = top_score + ends.to(torch.float32) * NEG
        chosen = torch.topk(cont_score, k=num_beams)[1]
        self.run_seq = _take(top_seq, chosen)
        self.run_score = run_score = _take(cont_score, chosen)
        self.run_beams = _take(top_beams, chosen)
        run_parent = _take(parent, chosen)

        # candidates that ended among the first num_beams may replace worse finished hypotheses
        just_ended = ends & self.top_beam_mask[None, :]
        final_score = top_score / ((cur_len + 1 - prompt_len) ** length_penalty)
        full = torch.all(self.fin_flag, dim=-1, keepdim=True) & (early_stopping is True)
        final_score += full.to(torch.float32) * NEG
        final_score += (~self.improvable).to(torch.float32) * NEG
        final_score += (~just_ended) * NEG
        merged_score = torch.cat((self.fin_score, final_score), dim=1)
        best = torch.topk(merged_score, k=num_beams)[1]
        self.fin_seq = _take(torch.cat((self.fin_seq, top_seq), dim=1), best)
        self.fin_score = fin_score = _take(merged_score, best)
        self.fin_beams = _take(torch.cat((self.fin_beams, top_beams), dim=1), best)
        self.fin_flag = fin_flag = _take(torch.cat((self.fin_flag, just_ended), dim=1), best)

        parents = (run_parent + torch.arange(n, device=device)[:, None] * num_beams).reshape(-1)
        self.cur_len = cur_len = cur_len + 1

        # can a running beam still beat the worst finished hypothesis?
        if early_stopping == "never" and length_penalty > 0.0:
            best_length = max_length - prompt_len
        else:
            best_length = cur_len - prompt_len
        best_running = run_score[:, :1] / (best_length ** length_penalty)
        worst_finished = torch.where(fin_flag, torch.min(fin_score, dim=1, keepdim=True)[0], NEG)
        self.improvable = improvable = self.improvable & torch.any(best_running > worst_finished, dim=-1, keepdim=True)

        # the reference's stopping rule, over all inputs (done ones keep their final state)
        self.out_flag[items] = fin_flag
        self.out_improvable[items] = improvable
        go_on = self.out_improvable.any() & ~(self.out_flag.all() & (early_stopping is True)) & ~ends.all()
        done = ~improvable.squeeze(1)
        if early_stopping is True:
            done |= fin_flag.all(dim=1)
        go_on, any_done = torch.stack((go_on, done.any())).tolist()  # the step's one synchronisation
        if not go_on or cur_len >= max_length:
            return parents, self._finish()
        if not (self.prune and any_done):
            return parents, None
        self._write_out()
        keep = (~done).nonzero().squeeze(1)
        if keep.numel() == 0:
            return parents, self._finish()
        self.items = items.index_select(0, keep)
        self.run_seq, self.run_score, self.run_beams = self.run_seq[keep], self.run_score[keep], self.run_beams[keep]
        self.fin_seq, self.fin_score = self.fin_seq[keep], self.fin_score[keep]
        self.fin_beams, self.fin_flag = self.fin_beams[keep], self.fin_flag[keep]
        self.improvable = self.improvable[keep]
        return parents, (keep[:, None] * num_beams + self.beam_range).reshape(-1)

    def _write_out(self) -> None:
        items = self.items
        self.out_seq[items], self.out_score[items], self.out_beams[items] = self.fin_seq, self.fin_score, self.fin_beams

    def _finish(self) -> torch.Tensor:
        self._write_out()
        self.finished = True
        return torch.empty(0, dtype=torch.long, device=self.items.device)

    def result(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(sequences (items * num_return_sequences, length), sequence_scores (items * num_return_sequences,),
        beam_indices (items * num_return_sequences, length - prompt_len)): the best hypotheses of each input,
        best first, cropped to the longest one returned."""
        nrs, gen_slots = self.num_return_sequences, self.max_length - self.prompt_len
        sequences = self.out_seq[:, :nrs].reshape(self.n_items * nrs, self.max_length)
        seq_scores = self.out_score[:, :nrs].reshape(-1)
        beam_indices = self.out_beams[:, :nrs].reshape(self.n_items * nrs, gen_slots)
        # crop to the longest returned hypothesis (beam_indices is -1 past each hypothesis' end)
        generated = int(beam_indices.ne(-1).sum(dim=1).max())
        return sequences[:, : self.prompt_len + generated], seq_scores, beam_indices[:, :generated]


def beam_search(
    state: DecoderState,
    prompt: torch.Tensor,  # (items * num_beams, prompt_len)
    num_beams: int,
    max_length: int,
    procs: list,
    eos: torch.Tensor | None,
    pad_token_id: int | None,
    length_penalty: float,
    early_stopping,
    num_return_sequences: int,
    do_sample: bool,
    prune: bool,
    output_scores: bool,
    output_logits: bool,
):
    """Returns (sequences, sequence_scores, beam_indices, scores, logits) like the reference's beam search."""
    beams = BeamRows(prompt, num_beams, max_length, procs, eos, pad_token_id, length_penalty, early_stopping,
                     num_return_sequences, do_sample, prune)
    total_rows = beams.total_rows
    scores, raw_logits = [], []
    while not beams.finished:
        rows = beams.rows
        logits = state.logits(beams.current, beams.cur_len)  # (rows, vocab)
        if output_logits:
            raw_logits.append(scatter_rows(logits.clone(), rows, total_rows, pad_token_id))
        log_probs = beams.process(logits)
        if output_scores:
            scores.append(scatter_rows(log_probs.clone(), rows, total_rows, pad_token_id))
        parents, keep = beams.advance(log_probs)
        state.reorder_beams(parents)
        if keep is not None and not beams.finished:
            state.keep(keep)
    return (*beams.result(), scores, raw_logits)
