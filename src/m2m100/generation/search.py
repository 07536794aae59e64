"""generate(): resolve options like transformers, check them all, encode once, then run the chosen search."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..errors import GenerationError
from ..outputs import EncoderOutput
from .beam import beam_search
from .config import GLOBAL_DEFAULTS, UNSUPPORTED_OFF, GenerationConfig
from .decoding import DecoderState, fill_transformers_cache
from .greedy import greedy_or_sample
from .limits import check_generate_inputs
from .outputs import GenerateBeamEncoderDecoderOutput, GenerateEncoderDecoderOutput
from .processors import build_processors
from .shortlist_projection import check_shortlist_ids, shortlist_projection

MODEL_INPUTS = ("input_ids", "attention_mask", "encoder_outputs", "decoder_input_ids", "inputs_embeds",
                "past_key_values")
# transformers arguments without effect on one process' result; accepted and ignored
IGNORED = ("synced_gpus", "tokenizer", "labels")  # labels: Seq2SeqTrainer passes its batch whole


def resolve_config(model, generation_config: GenerationConfig | None, kwargs: dict[str, Any]):
    """(config, model inputs, has_default_max_length): the call's options over the model's over the global ones."""
    if generation_config is not None and not isinstance(generation_config, GenerationConfig):
        if hasattr(generation_config, "to_dict"):  # e.g. a transformers GenerationConfig
            generation_config = GenerationConfig.from_dict(
                {k: v for k, v in generation_config.to_dict().items() if v is not None}
            )
        else:
            raise GenerationError(
                f"generation_config must be a GenerationConfig, got {type(generation_config).__name__}"
            )
    model_gc = model.generation_config
    has_default_max_length = (
        kwargs.get("max_length") is None
        and (generation_config is None or generation_config.max_length is None)
        and model_gc.max_length is None
    )
    gc = (generation_config or GenerationConfig()).copy()
    gc.fill_unset({name: getattr(model_gc, name) for name in GenerationConfig.field_names()})
    for key, value in model_gc.extra.items():  # custom entries carry over too
        gc.extra.setdefault(key, value)
    gc.fill_unset(GLOBAL_DEFAULTS)
    options = {k: v for k, v in kwargs.items() if k not in MODEL_INPUTS and k not in IGNORED}
    unused = gc.update(**options)
    gc.fill_unset(GLOBAL_DEFAULTS)  # an option passed as None means "the default"
    for key, value in unused.items():
        off = UNSUPPORTED_OFF.get(key, ...)
        if off is ...:
            raise GenerationError(f"generate() got an unexpected argument {key!r}")
        if not _is_off(value, off):
            raise GenerationError(f"{key}={value!r} is not supported by m2m100's generate()")
    for key, value in gc.extra.items():
        off = UNSUPPORTED_OFF.get(key, ...)
        if off is not ... and not _is_off(value, off):
            raise GenerationError(f"generation config option {key}={value!r} is not supported by m2m100's generate()")
    inputs = {k: kwargs[k] for k in MODEL_INPUTS if kwargs.get(k) is not None}
    return gc, inputs, has_default_max_length


def _is_off(value: Any, off: Any) -> bool:
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return True
    try:
        return bool(value == off)
    except (TypeError, ValueError, RuntimeError):  # == without a plain truth value (tensors, arrays)
        return False


def _ids(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return value.reshape(-1).tolist()
    return [value] if isinstance(value, int) else list(value)


def _per_row(name: str, value: Any, batch: int, vocab: int, device) -> int | torch.Tensor | None:
    """A token option that is one id, or one id per input row; checked against the vocabulary."""
    if value is None:
        return None
    ids = _ids(value)
    if any(not 0 <= i < vocab for i in ids):
        raise GenerationError(f"{name} must be token ids in [0, {vocab}), got {value!r}")
    if isinstance(value, int) or (isinstance(value, torch.Tensor) and value.dim() == 0):
        return ids[0]
    if len(ids) != batch:
        raise GenerationError(f"{name} must be one token id or one per input row ({batch}), got {len(ids)}")
    return torch.tensor(ids, dtype=torch.long, device=device)


def _cache_length(cache: Any) -> int:
    try:
        return int(cache.get_seq_length())
    except (AttributeError, TypeError) as exc:
        raise GenerationError(f"past_key_values must be a cache object, got {type(cache).__name__}") from exc


def _encoder_hidden(encoder_outputs: Any) -> torch.Tensor:
    if isinstance(encoder_outputs, EncoderOutput) or hasattr(encoder_outputs, "last_hidden_state"):
        return encoder_outputs.last_hidden_state
    if isinstance(encoder_outputs, dict):
        return encoder_outputs["last_hidden_state"]
    if isinstance(encoder_outputs, (tuple, list)):
        return encoder_outputs[0]
    if isinstance(encoder_outputs, torch.Tensor):
        return encoder_outputs
    raise GenerationError(f"encoder_outputs must be an encoder output or a tuple, got {type(encoder_outputs).__name__}")


@torch.no_grad()
def generate(
    model,
    inputs: torch.Tensor | None = None,
    generation_config: GenerationConfig | None = None,
    logits_processor: Sequence[Callable] | None = None,
    *,
    step_scheduler: Any = None,
    **kwargs: Any,
) -> torch.Tensor | GenerateEncoderDecoderOutput | GenerateBeamEncoderDecoderOutput:
    """Translate with greedy search, beam search, sampling or beam sampling, like transformers' generate().

    inputs / input_ids (batch, src_len) with attention_mask, or inputs_embeds, or encoder_outputs; options as
    keyword arguments or a GenerationConfig (the call's keywords win, then the config, then the model's
    generation_config, then transformers' global defaults). forced_bos_token_id (and decoder_start_token_id) may
    give one token per input row, so one batch can translate into several languages. Returns the sequences
    (batch * num_return_sequences, length), starting with the decoder start token, padded after EOS; or, with
    return_dict_in_generate=True, an output object with `sequences` and, with output_scores=True, `scores`
    (and `sequences_scores` for beam search).

    vocab_shortlist (ours, opt-in): token ids (1-D list or tensor) the output may use besides the source's tokens
    and the special and forced tokens, which are always kept; the output projection then runs on those rows only
    and every other logit is -inf, so scores are normalised over the kept tokens (see
    m2m100.generation.shortlist_projection; m2m100.VocabShortlist builds them per target language).

    step_scheduler (ours): a generation.continuous.StepScheduler of this model, or None (the default: the call
    decodes on its own). Inside one of its jobs (StepScheduler.run) the call's decoder steps take turns with the
    other jobs', and with merge_greedy its greedy and beam-search rows (no sampling, no return_dict_in_generate)
    join the scheduler's merged decoder batch; outside a job the call runs as a job of its own.
    """
    if step_scheduler is not None:
        if step_scheduler.model is not model:
            raise GenerationError("step_scheduler schedules another model than the one generating")
        if not step_scheduler.holds_turn():  # not inside a job: become one, taking turns with the others
            return step_scheduler.run(generate, model, inputs, generation_config, logits_processor,
                                      step_scheduler=step_scheduler, **kwargs)
    vocab_shortlist = kwargs.pop("vocab_shortlist", None)
    if inputs is not None:
        if kwargs.get("input_ids") is not None:
            raise GenerationError("pass the source tokens either as `inputs` or as `input_ids`, not both")
        kwargs["input_ids"] = inputs
    gc, model_inputs, has_default_max_length = resolve_config(model, generation_config, kwargs)
    check_generate_inputs(model, gc, model_inputs)  # typed errors before anything is allocated
    config = model.config
    vocab = config.vocab_size
    device = model.device

    # -- the batch, without running anything yet ------------------------------------------------------
    input_ids = model_inputs.get("input_ids")
    inputs_embeds = model_inputs.get("inputs_embeds")
    encoder_outputs = model_inputs.get("encoder_outputs")
    attention_mask = model_inputs.get("attention_mask")
    if sum(x is not None for x in (input_ids, inputs_embeds)) > 1:
        raise GenerationError("pass either input_ids or inputs_embeds, not both")
    if encoder_outputs is not None:
        encoder_hidden = _encoder_hidden(encoder_outputs)
        batch = encoder_hidden.shape[0]
    elif input_ids is not None:
        if input_ids.dim() == 1:
            input_ids = input_ids.unsqueeze(0)
        if input_ids.dim() != 2 or input_ids.dtype not in (torch.long, torch.int, torch.int32, torch.int16):
            raise GenerationError(f"input_ids must be a 2-D tensor of token ids, got shape {tuple(input_ids.shape)}")
        batch = input_ids.shape[0]
    elif inputs_embeds is not None:
        batch = inputs_embeds.shape[0]
    else:
        # no source at all: one row holding the BOS token, as transformers does
        if gc.bos_token_id is None:
            raise GenerationError("generate() without input_ids (or inputs_embeds or encoder_outputs) needs bos_token_id")
        input_ids = torch.full((1, 1), gc.bos_token_id, dtype=torch.long, device=device)
        batch = 1
    if attention_mask is not None and attention_mask.shape[0] != batch:
        raise GenerationError(f"attention_mask has {attention_mask.shape[0]} rows, the input has {batch}")

    # -- special tokens ---------------------------------------------------------------------------------
    eos_ids = _ids(gc.eos_token_id)
    if eos_ids is not None:  # -1 is transformers' "no such token": never stop early
        eos_ids = [i for i in eos_ids if i != -1] or None
    pad_ids = None if gc.pad_token_id == -1 else _ids(gc.pad_token_id)
    for name, ids in (("eos_token_id", eos_ids), ("forced_eos_token_id", _ids(gc.forced_eos_token_id)),
                      ("pad_token_id", pad_ids)):
        if ids is not None and any(not 0 <= i < vocab for i in ids):
            raise GenerationError(f"{name} must be token ids in [0, {vocab}), got {ids}")
    if gc.pad_token_id == -1:
        gc.pad_token_id = None  # checked above: -1 only means "no padding token"
        pad_token_id = -1
    else:
        pad_token_id = gc.pad_token_id if gc.pad_token_id is not None else (eos_ids[0] if eos_ids else None)
    start = gc.decoder_start_token_id if gc.decoder_start_token_id is not None else gc.bos_token_id
    if start is None:
        raise GenerationError("decoder_start_token_id (or bos_token_id) must be set for generation")
    start = _per_row("decoder_start_token_id", start, batch, vocab, device)
    forced_bos = _per_row("forced_bos_token_id", gc.forced_bos_token_id, batch, vocab, device)
    if gc.bad_words_ids is not None:
        bad = [t for word in gc.bad_words_ids for t in word if t >= vocab]
        if bad:
            raise GenerationError(f"bad_words_ids must be token ids in [0, {vocab}), got {bad}")

    shortlist = check_shortlist_ids(vocab_shortlist, vocab, device) if vocab_shortlist is not None else None

    # -- the decoder prompt: the start token, or the caller's decoder_input_ids after it ------------------
    start_col = (start.view(-1, 1) if isinstance(start, torch.Tensor)
                 else torch.full((batch, 1), start, dtype=torch.long, device=device))
    decoder_input_ids = model_inputs.get("decoder_input_ids")
    if decoder_input_ids is None:
        prompt = start_col
    else:
        decoder_input_ids = decoder_input_ids.to(device)
        if decoder_input_ids.dim() == 1:
            decoder_input_ids = decoder_input_ids.unsqueeze(0)
        if decoder_input_ids.shape[0] != batch:
            raise GenerationError(f"decoder_input_ids has {decoder_input_ids.shape[0]} rows, the input has {batch}")
        prompt = decoder_input_ids
        if bool((decoder_input_ids[:, 0] != start_col[:, 0]).all()):
            prompt = torch.cat([start_col, decoder_input_ids], dim=1)
    prompt_len = prompt.shape[1]

    # -- lengths (transformers' rules) ----------------------------------------------------------------------
    if gc.max_new_tokens is not None:
        max_length = gc.max_new_tokens + prompt_len
    elif has_default_max_length:  # "20 new tokens", within the position table
        max_length = min(gc.max_length + prompt_len, config.max_position_embeddings)
    else:
        max_length = gc.max_length
    if prompt_len >= max_length:
        raise GenerationError(
            f"max_length ({max_length}) must exceed the decoder prompt length ({prompt_len}); set max_new_tokens"
        )
    if max_length > config.max_position_embeddings:
        raise GenerationError(
            f"max_length ({max_length}) must be at most the model's max_position_embeddings "
            f"({config.max_position_embeddings})"
        )
    gc.max_length = max_length

    # -- strategy ----------------------------------------------------------------------------------------------
    num_beams, nrs = gc.num_beams, gc.num_return_sequences
    if gc.do_sample and not gc.temperature > 0:
        raise GenerationError(f"temperature must be > 0 with do_sample=True, got {gc.temperature!r}")
    if num_beams == 1 and not gc.do_sample and nrs > 1:
        raise GenerationError(
            f"num_return_sequences must be 1 for greedy search, got {nrs} (use num_beams >= {nrs} or do_sample=True)"
        )
    if num_beams > 1 and nrs > num_beams:
        raise GenerationError(f"num_return_sequences must be in [1, num_beams={num_beams}], got {nrs}")
    expand = max(num_beams, nrs)

    # what return_dict_in_generate reports besides the sequences; per-step tensors need every row in the batch
    want_attentions = bool(gc.return_dict_in_generate and gc.output_attentions)
    want_hidden = bool(gc.return_dict_in_generate and gc.output_hidden_states)
    user_cache = model_inputs.get("past_key_values")
    if user_cache is not None and _cache_length(user_cache) > 0:
        raise GenerationError("past_key_values must be an empty cache: continuing from a filled one is not supported")
    prune = gc.prune_finished and not (want_attentions or want_hidden or user_cache is not None)

    # -- run: the encoder once -----------------------------------------------------------------------------------
    if attention_mask is not None:
        attention_mask = attention_mask.to(device)
    encoder_attentions = encoder_states = None
    if encoder_outputs is None:
        encoder = model.get_encoder()
        source = {"input_ids": input_ids.to(device)} if input_ids is not None else {"inputs_embeds": inputs_embeds.to(device)}
        encoded = encoder(**source, attention_mask=attention_mask, output_attentions=want_attentions,
                          output_hidden_states=want_hidden, return_dict=True)
        encoder_hidden, encoder_attentions, encoder_states = encoded.last_hidden_state, encoded.attentions, encoded.hidden_states
    else:
        encoder_attentions = getattr(encoder_outputs, "attentions", None) if want_attentions else None
        encoder_states = getattr(encoder_outputs, "hidden_states", None) if want_hidden else None
    encoder_hidden = encoder_hidden.to(device)
    # Beams of one input share its encoder output (they also leave the batch together): its cross-attention K/V
    # are projected and kept once, and its beams attend to them as one multi-query attention, which rounds
    # differently in the last bit. Sampled sequences of one input leave one by one, so each gets its own copy;
    # so does every row in the bit-exact full-batch mode (prune_finished=False), laid out like the reference.
    rows_per_source = expand if num_beams > 1 and prune else 1
    if expand > 1:
        if rows_per_source == 1:
            encoder_hidden = encoder_hidden.repeat_interleave(expand, dim=0)
            attention_mask = attention_mask.repeat_interleave(expand, dim=0) if attention_mask is not None else None
        prompt = prompt.repeat_interleave(expand, dim=0)
        if isinstance(forced_bos, torch.Tensor):
            forced_bos = forced_bos.repeat_interleave(expand, dim=0)

    procs = build_processors(gc, prompt_len=prompt_len, eos_ids=eos_ids, forced_bos=forced_bos, vocab_size=vocab,
                             device=device, custom=logits_processor)
    eos = torch.tensor(eos_ids, dtype=torch.long, device=device) if eos_ids else None
    # Self-attention buffers sized for a typical translation (twice the source); they double if outgrown.
    capacity = min(max_length, max(32, 2 * encoder_hidden.shape[1] + 16))
    project = None if shortlist is None else shortlist_projection(
        model, shortlist, [input_ids, prompt, eos_ids, pad_ids, forced_bos, _ids(gc.forced_eos_token_id)])
    state = DecoderState(model, encoder_hidden, attention_mask, gc.use_cache, capacity=capacity,
                         output_attentions=want_attentions, output_hidden_states=want_hidden,
                         rows_per_source=rows_per_source, project=project, few_row_matmuls=prune)
    want_scores = gc.return_dict_in_generate and gc.output_scores
    want_logits = gc.return_dict_in_generate and gc.output_logits

    def extras() -> dict[str, Any]:
        """The encoder/decoder attentions, hidden states and cache, in transformers' layout (per step, per layer)."""
        cache = state.cache
        if user_cache is not None and cache is not None:
            fill_transformers_cache(user_cache, cache)
            cache = user_cache
        return dict(
            encoder_attentions=encoder_attentions, encoder_hidden_states=encoder_states,
            decoder_attentions=tuple(state.self_attentions) if want_attentions else None,
            cross_attentions=tuple(state.cross_attentions) if want_attentions else None,
            decoder_hidden_states=tuple(state.hidden_states) if want_hidden else None,
            # with finished rows pruned, the cache no longer holds every row: not worth returning
            past_key_values=None if prune else cache,
        )

    merger = None if step_scheduler is None else step_scheduler.merger  # greedy/beam rows share decoder calls
    merges = (merger is not None and not gc.do_sample and prune and state.cache is not None
              and not gc.return_dict_in_generate)
    if num_beams == 1:
        sequences = torch.full((prompt.shape[0], max_length), pad_token_id if pad_token_id is not None else 0,
                               dtype=torch.long, device=device)
        sequences[:, :prompt_len] = prompt
        if merges:
            return merger.generate(state, sequences, prompt_len, max_length, procs, eos, project)
        sequences, scores, logits = greedy_or_sample(
            state, sequences, prompt_len, max_length, procs, eos, pad_token_id, gc.do_sample, prune,
            want_scores, want_logits,
        )
        if not gc.return_dict_in_generate:
            if user_cache is not None and state.cache is not None:
                fill_transformers_cache(user_cache, state.cache)
            return sequences
        return GenerateEncoderDecoderOutput(
            sequences=sequences, scores=tuple(scores) if want_scores else None,
            logits=tuple(logits) if want_logits else None, **extras(),
        )

    if merges:
        return merger.beam_search(state, prompt, num_beams, max_length, procs, eos, pad_token_id, gc.length_penalty,
                                  gc.early_stopping, nrs, project)
    sequences, seq_scores, beam_indices, scores, logits = beam_search(
        state, prompt, num_beams, max_length, procs, eos, pad_token_id, gc.length_penalty, gc.early_stopping, nrs,
        gc.do_sample, prune, want_scores, want_logits,
    )
    if not gc.return_dict_in_generate:
        if user_cache is not None and state.cache is not None:
            fill_transformers_cache(user_cache, state.cache)
        return sequences
    return GenerateBeamEncoderDecoderOutput(
        sequences=sequences, sequences_scores=seq_scores if want_scores else None,
        scores=tuple(scores) if want_scores else None, logits=tuple(logits) if want_logits else None,
        beam_indices=beam_indices, **extras(),
    )
