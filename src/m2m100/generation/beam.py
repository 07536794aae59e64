"""Beam search (and beam sampling), vectorised over inputs and beams, with transformers' exact bookkeeping.

Per input we keep `num_beams` running hypotheses and the `num_beams` best finished ones. Each step scores every
continuation of every running beam, keeps the K = (1 + #EOS, at least 2) * num_beams best, moves those that end
(EOS or max_length) and rank among the first num_beams into the finished set (score / length ** length_penalty),
and continues with the best num_beams that did not end. An input is done when no running beam can beat its
worst finished one (the early_stopping rule decides how that is estimated) or, with early_stopping=True, as
soon as num_beams hypotheses are finished; done inputs leave the decoder batch.
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
    device = prompt.device
    total_rows, prompt_len = prompt.shape
    n_items = total_rows // num_beams
    n_eos = eos.numel() if eos is not None else 0
    k = max(2, 1 + n_eos) * num_beams
    top_beam_mask = torch.arange(k, device=device) < num_beams  # only these may become finished hypotheses
    # the reference's filler for unused positions: `pad or eos[0]` if there is an EOS, else -1
    if eos is None:
        fill = -1
    else:
        fill = pad_token_id if pad_token_id else int(eos[0])
    gen_slots = max_length - prompt_len

    # running hypotheses of the inputs still decoding ("active"); finished ones of every input
    run_seq = torch.full((n_items, num_beams, max_length), fill, dtype=torch.long, device=device)
    run_seq[:, :, :prompt_len] = prompt.view(n_items, num_beams, prompt_len)
    run_score = torch.zeros(n_items, num_beams, device=device)
    run_score[:, 1:] = NEG  # all beams start identical: only the first one may expand at step one
    run_beams = torch.full((n_items, num_beams, gen_slots), -1, dtype=torch.int32, device=device)
    fin_seq = run_seq.clone()
    fin_score = torch.full((n_items, num_beams), NEG, device=device)
    fin_beams = run_beams.clone()
    fin_flag = torch.zeros(n_items, num_beams, dtype=torch.bool, device=device)
    improvable = torch.ones(n_items, 1, dtype=torch.bool, device=device)
    # results of inputs that are done (and of all at the end), full batch
    out_seq, out_score, out_beams = fin_seq.clone(), fin_score.clone(), fin_beams.clone()
    out_flag, out_improvable = fin_flag.clone(), improvable.clone()
    items = torch.arange(n_items, device=device)  # batch index of each active input
    beam_range = torch.arange(num_beams, device=device)

    scores, raw_logits = [], []
    cur_len = prompt_len
    while True:
        n = items.shape[0]
        flat_seq = run_seq[:, :, :cur_len].reshape(n * num_beams, cur_len)
        rows = (items[:, None] * num_beams + beam_range).reshape(-1)
        logits = state.logits(flat_seq, cur_len)  # (n * num_beams, vocab)
        vocab = logits.shape[-1]
        if output_logits:
            raw_logits.append(scatter_rows(logits.clone(), rows, total_rows, pad_token_id))
        # in place (bit-identical): each fresh (rows x vocab) float32 temporary costs page faults on every step
        log_probs = torch.log_softmax(logits, dim=-1, out=logits)
        log_probs = apply(procs, flat_seq, log_probs, rows)
        if output_scores:
            scores.append(scatter_rows(log_probs.clone(), rows, total_rows, pad_token_id))

        # every continuation of every beam, scored by its whole hypothesis
        # in place too: log_probs is not needed afterwards
        totals = log_probs.view(n, num_beams, vocab).add_(run_score[:, :, None]).reshape(n, num_beams * vocab)
        if do_sample:
            picked = sample_rows(torch.softmax(totals, dim=-1), k, items, n_items)
            top_score = torch.gather(totals, 1, picked)
            # best first, as topk gives them: the later steps keep the first candidates that did not finish
            # (transformers sorts the draws too since 5.24; 5.23 kept them in draw order)
            top_score, order = top_score.sort(dim=-1, descending=True)
            picked = picked.gather(-1, order)
        else:
            top_score, picked = torch.topk(totals, k)
        parent = picked // vocab  # (n, k) beam each candidate extends
        token = picked % vocab
        top_seq = _take(run_seq, parent)
        top_seq[:, :, cur_len] = token
        top_beams = _take(run_beams, parent)
        top_beams[:, :, cur_len - prompt_len] = (parent + items[:, None] * num_beams).to(torch.int32)

        # which candidates end here (the stopping criteria: max_length, EOS)
        if cur_len + 1 >= max_length:
            ends = torch.ones(n, k, dtype=torch.bool, device=device)
        elif eos is not None:
            ends = torch.isin(token, eos)
        else:
            ends = torch.zeros(n, k, dtype=torch.bool, device=device)

        # the best num_beams candidates that did not end keep running
        cont_score = top_score + ends.to(torch.float32) * NEG
        chosen = torch.topk(cont_score, k=num_beams)[1]
        run_seq = _take(top_seq, chosen)
        run_score = _take(cont_score, chosen)
        run_beams = _take(top_beams, chosen)
        run_parent = _take(parent, chosen)

        # candidates that ended among the first num_beams may replace worse finished hypotheses
        just_ended = ends & top_beam_mask[None, :]
        final_score = top_score / ((cur_len + 1 - prompt_len) ** length_penalty)
        full = torch.all(fin_flag, dim=-1, keepdim=True) & (early_stopping is True)
        final_score += full.to(torch.float32) * NEG
        final_score += (~improvable).to(torch.float32) * NEG
        final_score += (~just_ended) * NEG
        merged_score = torch.cat((fin_score, final_score), dim=1)
        best = torch.topk(merged_score, k=num_beams)[1]
        fin_seq = _take(torch.cat((fin_seq, top_seq), dim=1), best)
        fin_score = _take(merged_score, best)
        fin_beams = _take(torch.cat((fin_beams, top_beams), dim=1), best)
        fin_flag = _take(torch.cat((fin_flag, just_ended), dim=1), best)

        state.reorder_beams((run_parent + torch.arange(n, device=device)[:, None] * num_beams).reshape(-1))
        cur_len += 1

        # can a running beam still beat the worst finished hypothesis?
        if early_stopping == "never" and length_penalty > 0.0:
            best_length = max_length - prompt_len
        else:
            best_length = cur_len - prompt_len
        best_running = run_score[:, :1] / (best_length ** length_penalty)
        worst_finished = torch.where(fin_flag, torch.min(fin_score, dim=1, keepdim=True)[0], NEG)
        improvable = improvable & torch.any(best_running > worst_finished, dim=-1, keepdim=True)

        # the reference's stopping rule, over all inputs (done ones keep their final state)
        out_flag[items] = fin_flag
        out_improvable[items] = improvable
        go_on = out_improvable.any() & ~(out_flag.all() & (early_stopping is True)) & ~ends.all()
        done = ~improvable.squeeze(1)
        if early_stopping is True:
            done |= fin_flag.all(dim=1)
        go_on, any_done = torch.stack((go_on, done.any())).tolist()  # the step's one synchronisation
        if not go_on or cur_len >= max_length:
            break
        if prune and any_done:
            out_seq[items], out_score[items], out_beams[items] = fin_seq, fin_score, fin_beams
            keep = (~done).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            items = items.index_select(0, keep)
            run_seq, run_score, run_beams = run_seq[keep], run_score[keep], run_beams[keep]
            fin_seq, fin_score, fin_beams, fin_flag = fin_seq[keep], fin_score[keep], fin_beams[keep], fin_flag[keep]
            improvable = improvable[keep]
            state.keep((keep[:, None] * num_beams + beam_range).reshape(-1))

    out_seq[items], out_score[items], out_beams[items] = fin_seq, fin_score, fin_beams
    sequences = out_seq[:, :num_return_sequences].reshape(n_items * num_return_sequences, max_length)
    seq_scores = out_score[:, :num_return_sequences].reshape(-1)
    beam_indices = out_beams[:, :num_return_sequences].reshape(n_items * num_return_sequences, gen_slots)
    # crop to the longest returned hypothesis (beam_indices is -1 past each hypothesis' end)
    generated = int(beam_indices.ne(-1).sum(dim=1).max())
    return sequences[:, : prompt_len + generated], seq_scores, beam_indices[:, :generated], scores, raw_logits
