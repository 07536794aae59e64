"""Translator: the one Python API for translating text (the CLI and the HTTP server are thin layers over it).

    >>> from m2m100 import Translator
    >>> tr = Translator.from_pretrained()                 # $M2M100_MODEL or facebook/m2m100_418M
    >>> tr.translate("Hello world!", source="en", target="fr")
    >>> tr.translate(["one", "two"], source="English", target=["de", "es"])

`translate` = plan -> run -> finish (m2m100.translate.request):

1. `plan(request)`: the request is validated once (texts, languages, format, generation options, limits);
   empty and letterless texts, and texts whose source equals the target, come back unchanged without touching
   the model; "auto" sources are detected; each text is cut into lines, sentences and pieces that fit the model
   (`Splitter`; nothing is dropped) and every distinct piece is tokenized once.
2. `run(pieces, options)`: pieces are packed into batches under a token budget (`max_batch_tokens`; one batch
   may mix languages) and generated (translate.batches), with the quality guards when on.
3. `finish(plan, outputs)`: translated pieces are put back between the original whitespace, line breaks and
   markup; alternatives and guard details per text.

Generation uses the checkpoint's own defaults (`model.generation_config`), so a single sentence that fits
translates exactly as `tokenizer.batch_decode(model.generate(...), skip_special_tokens=True)` would; the length
policy is translate.batches'.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from typing import Any

from ..errors import GenerationError, LanguageError
from ..generation.config import check_option
from ..guards import GuardConfig, PieceReport, TextDetails, resolve_guards, summarize
from ..documents.html import HtmlDocument
from ..documents.units import project
from .batches import BatchRunner
from .guarded import guarded_generate
from .languages import ModelLanguages
from .request import FORMATS, Piece, Plan, TextPlan, TextResult, TranslationRequest
from .split import Splitter, SplitText
from .text import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_BATCH_TOKENS,
    GENERATION_OPTIONS,
    check_text,
    clean_for_model,
    default_model,
    needs_translation,
)

class Translator:
    """Text in, text out, for one sentence or a million lines. See the module docstring for the pipeline.

    Thread-safe: model calls are serialised by a lock; splitting may run beside them in other threads.

    shortlist (opt-in): a VocabShortlist or its JSON file. A batch whose target languages all have a token set
    in it decodes over those tokens plus its sources' tokens and the special tokens (a smaller output
    projection; scores normalised over the kept tokens); other batches use the full vocabulary. The sources'
    tokens are those of the whole batch, so with a shortlist a translation may depend on its batch neighbours.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_input_tokens: int | None = None,
        split_sentences: bool = True,
        progress: bool | None = None,
        name: str | None = None,
        guards: bool | GuardConfig | None = None,
        shortlist: Any = None,
    ):
        for label, value in (("max_batch_tokens", max_batch_tokens), ("max_batch_size", max_batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be a positive integer, got {value!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.progress = progress
        # quality guards (m2m100.guards): None = on unless $M2M100_GUARDS=0; self.guards is None when off
        self.guards = resolve_guards(guards)
        limit = int(model.config.max_position_embeddings)
        if max_input_tokens is not None:
            if isinstance(max_input_tokens, bool) or not isinstance(max_input_tokens, int) or not 4 <= max_input_tokens:
                raise ValueError(f"max_input_tokens must be an integer >= 4, got {max_input_tokens!r}")
            limit = min(limit, max_input_tokens)
        self.max_positions = int(model.config.max_position_embeddings)
        self.splitter = Splitter(limit, self.count_tokens, split_sentences=split_sentences,
                                 count_many=self._count_many)
        self._lock = threading.RLock()  # one generation at a time
        self._tokenizer_lock = threading.Lock()  # the tokenizer's src_lang is shared state
        self.model_languages = ModelLanguages(tokenizer)
        _check_vocabulary(model, tokenizer)
        # opt-in vocabulary shortlist (m2m100.generation.shortlist): None, a VocabShortlist or a JSON file path
        self.shortlist = self._load_shortlist(shortlist)
        self.runner = BatchRunner(model, tokenizer, max_batch_tokens=max_batch_tokens,
                                  max_batch_size=max_batch_size, shortlist=self.shortlist)

    @property
    def model_lock(self) -> Any:
        """The lock model calls outside a server's step scheduler are serialised under (one at a time)."""
        return self._lock

    @property
    def max_batch_tokens(self) -> int:
        """Token budget of one model batch (rows x longest input x beams)."""
        return self.runner.max_batch_tokens

    @max_batch_tokens.setter
    def max_batch_tokens(self, value: int) -> None:
        self.runner.max_batch_tokens = value

    @property
    def max_batch_size(self) -> int:
        """Most rows in one model batch."""
        return self.runner.max_batch_size

    @max_batch_size.setter
    def max_batch_size(self, value: int) -> None:
        self.runner.max_batch_size = value

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        path_or_hub_id: str | os.PathLike | None = None,
        *,
        device: Any = None,
        dtype: Any = None,
        quantize: str | None = None,
        prepack: bool | None = None,
        attn_implementation: str | None = None,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_input_tokens: int | None = None,
        split_sentences: bool = True,
        progress: bool | None = None,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        guards: bool | GuardConfig | None = None,
        shortlist: Any = None,
    ) -> "Translator":
        """Load model and tokenizer from a local checkpoint directory or a hub id (default: `default_model()`).

        device: None picks CUDA (or MPS) when available, else CPU; dtype: None keeps float32, or "auto",
        "float16", "bfloat16", a torch.dtype; quantize ("int8") is passed to the model loader; prepack: None
        packs CPU float32/bfloat16 weights for fast inference (exact; needs oneDNN), False keeps plain weights.
        shortlist: a vocabulary shortlist (a VocabShortlist or the path of its JSON file; True: shortlist.json in
        the checkpoint directory) to decode over fewer output tokens; see `Translator.__init__`.
        """
        from ..model import M2M100ForConditionalGeneration
        from ..auto import AutoTokenizer

        name = os.fspath(path_or_hub_id) if path_or_hub_id is not None else default_model()
        if shortlist is True:
            from ..generation.shortlist import FILE_NAME

            shortlist = os.path.join(name, FILE_NAME)
        if isinstance(shortlist, (str, os.PathLike)):  # read before the model: a bad file fails fast
            from ..generation.shortlist import VocabShortlist

            shortlist = VocabShortlist.load(shortlist)
        hub = dict(revision=revision, cache_dir=cache_dir, token=token, local_files_only=local_files_only)
        kwargs: dict[str, Any] = dict(hub, dtype=dtype, device_map=device if device is not None else "auto")
        if attn_implementation is not None:
            kwargs["attn_implementation"] = attn_implementation
        if quantize is not None:
            kwargs["quantize"] = quantize
        kwargs["prepack"] = prepack
        tokenizer = AutoTokenizer.from_pretrained(name, **hub)  # M2M100 or NLLB, as tokenizer_config.json says
        model = M2M100ForConditionalGeneration.from_pretrained(name, **kwargs)
        return cls(
            model, tokenizer, max_batch_tokens=max_batch_tokens, max_batch_size=max_batch_size,
            max_input_tokens=max_input_tokens, split_sentences=split_sentences, progress=progress, name=name,
            guards=guards, shortlist=shortlist,
        )

    # -- languages -----------------------------------------------------------------------------------
    def languages(self) -> list[tuple[str, str]]:
        """(code, English name) of every language the model translates, in model order."""
        return self.model_languages.names()

    def normalize_language(self, value: Any, what: str = "language") -> str:
        """The model's code for a language code or name; LanguageError naming `what` and the value."""
        return self.model_languages.normalize(value, what)

    def detect(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """Language of each text: N texts -> N `(code, confidence)` pairs, `code` one of this model's languages,
        `confidence` in [0, 1] (low means unsure). Does not use the model; see `m2m100.detect.detect_languages`.
        Raises TypeError for a non-str item."""
        return [candidates[0] for candidates in self.detect_candidates(texts, 1)]

    def detect_candidates(self, texts: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """Up to k `(code, confidence)` candidates per text, best first, among this model's languages.
        Raises TypeError for a non-str item, ValueError for k outside 1..100."""
        return self.model_languages.detect_candidates(texts, k)

    @property
    def max_input_tokens(self) -> int:
        """Longest piece sent to the model, in tokens, language token and </s> included."""
        return self.splitter.max_tokens

    # -- public API: plan -> run -> finish ---------------------------------------------------------------
    def translate(
        self,
        texts: str | Sequence[str],
        source: str | Sequence[str],
        target: str | Sequence[str],
        *,
        progress: bool | None = None,
        guards: bool | GuardConfig | None = None,
        return_details: bool = False,
        **generation_options: Any,
    ) -> str | list[str] | TextDetails | list[TextDetails]:
        """Translate a string (-> a string) or a list of strings (-> a list of the same length, same order).

        guards: None uses the Translator's setting (on by default), False turns the quality guards off for this
        call, True or a GuardConfig turns them on (see m2m100.guards). return_details: a TextDetails per text
        instead of a string (translation, flags, retries, model score per token).

        source/target: a language code or name, or a list with one per text; source "auto" detects the
        language of each text (`detect`), also as an item of a source list. Generation options (num_beams,
        max_new_tokens, ...) override the checkpoint's defaults. Raises TypeError for non-str texts,
        LanguageError for unknown languages, GenerationError for invalid options.
        """
        request = TranslationRequest(texts, source, target, options=generation_options, details=return_details,
                                     guards=guards)
        results = self.translate_request(request, progress=progress)
        out = [r.details if return_details else r.text for r in results]
        return out[0] if isinstance(texts, str) else out

    __call__ = translate

    def translate_request(self, request: TranslationRequest, *, progress: bool | None = None) -> list[TextResult]:
        """`finish(plan, run(plan.pieces, plan.options))` of `plan(request)`: one TextResult per text."""
        plan = self.plan(request)
        return self.finish(plan, self.run(plan.pieces, plan.options, progress=progress))

    def plan(self, request: TranslationRequest, *, check: Callable[[], None] | None = None) -> Plan:
        """Validate `request` (texts, languages, format, options, limits: the one place they are checked) and
        cut its texts into model inputs: hygiene, language detection for "auto", HTML parsing, sentence splitting
        and tokenizing, once. `check()` is called between texts (a server raises there when the request went
        away). Raises TypeError for non-str texts, LanguageError, GenerationError, ValueError for a bad format."""
        items, single = _texts(request.texts)
        if request.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {request.format!r}")
        options = self.run_options(request)
        html = request.format == "html"
        targets = self.model_languages.resolve(request.target, len(items), "target")
        documents = [HtmlDocument(text) for text in items] if html else None
        seen = [" ".join(doc.texts) for doc in documents] if documents is not None else items
        sources, detected = self.model_languages.sources(request.source, seen)
        jobs = _Jobs(self._dedupes(options))
        plans: list[TextPlan] = []
        slots: list[int] = []
        originals: list[str] = []
        for i, (text, src, tgt) in enumerate(zip(items, sources, targets)):
            if check is not None:
                check()
            entry = TextPlan(original=text, source=src, target=tgt, kind="unchanged", start=len(slots),
                             detected=detected.get(i))
            if src != tgt and needs_translation(text):
                entry.kind = "html" if html else "text"
                entry.html = documents[i] if documents is not None else None
                for run in (entry.html.texts if entry.html is not None else [text]):
                    split = self.splitter.split(run, src)
                    entry.splits.append(split)
                    for piece in split.pieces:
                        originals.append(piece)
                        slots.append(jobs.slot(piece, src, tgt))
            entry.count = len(slots) - entry.start
            plans.append(entry)
        return Plan(plans, self._tokenized(jobs.keys), slots, originals, options, single)

    def run_options(self, request: TranslationRequest) -> dict[str, Any]:
        """The checked run options of a request: its generation options, plus `alternatives` (n-best size, 0
        without), `details`, `guards` (a GuardConfig or None) and `max_new_tokens_cap`. Raises GenerationError
        for an unknown or out-of-range option and for beams (those alternatives need included) above
        `request.max_beams`."""
        options = self.check_generation_options(dict(request.options))
        alternatives = request.alternatives
        if isinstance(alternatives, bool) or not isinstance(alternatives, int) or not 0 <= alternatives < 64:
            raise GenerationError(f"alternatives must be an integer from 0 to 63, got {alternatives!r}")
        beams = options.get("num_beams") or self.runner.default_beams()
        if request.max_beams is not None and beams > request.max_beams:
            raise GenerationError(f"num_beams {beams} is more than this server allows (max_beams "
                                  f"{request.max_beams})")
        if alternatives:
            if options.get("do_sample"):
                raise GenerationError("alternatives come from beam search: do_sample must be off")
            beams = max(beams, alternatives + 1)
            if request.max_beams is not None and beams > request.max_beams:
                raise GenerationError(
                    f"alternatives {alternatives} need {alternatives + 1} beams, more than this server allows "
                    f"(max_beams {request.max_beams}); ask for at most {max(0, request.max_beams - 1)} alternatives")
            options["num_beams"] = beams
        cap = request.max_new_tokens
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise GenerationError(f"max_new_tokens cap must be a positive integer, got {cap!r}")
        guards = self.guards if request.guards is None else resolve_guards(request.guards)
        return {**options, "alternatives": alternatives + 1 if alternatives else 0, "details": bool(request.details),
                "guards": guards, "max_new_tokens_cap": cap}

    def run(self, pieces: Sequence[Piece], options: dict[str, Any], *, progress: bool | None = None,
            step_scheduler: Any = None, pack: bool = True) -> list[Any]:
        """Translations of `pieces` (from `plan`) under run `options` (`Plan.options`), one output per piece:
        a string, a PieceReport (`details`), or a list of up to `alternatives` distinct strings, best first.

        `pack=False`: the pieces are one batch already (a server batcher formed it). `step_scheduler`: the
        server's StepScheduler whose job this thread runs; its turns serialise the model, so the Translator's
        own one-generation-at-a-time lock is not taken."""
        if not pieces:
            return []
        gen = {k: v for k, v in options.items() if k not in RUN_KEYS}
        cap = options.get("max_new_tokens_cap")
        kwargs = dict(cap=cap, step_scheduler=step_scheduler, pack=pack)
        with nullcontext() if step_scheduler is not None else self._lock:
            n = options.get("alternatives")
            if n:
                gen = {**gen, "num_return_sequences": gen.get("num_beams") or n}
                outputs = self.runner.generate(pieces, gen, progress=progress, **kwargs)
                return [list(dict.fromkeys(hypotheses))[:n] for hypotheses in outputs]
            config, details = options.get("guards"), options.get("details")
            if config is None and not details:
                return self.runner.generate(pieces, gen, progress=progress, **kwargs)
            return guarded_generate(self, pieces, gen, progress, config, bool(details), kwargs)

    def finish(self, plan: Plan, outputs: Sequence[Any]) -> list[TextResult]:
        """One TextResult per text of `plan` from the outputs of `run(plan.pieces, plan.options)`: pieces put
        back between the original whitespace and markup; alternatives (n-best) and details when asked for."""
        options = plan.options
        details, n = options.get("details"), options.get("alternatives")

        def output(k: int, rank: int) -> Any:
            slot = plan.slots[k]
            if slot < 0:
                return plan.texts_of_piece[k]
            value = outputs[slot]
            if n:
                return value[min(rank, len(value) - 1)]
            return value.text if details else value

        def render(entry: TextPlan, rank: int) -> str:
            runs, offset = [], entry.start
            for split in entry.splits:
                count = len(split.pieces)
                runs.append(split.reassemble([output(k, rank) for k in range(offset, offset + count)],
                                             entry.target))
                offset += count
            if entry.html is not None:
                return entry.html.render([project(unit, text) for unit, text in zip(entry.html.units, runs)])
            return runs[0]

        results = []
        for entry in plan.texts:
            if entry.kind == "unchanged":
                result = TextResult(entry.original, entry.source, entry.target, detected=entry.detected)
                if details:
                    result.details = TextDetails(entry.original)
                results.append(result)
                continue
            text = render(entry, 0)
            result = TextResult(text, entry.source, entry.target, detected=entry.detected, pieces=entry.count)
            if n and entry.kind == "text":  # alternative k puts every piece's k-th hypothesis in place
                for rank in range(1, n):
                    other = render(entry, rank)
                    if other != text and other not in result.alternatives:
                        result.alternatives.append(other)
            if details:
                reports = [PieceReport(text=plan.texts_of_piece[k]) if plan.slots[k] < 0 else outputs[plan.slots[k]]
                           for k in range(entry.start, entry.start + entry.count)]
                result.details = summarize(text, reports)
            results.append(result)
        return results

    def split(self, text: str, source: str) -> SplitText:
        """Cut `text` into pieces that fit the model (see SplitText.reassemble for the way back)."""
        check_text(text, "text")
        src = self.normalize_language(source, "source")
        return self.splitter.split(text, src)

    @staticmethod
    def reassemble(split: SplitText, translations: Sequence[str], target: str) -> str:
        return split.reassemble(translations, target)

    def translate_pieces(
        self,
        pieces: Sequence[str],
        source: str | Sequence[str],
        target: str | Sequence[str],
        *,
        progress: bool | None = None,
        guards: bool | GuardConfig | None = None,
        return_details: bool = False,
        **generation_options: Any,
    ) -> list[str] | list[PieceReport]:
        """Translate pieces that already fit the model (from `split`), one result per piece, in order.

        Pieces are de-duplicated, sorted by length and packed into batches by `max_batch_tokens`; one batch may
        mix languages. A piece longer than the limit raises InputTooLongError (never truncated). Pieces without
        letters, and pieces whose source equals their target, come back unchanged. guards/return_details as in
        `translate` (details: a PieceReport per piece; its `.text` is the translation).
        """
        request = TranslationRequest(pieces, source, target, options=generation_options, details=return_details,
                                     guards=guards)
        return self._piecewise(request, progress)

    def translate_nbest(
        self,
        pieces: Sequence[str],
        source: str | Sequence[str],
        target: str | Sequence[str],
        n: int,
        *,
        progress: bool | None = None,
        **generation_options: Any,
    ) -> list[list[str]]:
        """The best `n` distinct translations of each piece (pieces that fit the model, as for
        `translate_pieces`), best first: a list of 1 to n strings per piece, in order.

        Beam search returns max(n, num_beams) hypotheses per piece (num_beams is raised to n when smaller);
        hypotheses that decode to the same string count once, so fewer than n may come back. The first string is
        what beam search with that many beams translates. Pieces without letters, or whose source equals their
        target, give [piece]. Raises GenerationError for n not an integer in 1..64 or with do_sample.
        """
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 64:
            raise GenerationError(f"n must be an integer from 1 to 64, got {n!r}")
        if generation_options.get("do_sample"):
            raise GenerationError("n-best translations come from beam search: do_sample must be off")
        checked = self.check_generation_options(dict(generation_options))
        beams = max(n, checked.get("num_beams") or self.runner.default_beams())
        request = TranslationRequest(pieces, source, target, options={**checked, "num_beams": beams}, guards=False)
        return self._piecewise(request, progress, nbest=n)

    def _piecewise(self, request: TranslationRequest, progress: bool | None, nbest: int = 0) -> list[Any]:
        """One output per piece of `request.texts` (pieces that fit the model: not split again)."""
        items, _ = _texts(request.texts)
        sources = self.model_languages.resolve(request.source, len(items), "source")
        targets = self.model_languages.resolve(request.target, len(items), "target")
        options = self.run_options(request)
        if nbest:
            options["alternatives"] = nbest
        jobs = _Jobs(self._dedupes(options))
        slots = [-1 if src == tgt else jobs.slot(piece, src, tgt) for piece, src, tgt in zip(items, sources, targets)]
        outputs = self.run(self._tokenized(jobs.keys), options, progress=progress)
        details = options.get("details")
        kept = (lambda p: [p]) if nbest else ((lambda p: PieceReport(text=p)) if details else (lambda p: p))
        return [kept(piece) if slot < 0 else outputs[slot] for piece, slot in zip(items, slots)]

    # -- generation options ----------------------------------------------------------------------------
    @staticmethod
    def check_generation_options(options: dict[str, Any]) -> dict[str, Any]:
        """Validate generation options up front (even when no text needs the model); GenerationError names
        the offending parameter."""
        out = {}
        for key, value in options.items():
            if key not in GENERATION_OPTIONS:
                raise GenerationError(
                    f"unknown generation option {key!r}; accepted: {', '.join(GENERATION_OPTIONS)}"
                )
            if value is None:
                continue
            check_option(key, value)  # the one range check generate() itself uses
            out[key] = value
        return out

    # -- vocabulary shortlist ----------------------------------------------------------------------------
    def _load_shortlist(self, shortlist: Any) -> Any:
        """The Translator's VocabShortlist (or None), checked against the tokenizer and its languages.

        Raises CheckpointError for an unreadable file, ConfigError for a shortlist of another tokenizer,
        LanguageError for a language code this model does not translate, TypeError for another kind of value.
        """
        if shortlist is None or shortlist is False:
            return None
        from ..generation.shortlist import VocabShortlist

        if isinstance(shortlist, (str, os.PathLike)):
            shortlist = VocabShortlist.load(shortlist)
        if not isinstance(shortlist, VocabShortlist):
            raise TypeError(f"shortlist must be a VocabShortlist or a file path, got {type(shortlist).__name__}")
        shortlist.check_tokenizer(self.tokenizer)
        unknown = sorted(code for code in shortlist.languages if code not in self.model_languages.codes)
        if unknown:
            raise LanguageError(f"the shortlist has languages this model does not translate: {', '.join(unknown)}")
        return shortlist

    # -- internals -----------------------------------------------------------------------------------
    def count_tokens(self, piece: str, language: str | None = None) -> int:
        """Model input length of a piece: its tokens plus the language token and </s>.

        Stateless (no lock), so servers can budget batches while the model runs; the language does not change
        the count but is accepted so the signature matches the Splitter's counter.
        """
        return len(self.tokenizer.tokenize(clean_for_model(piece))) + 2

    def _count_many(self, pieces: list[str], language: str | None = None) -> list[int]:
        """count_tokens of many cleaned pieces with one batched sentencepiece call (the Splitter's word counts;
        special-token text inside a word is not split out here, the Splitter re-checks every piece)."""
        sp = getattr(self.tokenizer, "sp_model", None)
        if sp is None or not pieces:
            return [len(self.tokenizer.tokenize(p)) + 2 for p in pieces]
        return [len(row) + 2 for row in sp.encode(list(pieces), out_type=int)]

    def _encode(self, texts: list[str], language: str) -> list[list[int]]:
        tokenizer = self.tokenizer
        with self._tokenizer_lock:
            tokenizer.src_lang = language
            ids = tokenizer(texts)["input_ids"]
        return [list(map(int, row)) for row in ids]

    def _dedupes(self, options: dict[str, Any]) -> bool:
        """Whether equal pieces are translated once: not when sampling (each draw is its own)."""
        return not options.get("do_sample", getattr(self.runner.generation_config(), "do_sample", False))

    def _tokenized(self, jobs: list[tuple[str, str, str]]) -> list[Piece]:
        """Pieces with their model input ids, tokenized per source language in one call each."""
        ids: list[list[int]] = [[] for _ in jobs]
        by_source: dict[str, list[int]] = {}
        for j, (_, src, _) in enumerate(jobs):
            by_source.setdefault(src, []).append(j)
        for src, members in by_source.items():
            for j, row in zip(members, self._encode([jobs[j][0] for j in members], src)):
                ids[j] = row
        return [Piece(text, src, tgt, tuple(row)) for (text, src, tgt), row in zip(jobs, ids)]


# =====================================================================================================
# helpers
# =====================================================================================================
# Keys of the run options (Translator.run_options) that are not generation options.
RUN_KEYS = frozenset({"alternatives", "details", "guards", "max_new_tokens_cap"})


class _Jobs:
    """The distinct model inputs of a plan: `slot(piece, source, target)` is the index of the piece's job in
    `keys` (cleaned text, source, target), or -1 for a piece without letters (kept as it is)."""

    def __init__(self, dedupe: bool):
        self.dedupe = dedupe
        self.keys: list[tuple[str, str, str]] = []
        self._index: dict[tuple[str, str, str], int] = {}

    def slot(self, piece: str, source: str, target: str) -> int:
        cleaned = clean_for_model(piece)
        if not needs_translation(cleaned):
            return -1
        key = (cleaned, source, target)
        if not self.dedupe or key not in self._index:
            self._index[key] = len(self.keys)
            self.keys.append(key)
        return self._index[key]


def _texts(texts: Any) -> tuple[list[str], bool]:
    """(the texts as a list, whether a single str was given); TypeError naming the item that is not a str."""
    single = isinstance(texts, str)
    if single:
        items = [texts]
    elif isinstance(texts, (bytes, bytearray, memoryview)):
        raise TypeError("texts must be str or a list of str, got bytes; decode it first (e.g. data.decode('utf-8'))")
    elif isinstance(texts, Iterable) and not isinstance(texts, dict):
        items = list(texts)
    else:
        raise TypeError(f"texts must be str or a list of str, got {type(texts).__name__}")
    for i, text in enumerate(items):
        check_text(text, "text" if single else f"texts[{i}]")
    return items, single


def _check_vocabulary(model: Any, tokenizer: Any) -> None:
    """A model's embedding matrix may be larger than its tokenizer (hub NLLB-200: 256,206 rows for 256,204
    tokens; spare rows are never produced by the tokenizer), never smaller: ids past the last row would fail in
    the middle of a translation. Raises ConfigError naming both sizes."""
    from ..errors import ConfigError

    rows = getattr(getattr(model, "config", None), "vocab_size", None)
    try:
        size = len(tokenizer)
    except TypeError:
        return
    if isinstance(rows, int) and size > rows:
        raise ConfigError(
            f"the tokenizer has {size} tokens but the model's embedding matrix has only {rows} rows; "
            "use the tokenizer saved with this model"
        )



__all__ = ["Translator", "RUN_KEYS"]
