"""Translator: the one Python API for translating text (the CLI and the HTTP server are thin layers over it).

    >>> from m2m100 import Translator
    >>> tr = Translator.from_pretrained()                 # $M2M100_MODEL or facebook/m2m100_418M
    >>> tr.translate("Hello world!", source="en", target="fr")
    >>> tr.translate(["one", "two"], source="English", target=["de", "es"])

Pipeline of `translate`:

1. Language names and codes are normalised (`normalize_language`); empty and whitespace-only texts, and texts
   whose source equals the target, come back unchanged without touching the model.
2. `split`: each text is cut into lines (line breaks kept verbatim), each line into sentences (pysbd for the
   languages it knows, a script-aware punctuation splitter otherwise), and any sentence still longer than the
   model's position limit into pieces at word boundaries (clause punctuation preferred; characters for
   scripts without spaces). Nothing is dropped: the pieces plus the recorded whitespace rebuild the input.
3. `translate_pieces`: pieces are de-duplicated, sorted by token length and packed into batches under a token
   budget (`max_batch_tokens`); one batch may mix source and target languages. Results come back in order.
4. `reassemble`: translated pieces are put back between the original whitespace and line breaks.

Generation uses the checkpoint's own defaults (`model.generation_config`), so a single sentence that fits
translates exactly as `tokenizer.batch_decode(model.generate(...), skip_special_tokens=True)` would. Length
policy: when the caller sets neither `max_new_tokens` nor `max_length`, a piece of n input tokens may produce
up to max(default, 2n + 10) new tokens (rounded up to a multiple of 32 when raised, so that long sentences are
not cut at the checkpoint's default length, e.g. 200 tokens for m2m100_418M); every length is capped so that
the decoder stays within `max_position_embeddings`, the most the model can produce.
"""

from __future__ import annotations

import math
import os
import re
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import GenerationError, InputTooLongError, LanguageError
from .generation.config import check_option
from .guards import (
    Candidate,
    GuardConfig,
    PieceReport,
    TextDetails,
    check_piece,
    guard_pieces,
    resolve_guards,
    score_sequences,
    summarize,
)

DEFAULT_MODEL = "facebook/m2m100_418M"
MODEL_ENV = "M2M100_MODEL"
DEFAULT_MAX_BATCH_TOKENS = 4096
DEFAULT_MAX_BATCH_SIZE = 128

# Targets written without spaces between sentences: spaces between translated sentences are dropped.
NO_SPACE_TARGETS = frozenset({"zh", "ja"})

# Generation options `translate` accepts (anything that keeps one output string per input).
GENERATION_OPTIONS = (
    "num_beams", "max_new_tokens", "max_length", "min_length", "min_new_tokens", "do_sample", "temperature",
    "top_k", "top_p", "length_penalty", "no_repeat_ngram_size", "repetition_penalty", "early_stopping",
    "bad_words_ids", "use_cache",
)


def default_model() -> str:
    """The model used when none is named: $M2M100_MODEL, else facebook/m2m100_418M."""
    return os.environ.get(MODEL_ENV, "").strip() or DEFAULT_MODEL


# =====================================================================================================
# Text hygiene
# =====================================================================================================
_SPACE_LIKE = re.compile(r"[\t\x0b\x0c\x1c-\x1f\x85\u2028\u2029]")
_DROP = re.compile(r"[\x00-\x08\x0e-\x1b\x7f\x80-\x84\x86-\x9f\ufeff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_LINE_BREAK = re.compile(r"(\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029])")


def clean_for_model(text: str) -> str:
    """The text the tokenizer sees: controls dropped, tabs and odd separators as spaces, BOM removed,
    lone surrogates (unencodable) replaced by U+FFFD. The original text is untouched elsewhere."""
    text = _SURROGATE.sub("\ufffd", text)
    text = _SPACE_LIKE.sub(" ", text)
    return _DROP.sub("", text).replace("\r", " ").replace("\n", " ")


def needs_translation(text: str) -> bool:
    """True when `text` has a letter: whitespace, punctuation, digits, symbols and emoji are kept as they are."""
    return any(ch.isalpha() for ch in text)


def _check_text(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{where} must be str, got {type(value).__name__}; decode it first (e.g. data.decode('utf-8'))")
    raise TypeError(f"{where} must be str, got {type(value).__name__}")


# =====================================================================================================
# Sentence splitting
# =====================================================================================================
# pysbd (a rule-based multilingual splitter, https://github.com/nipunsadvilkar/pySBD) covers these languages.
PYSBD_LANGUAGES = frozenset(
    {"am", "ar", "bg", "da", "de", "el", "en", "es", "fa", "fr", "hi", "hy", "it", "ja", "kk", "mr", "my", "nl",
     "pl", "ru", "sk", "ur", "zh"}
)
_CLOSERS = "\"'”’»›)\\]}）」』】〕〉》"
# Terminators that end a sentence with or without a following space (CJK, Indic danda, Arabic, Ethiopic, ...).
_HARD_TERMINATORS = "。！？．｡‼⁇⁈⁉।॥؟۔።፧፨։။។៕།"
_HARD = re.compile(f"[{_HARD_TERMINATORS}]+[{re.escape(_CLOSERS)}]*")
# Latin-style terminators need whitespace after them and a following word that does not start in lowercase.
# The lookbehind starts a match only at the first terminator of a run and the possessive quantifiers never
# backtrack, so a run of a million dots costs one pass, not a quadratic number of retries.
_SOFT = re.compile(f"(?<![.!?…])[.!?…]++[{re.escape(_CLOSERS)}]*+(?=\\s)")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e cf no nr fig figs vol pp ca approx dept inc ltd co corp jan feb mar apr "
    "jun jul aug sep sept oct nov dec gen col lt sgt capt rev hon u.s a.m p.m bzw usw z.b d.h s.a sr.a sra srta av "
    "mme mlle m.".split()
)
_SEGMENTERS: dict[str, Any] = {}
_SEGMENTER_LOCK = threading.Lock()
_MAYBE_MULTI = re.compile(f"[.!?…{_HARD_TERMINATORS}]")


def split_lines(text: str) -> list[tuple[str, str]]:
    """(line, line break) pairs; the last break is "" when the text does not end with one."""
    parts = _LINE_BREAK.split(text)
    return [(parts[i], parts[i + 1] if i + 1 < len(parts) else "") for i in range(0, len(parts), 2)]


def split_sentences(text: str, language: str | None = None) -> list[tuple[str, str]]:
    """(sentence, following whitespace) pairs that concatenate back to `text` exactly (text has no line breaks).

    Leading whitespace of `text`, if any, is returned as a first pair with an empty sentence. Cost is linear
    in len(text): pysbd only ever sees windows of at most _PYSBD_WINDOW characters cut at the regex
    splitter's boundaries, and lines longer than _PYSBD_MAX_CHARS use the regex splitter alone.
    """
    stripped = text.strip()
    lead = text[: len(text) - len(text.lstrip())]
    out: list[tuple[str, str]] = [("", lead)] if lead else []
    if not stripped:
        return out + ([] if lead else [("", text)]) if text else out
    tail = text[len(lead) + len(stripped):]
    # Fast path: no terminator before the end of the text means one sentence.
    if not _MAYBE_MULTI.search(stripped, 0, len(stripped) - 1):
        return out + [(stripped, tail)]
    spans = _regex_spans(stripped)
    if language in PYSBD_LANGUAGES and len(stripped) <= _PYSBD_MAX_CHARS:
        spans = _pysbd_windows(stripped, language, spans)
    for i, (start, end) in enumerate(spans):
        next_start = spans[i + 1][0] if i + 1 < len(spans) else len(stripped)
        out.append((stripped[start:end], stripped[end:next_start] if i + 1 < len(spans) else tail))
    return out


# pysbd costs ~20 us per character and grows faster than linearly on long input: it sees windows of at most
# _PYSBD_WINDOW characters (cut where the regex splitter cuts), and only on lines up to _PYSBD_MAX_CHARS.
_PYSBD_WINDOW = 2000
_PYSBD_MAX_CHARS = 50_000


def _pysbd_windows(text: str, language: str, regex_spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sentence spans from pysbd run on windows of consecutive regex sentences; a regex sentence longer than a
    window, or a window pysbd misbehaves on, keeps the regex spans."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(regex_spans):
        j = i + 1
        while j < len(regex_spans) and regex_spans[j][1] - regex_spans[i][0] <= _PYSBD_WINDOW:
            j += 1
        start, end = regex_spans[i][0], regex_spans[j - 1][1]
        found = _pysbd_spans(text[start:end], language) if end - start <= _PYSBD_WINDOW else None
        if found is None:
            spans.extend(regex_spans[i:j])
        else:
            # CJK/Indic/... terminators end sentences in any language
            spans.extend((start + a, start + b) for a, b in _hard_splits(text[start:end], found))
        i = j
    return spans


def _pysbd_spans(text: str, language: str) -> list[tuple[int, int]] | None:
    """Sentence spans from pysbd, aligned on the original text; None when pysbd is missing or misbehaves."""
    try:
        with _SEGMENTER_LOCK:
            segmenter = _SEGMENTERS.get(language)
            if segmenter is None:
                import pysbd

                segmenter = _SEGMENTERS[language] = pysbd.Segmenter(language=language, clean=False)
        segments = segmenter.segment(text)
    except Exception:  # ImportError, or a pysbd bug on odd input: the regex splitter takes over
        return None
    spans: list[tuple[int, int]] = []
    cursor = 0
    for segment in segments:
        segment = segment.strip()
        if not segment:
            continue
        start = text.find(segment, cursor)
        if start < 0 or text[cursor:start].strip():
            return None  # pysbd changed the text: never trust it then
        spans.append((start, start + len(segment)))
        cursor = start + len(segment)
    if text[cursor:].strip() or not spans:
        return None
    return spans


def _hard_cuts(text: str) -> list[int]:
    cuts = []
    for match in _HARD.finditer(text):
        end = match.end()
        if text[match.start()] in "．｡" and end < len(text) and text[end].isdigit():
            continue  # a full-width decimal point
        cuts.append(end)
    return cuts


def _hard_splits(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`spans` further cut after hard terminators inside them (linear: cuts are visited in order)."""
    out: list[tuple[int, int]] = []
    cuts = _hard_cuts(text)
    k = 0
    for start, end in spans:
        while k < len(cuts) and cuts[k] <= start:
            k += 1
        while k < len(cuts) and cuts[k] < end:
            cut = cuts[k]
            k += 1
            if cut > start and _NON_SPACE.search(text, start, cut) and _NON_SPACE.search(text, cut, end):
                out.append((start, cut))
                start = _NON_SPACE.search(text, cut, end).start()
        out.append((start, end))
    return out


_NON_SPACE = re.compile(r"\S")
_NEXT_CHAR = re.compile(r"\s*(\S?)")
_LAST_WORD = re.compile(r"(\S+)$")
# Abbreviations are short: the word before a terminator is looked for in this many characters only.
_WORD_LOOKBACK = 64


def _regex_spans(text: str) -> list[tuple[int, int]]:
    """Script-aware punctuation splitting: CJK/Indic/Arabic/Ethiopic/... terminators split anywhere, Latin-style
    ones before whitespace followed by a word that does not start in lowercase and is not an abbreviation.
    Linear in len(text): each check looks at a bounded neighbourhood of the terminator."""
    cuts = _hard_cuts(text)
    for match in _SOFT.finditer(text):
        end = match.end()
        following = _NEXT_CHAR.match(text, end).group(1)
        if not following or following.islower():
            continue
        word = _LAST_WORD.search(text[max(0, match.start() - _WORD_LOOKBACK): match.start()])
        word = word.group(1).lower().lstrip("(\"'“‘«") if word else ""
        if text[match.start()] == "." and (word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())):
            continue
        cuts.append(end)
    spans: list[tuple[int, int]] = []
    start = 0
    for cut in sorted(set(cuts)):
        if cut >= len(text):
            break
        first = _NON_SPACE.search(text, start, cut)
        if first:
            spans.append((first.start(), cut))
            start = cut
    first = _NON_SPACE.search(text, start)
    if first:
        spans.append((first.start(), len(text)))
    return spans


# =====================================================================================================
# Split / reassemble
# =====================================================================================================
@dataclass
class SplitText:
    """A text cut into model-sized pieces; `parts` rebuilds it: ints index `pieces`, strings are kept verbatim."""

    source: str
    parts: list[str | int] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)

    def reassemble(self, translations: Sequence[str], target: str) -> str:
        """The text with piece i replaced by translations[i]; whitespace and line breaks kept.

        Between two translated pieces, spaces are dropped for targets written without them (zh, ja) and a
        space is added when the source had none (a CJK source translated into a spaced language).
        """
        if len(translations) != len(self.pieces):
            raise ValueError(f"expected {len(self.pieces)} translations, got {len(translations)}")
        if self.parts == [0]:
            return translations[0]
        out: list[str] = []
        parts = self.parts
        for k, part in enumerate(parts):
            if isinstance(part, int):
                out.append(translations[part].strip())
                continue
            between = 0 < k < len(parts) - 1 and isinstance(parts[k - 1], int) and isinstance(parts[k + 1], int)
            if between and not part.strip(" \t\u3000"):
                if target in NO_SPACE_TARGETS:
                    part = ""
                elif part == "":
                    part = " "
            out.append(part)
        return "".join(out)


class Splitter:
    """Cuts text into pieces that fit `max_tokens` model positions (special tokens included).

    `count(text, language)` gives the model input length of a piece; it is only called for sentences that
    could be too long.
    """

    def __init__(self, max_tokens: int, count: Callable[[str, str], int], split_sentences: bool = True,
                 count_many: Callable[[list[str], str], list[int]] | None = None):
        """`count_many(texts, language)`, optional: `count` of many texts in one call (a batched tokenizer),
        used for the words of long sentences; its counts only guide packing, each piece is checked with
        `count`."""
        if max_tokens < 4:
            raise ValueError(f"max_tokens must be at least 4, got {max_tokens}")
        self.max_tokens = max_tokens
        self.count = count
        self.count_many = count_many
        self.sentences = split_sentences

    def split(self, text: str, language: str) -> SplitText:
        result = SplitText(source=text)
        for line, ending in split_lines(text):
            if self.sentences:
                sentences = split_sentences(line, language)
            else:
                stripped = line.strip()
                lead = line[: len(line) - len(line.lstrip())]
                sentences = ([("", lead)] if lead else []) + [(stripped, line[len(lead) + len(stripped):])]
            for sentence, space in sentences:
                if sentence:
                    if needs_translation(sentence):
                        for piece, sep in self.fit(sentence, language):
                            if result.parts and isinstance(result.parts[-1], int):
                                result.parts.append("")  # always a separator between two pieces
                            result.parts.append(len(result.pieces))
                            result.pieces.append(piece)
                            if sep:
                                result.parts.append(sep)
                    else:
                        result.parts.append(sentence)
                if space:
                    result.parts.append(space)
            if ending:
                result.parts.append(ending)
        # Merge adjacent literal strings (so that reassembly sees one separator between pieces).
        merged: list[str | int] = []
        for part in result.parts:
            if isinstance(part, str) and merged and isinstance(merged[-1], str):
                merged[-1] += part
            else:
                merged.append(part)
        result.parts = merged
        return result

    def fits(self, text: str, language: str) -> bool:
        # Each sentencepiece token covers at least one character of the NFKC text or a word-start marker, so
        # short texts fit without tokenizing.
        cleaned = clean_for_model(text)
        if 2 * len(unicodedata.normalize("NFKC", cleaned)) + 3 <= self.max_tokens:
            return True
        return self.count(cleaned, language) <= self.max_tokens

    def fit(self, sentence: str, language: str) -> list[tuple[str, str]]:
        """(piece, following separator) pairs of a sentence, each piece within the limit."""
        if self.fits(sentence, language):
            return [(sentence, "")]
        units = self._units(sentence, language)
        return self._pack(units, language)

    # -- internals -----------------------------------------------------------------------------------
    def _content(self, text: str, language: str) -> int:
        return self.count(clean_for_model(text), language) - 2  # minus language token and </s>

    def _units(self, sentence: str, language: str) -> list[tuple[str, str, int]]:
        """(text, following whitespace, content tokens) per word; words too long are cut further."""
        budget = self.max_tokens - 2
        units: list[tuple[str, str, int]] = []
        matches = [(m.group(1), m.group(2)) for m in re.finditer(r"(\S+)(\s*)", sentence)]
        known: dict[str, int] = {}  # words repeat: each distinct word is tokenised once
        if self.count_many is not None:  # one batched call instead of one per word
            distinct = list(dict.fromkeys(word for word, _ in matches))
            counts = self.count_many([clean_for_model(w) for w in distinct], language)
            known = {w: n - 2 for w, n in zip(distinct, counts)}
        for word, space in matches:
            n = known.get(word)
            if n is None:
                n = known[word] = self._content(word, language)
            if n <= budget:
                units.append((word, space, n))
                continue
            subs = self._cut_word(word, language)
            units.extend((s, "", self._content(s, language)) for s in subs[:-1])
            units.append((subs[-1], space, self._content(subs[-1], language)))
        return units

    def _cut_word(self, word: str, language: str) -> list[str]:
        """A space-less run (CJK text, a long URL) cut after clause punctuation, else between characters.

        Linear in len(word) up to a log factor: each piece is found by a galloping search from its start, so
        the text tokenised per piece is a small multiple of the piece itself.
        """
        budget = self.max_tokens - 2
        clauses = [c for c in re.split(r"(?<=[，、；：,;:·‧])", word) if c]
        out: list[str] = []
        for clause in clauses:
            start = 0
            while start < len(clause):
                cut = start + self._longest_fit(clause, start, language)
                if cut < len(clause):
                    # Never cut before a combining mark, but look back only a bounded distance: a letter
                    # followed by thousands of marks has to be cut inside its cluster.
                    back = cut
                    while (back > start + 1 and cut - back < _MAX_CLUSTER
                           and unicodedata.category(clause[back])[0] == "M"):
                        back -= 1
                    if unicodedata.category(clause[back])[0] != "M":
                        cut = back
                if self._content(clause[start:cut], language) > budget:
                    raise InputTooLongError(
                        f"cannot split {clause[start:start + 20]!r} into pieces of at most {self.max_tokens} tokens"
                    )
                out.append(clause[start:cut])
                start = cut
        # Re-merge small neighbours so that pieces are not needlessly short.
        merged: list[str] = []
        for chunk in out:
            if merged and self._content(merged[-1] + chunk, language) <= budget:
                merged[-1] += chunk
            else:
                merged.append(chunk)
        return merged

    def _longest_fit(self, text: str, start: int, language: str) -> int:
        """The most characters of text[start:] (at least one) whose content fits the budget."""
        budget = self.max_tokens - 2
        rest = len(text) - start
        good, step = 0, max(1, budget // 2)
        bad = rest + 1
        # Gallop: double the length while it fits.
        while True:
            probe = min(rest, good + step)
            if self._content(text[start:start + probe], language) <= budget:
                good = probe
                if probe == rest:
                    return rest
                step *= 2
            else:
                bad = probe
                break
        # Binary search between the last length that fit and the first that did not.
        while bad - good > 1:
            mid = (good + bad) // 2
            if self._content(text[start:start + mid], language) <= budget:
                good = mid
            else:
                bad = mid
        return max(1, good)

    def _pack(self, units: list[tuple[str, str, int]], language: str) -> list[tuple[str, str]]:
        """Group units into balanced pieces within the limit, preferring cuts after clause punctuation."""
        budget = self.max_tokens - 2
        groups: list[list[tuple[str, str, int]]] = []
        # suffix[i]: tokens of units[i:] (a running sum, so packing stays linear in the number of units)
        suffix = [0] * (len(units) + 1)
        for k in range(len(units) - 1, -1, -1):
            suffix[k] = suffix[k + 1] + units[k][2]
        i = 0
        while i < len(units):
            remaining = suffix[i]
            k = max(1, math.ceil(remaining / budget))
            target = remaining / k
            group: list[tuple[str, str, int]] = []
            size = 0
            while i < len(units):
                n = units[i][2]
                if group and (size + n > budget or size >= target):
                    break
                group.append(units[i])
                size += n
                i += 1
            # Prefer ending the piece after clause punctuation in its last third.
            if i < len(units) and len(group) > 3:
                for j in range(len(group) - 1, (2 * len(group)) // 3 - 1, -1):
                    if group[j][0][-1:] in ",;:，、；：)" and j < len(group) - 1:
                        i -= len(group) - 1 - j
                        group = group[: j + 1]
                        break
            # Sums of word counts are close to, not exactly, the count of the joined text: verify.
            while len(group) > 1 and self._content(_join(group), language) > budget:
                group.pop()
                i -= 1
            groups.append(group)
        return [(_join(group), group[-1][1]) for group in groups]


# A grapheme cluster longer than this many combining marks may be cut inside (see Splitter._cut_word).
_MAX_CLUSTER = 32


def _join(units: list[tuple[str, str, int]]) -> str:
    return "".join(text + space for text, space, _ in units[:-1]) + units[-1][0]


# =====================================================================================================
# Translator
# =====================================================================================================
class Translator:
    """Text in, text out, for one sentence or a million lines. See the module docstring for the pipeline.

    Thread-safe: model calls are serialised by a lock; splitting may run beside them in other threads.

    shortlist (opt-in): a VocabShortlist or its JSON file. A batch whose target languages all have a token set
    in it decodes over those tokens plus its sources' tokens and the special tokens (a smaller output
    projection; scores normalised over the kept tokens); other batches use the full vocabulary. The sources'
    tokens are those of the whole batch, so with a shortlist a translation may depend on its batch neighbours.
    """

    # Most new tokens per piece whatever the options or the length policy say (None: the position limit).
    # Servers set it so that their --max-new-tokens also caps requests that do not give one.
    max_new_tokens_cap: int | None = None

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
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_size = max_batch_size
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
        self._codes = _language_codes(tokenizer)
        _check_vocabulary(model, tokenizer)
        # opt-in vocabulary shortlist (m2m100.generation.shortlist): None, a VocabShortlist or a JSON file path
        self.shortlist = self._load_shortlist(shortlist)
        self._shortlist_ids: dict[frozenset[str], Any] = {}  # target languages -> kept ids tensor

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
        from .model import M2M100ForConditionalGeneration
        from .auto import AutoTokenizer

        name = os.fspath(path_or_hub_id) if path_or_hub_id is not None else default_model()
        if shortlist is True:
            from .generation.shortlist import FILE_NAME

            shortlist = os.path.join(name, FILE_NAME)
        if isinstance(shortlist, (str, os.PathLike)):  # read before the model: a bad file fails fast
            from .generation.shortlist import VocabShortlist

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
        from .languages import LANGUAGE_NAMES
        from .languages_nllb import NLLB_LANGUAGE_NAMES

        names = {**{c: n.split(";")[0].strip() for c, n in LANGUAGE_NAMES.items()}, **NLLB_LANGUAGE_NAMES}
        return [(code, names.get(code, code)) for code in self._codes]

    def normalize_language(self, value: Any, what: str = "language") -> str:
        from .languages import normalize_language

        try:
            return normalize_language(value, self._codes)
        except LanguageError as exc:
            raise LanguageError(f"{what}: {exc}") from None

    def detect(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """Language of each text: N texts -> N `(code, confidence)` pairs, `code` one of this model's languages,
        `confidence` in [0, 1] (low means unsure). Does not use the model; see `m2m100.detect.detect_languages`.
        Raises TypeError for a non-str item."""
        return [candidates[0] for candidates in self.detect_candidates(texts, 1)]

    def detect_candidates(self, texts: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """Up to k `(code, confidence)` candidates per text, best first, among this model's languages.
        Raises TypeError for a non-str item, ValueError for k outside 1..100."""
        from .detect import M2M100_CODES, detect_languages

        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(M2M100_CODES):
            raise ValueError(f"k must be an integer between 1 and {len(M2M100_CODES)}, got {k!r}")
        if isinstance(texts, str):
            raise TypeError("texts must be a list of str, got a single str; wrap it in a list")
        from .languages import to_code_set

        ranked = detect_languages(list(texts), k=len(M2M100_CODES))
        # The detector speaks M2M100 codes: map them to this model's (NLLB: "fr" -> "fra_Latn"). A model with
        # fewer languages (wmt21) gets the best candidates it can translate; English stands in with
        # confidence 0 when none is left.
        mapped = getattr(self, "_detected_codes", None)
        if mapped is None:  # computed once: a detector code -> this model's code (or None)
            mapped = self._detected_codes = {code: to_code_set(code, self._codes) for code in M2M100_CODES}
        english = mapped.get("en")
        fallback = (english if english is not None else self._codes[0], 0.0)
        return [[(mapped[c], p) for c, p in cands if mapped.get(c) is not None][:k] or [fallback] for cands in ranked]

    @property
    def max_input_tokens(self) -> int:
        """Longest piece sent to the model, in tokens, language token and </s> included."""
        return self.splitter.max_tokens

    # -- public API ----------------------------------------------------------------------------------
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
            _check_text(text, "text" if single else f"texts[{i}]")
        sources = self._sources(source, items)
        targets = self._languages(target, len(items), "target")
        options = self.check_generation_options(generation_options)

        splits: list[SplitText | None] = []
        pieces: list[str] = []
        piece_sources: list[str] = []
        piece_targets: list[str] = []
        for text, src, tgt in zip(items, sources, targets):
            if src == tgt or not needs_translation(text):
                splits.append(None)
                continue
            split = self.split(text, src)
            splits.append(split)
            pieces.extend(split.pieces)
            piece_sources.extend([src] * len(split.pieces))
            piece_targets.extend([tgt] * len(split.pieces))
        translated: list[Any] = self.translate_pieces(
            pieces, piece_sources, piece_targets, progress=progress, guards=guards, return_details=return_details,
            **options,
        ) if pieces else []
        results: list[Any] = []
        offset = 0
        for text, split, tgt in zip(items, splits, targets):
            if split is None:
                results.append(TextDetails(text) if return_details else text)
                continue
            n = len(split.pieces)
            mine = translated[offset:offset + n]
            if return_details:
                results.append(summarize(split.reassemble([r.text for r in mine], tgt), mine))
            else:
                results.append(split.reassemble(mine, tgt))
            offset += n
        return results[0] if single else results

    __call__ = translate

    def split(self, text: str, source: str) -> SplitText:
        """Cut `text` into pieces that fit the model (see SplitText.reassemble for the way back)."""
        _check_text(text, "text")
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
        config = self.guards if guards is None else resolve_guards(guards)  # None here: the Translator's
        pieces = [_check_text(p, f"pieces[{i}]") for i, p in enumerate(pieces)]
        sources = self._languages(source, len(pieces), "source")
        targets = self._languages(target, len(pieces), "target")
        options = self.check_generation_options(generation_options)
        results: list[str | None] = [None] * len(pieces)
        unique: dict[tuple[str, str, str], int] = {}
        jobs: list[tuple[str, str, str]] = []
        owners: list[list[int]] = []
        dedupe = not options.get("do_sample", getattr(self._generation_config(), "do_sample", False))
        for i, (piece, src, tgt) in enumerate(zip(pieces, sources, targets)):
            cleaned = clean_for_model(piece)
            if src == tgt or not needs_translation(cleaned):
                results[i] = piece
                continue
            key = (cleaned, src, tgt)
            if dedupe and key in unique:
                owners[unique[key]].append(i)
                continue
            unique[key] = len(jobs)
            jobs.append(key)
            owners.append([i])
        if return_details:
            results = [PieceReport(text=r) if r is not None else None for r in results]  # type: ignore[misc]
        if jobs:
            with self._lock:
                if config is None and not return_details:
                    outputs: list[Any] = self._run(jobs, options, progress)
                else:
                    outputs = self._guarded(jobs, options, progress, config, return_details)
            for job, text in zip(owners, outputs):
                for i in job:
                    results[i] = text
        return results  # type: ignore[return-value]

    def _guarded(self, jobs: list[tuple[str, str, str]], options: dict[str, Any], progress: bool | None,
                 config: GuardConfig | None, details: bool) -> list[Any]:
        """_run with the quality guards (m2m100.guards.guard_pieces): strings, or PieceReports when `details`.
        With guards off and details on, pieces are flagged and scored but never decoded again."""
        import torch

        tokenizer = self.tokenizer
        eos, pad = int(tokenizer.eos_token_id), int(tokenizer.pad_token_id)
        unk = getattr(tokenizer, "unk_token_id", None)
        active = config if config is not None else GuardConfig(max_retries=0)

        def generate(batch: list[tuple[str, str, str]], settings: dict[str, Any], seed: int | None) -> list[Candidate]:
            if seed is None:
                rows = self._run(batch, settings, False, with_ids=True)
            else:
                devices = [self.model.device] if getattr(self.model.device, "type", "cpu") == "cuda" else []
                with torch.random.fork_rng(devices=devices):  # the caller's random state is left alone
                    torch.manual_seed(seed)
                    rows = self._run(batch, settings, False, with_ids=True)
            return [Candidate.make(text, src, out, eos) for text, src, out in rows]

        def word_has_unk(word: str) -> bool:
            return unk is not None and unk in tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word))

        def check(candidate: Candidate, job: tuple[str, str, str]) -> list[Any]:
            return check_piece(candidate, job[0], job[1], job[2], active, eos_id=eos, unk_id=unk,
                               word_has_unk=word_has_unk)

        def score(candidates: list[Candidate]) -> list[float]:
            return score_sequences(self.model, [(c.source_ids, c.output_ids) for c in candidates], pad, eos,
                                   self.max_batch_tokens)

        rows = self._run(jobs, options, progress, with_ids=True)
        first = [Candidate.make(text, src, out, eos) for text, src, out in rows]
        reports = guard_pieces(jobs, first, active, options, check=check, generate=generate, score=score,
                               score_all=details)
        return reports if details else [r.text for r in reports]

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
        pieces = [_check_text(p, f"pieces[{i}]") for i, p in enumerate(pieces)]
        sources = self._languages(source, len(pieces), "source")
        targets = self._languages(target, len(pieces), "target")
        options = self.check_generation_options(generation_options)
        if options.get("do_sample"):
            raise GenerationError("n-best translations come from beam search: do_sample must be off")
        beams = max(n, options.get("num_beams") or getattr(self._generation_config(), "num_beams", None) or 1)
        options = {**options, "num_beams": beams, "num_return_sequences": beams}
        results: list[list[str]] = [[piece] for piece in pieces]
        jobs: dict[tuple[str, str, str], list[int]] = {}
        for i, (piece, src, tgt) in enumerate(zip(pieces, sources, targets)):
            cleaned = clean_for_model(piece)
            if src != tgt and needs_translation(cleaned):
                jobs.setdefault((cleaned, src, tgt), []).append(i)
        if jobs:
            with self._lock:
                outputs = self._run(list(jobs), options, progress)
            for owners, hypotheses in zip(jobs.values(), outputs):
                distinct = list(dict.fromkeys(hypotheses))[:n]
                for i in owners:
                    results[i] = distinct
        return results

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

    def _generation_config(self) -> Any:
        return getattr(self.model, "generation_config", None)

    def _default_new_tokens(self) -> int:
        config = self._generation_config()
        new = getattr(config, "max_new_tokens", None)
        if new:
            return int(new)
        length = getattr(config, "max_length", None) or 20
        return max(1, int(length) - 1)  # max_length counts the decoder start token

    def _length_options(self, n_input: int, options: dict[str, Any]) -> dict[str, Any]:
        """max_new_tokens/max_length for a batch whose longest input has n_input tokens (see module docstring)."""
        cap = self.max_positions - 1  # the decoder sequence includes its start token
        if self.max_new_tokens_cap is not None:
            cap = max(1, min(cap, int(self.max_new_tokens_cap)))
            if options.get("max_new_tokens") is None and options.get("max_length") is not None:
                return {"max_length": min(options["max_length"], cap + 1)}
        if options.get("max_new_tokens") is not None:
            return {"max_new_tokens": min(options["max_new_tokens"], cap)}
        if options.get("max_length") is not None:
            return {"max_length": min(options["max_length"], self.max_positions)}
        default = self._default_new_tokens()
        want = 2 * n_input + 10
        if want <= default:
            return {} if default <= cap else {"max_new_tokens": cap}
        return {"max_new_tokens": min(cap, 32 * math.ceil(want / 32))}

    # -- vocabulary shortlist ----------------------------------------------------------------------------
    def _load_shortlist(self, shortlist: Any) -> Any:
        """The Translator's VocabShortlist (or None), checked against the tokenizer and its languages.

        Raises CheckpointError for an unreadable file, ConfigError for a shortlist of another tokenizer,
        LanguageError for a language code this model does not translate, TypeError for another kind of value.
        """
        if shortlist is None or shortlist is False:
            return None
        from .generation.shortlist import VocabShortlist

        if isinstance(shortlist, (str, os.PathLike)):
            shortlist = VocabShortlist.load(shortlist)
        if not isinstance(shortlist, VocabShortlist):
            raise TypeError(f"shortlist must be a VocabShortlist or a file path, got {type(shortlist).__name__}")
        shortlist.check_tokenizer(self.tokenizer)
        unknown = sorted(code for code in shortlist.languages if code not in self._codes)
        if unknown:
            raise LanguageError(f"the shortlist has languages this model does not translate: {', '.join(unknown)}")
        return shortlist

    def _kept_ids(self, targets: list[str]) -> Any:
        """The vocab_shortlist of a batch into `targets`: the union of their sets; None (the full vocabulary)
        without a shortlist, or when one of the targets has no set in it."""
        if self.shortlist is None:
            return None
        languages = frozenset(targets)
        if not all(self.shortlist.covers(code) for code in languages):
            return None
        kept = self._shortlist_ids.get(languages)
        if kept is None:  # one tensor per language set: generate() finds its gathered rows by these ids
            import torch

            kept = torch.tensor(self.shortlist.token_ids(languages), dtype=torch.long, device=self.model.device)
            if len(self._shortlist_ids) >= 64:  # mixed-target batches: many language combinations
                self._shortlist_ids.clear()
            self._shortlist_ids[languages] = kept
        return kept

    # -- internals -----------------------------------------------------------------------------------
    def _sources(self, value: Any, items: list[str]) -> list[str]:
        """Source languages, with "auto" (alone or as list items) replaced by the detected language per text."""
        per_text = value if isinstance(value, (list, tuple)) else [value] * len(items)
        auto = [i for i, v in enumerate(per_text) if isinstance(v, str) and v.strip().lower() == "auto"]
        if not auto or len(per_text) != len(items):  # no "auto", or a length mismatch _languages explains
            return self._languages(value, len(items), "source")
        detected = self.detect([items[i] for i in auto])
        if isinstance(value, str):
            return [code for code, _ in detected]
        resolved = list(value)
        for i, (code, _) in zip(auto, detected):
            resolved[i] = code
        return self._languages(resolved, len(items), "source")

    def _languages(self, value: Any, n: int, what: str) -> list[str]:
        if isinstance(value, str):
            return [self.normalize_language(value, what)] * n
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(f"{what} has {len(value)} languages for {n} texts; give one language or one per text")
            cache: dict[str, str] = {}
            out = []
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise LanguageError(f"{what}[{i}]: language must be a string, got {type(item).__name__}")
                if item not in cache:
                    cache[item] = self.normalize_language(item, f"{what}[{i}]")
                out.append(cache[item])
            return out
        if value is None:
            raise LanguageError(f"{what} language is required (a code such as 'en' or a name such as 'English')")
        raise LanguageError(f"{what} must be a language code or a list of them, got {type(value).__name__}")

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

    def _run(self, jobs: list[tuple[str, str, str]], options: dict[str, Any], progress: bool | None,
             with_ids: bool = False) -> list[Any]:
        """Decoded strings per job, or (string, source ids, generated row) triples when `with_ids`."""
        import torch

        # Tokenize per source language.
        ids: list[list[int]] = [[] for _ in jobs]
        by_source: dict[str, list[int]] = {}
        for j, (_, src, _) in enumerate(jobs):
            by_source.setdefault(src, []).append(j)
        for src, members in by_source.items():
            for j, row in zip(members, self._encode([jobs[j][0] for j in members], src)):
                ids[j] = row
        for j, row in enumerate(ids):
            if len(row) > self.max_positions:
                raise InputTooLongError(
                    f"piece {j} has {len(row)} tokens, more than the model's {self.max_positions} positions; "
                    "cut it with Translator.split first"
                )
        # Longest first: memory problems show at once and the progress estimate is conservative.
        order = sorted(range(len(jobs)), key=lambda j: -len(ids[j]))
        beams = options.get("num_beams") or getattr(self._generation_config(), "num_beams", None) or 1
        batches: list[list[int]] = []
        batch: list[int] = []
        batch_len = 0
        batch_lengths: dict[str, Any] = {}
        for j in order:
            length_options = self._length_options(len(ids[j]), options)
            longest = max(batch_len, len(ids[j]))
            if batch and (
                length_options != batch_lengths
                or (len(batch) + 1) * longest * beams > self.max_batch_tokens
                or len(batch) >= self.max_batch_size
            ):
                batches.append(batch)
                batch, batch_len = [], 0
            if not batch:
                batch_lengths = length_options
            batch.append(j)
            batch_len = max(batch_len, len(ids[j]))
        if batch:
            batches.append(batch)

        show = progress if progress is not None else self.progress
        if show is None:
            show = len(batches) > 1 and _stderr_is_tty()
        outputs: list[Any] = [""] * len(jobs)
        bar = _progress_bar(len(jobs), bool(show))
        device = self.model.device
        pad = self.tokenizer.pad_token_id
        try:
            for batch in batches:
                width = max(len(ids[j]) for j in batch)
                input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
                attention = torch.zeros((len(batch), width), dtype=torch.long)
                for r, j in enumerate(batch):
                    input_ids[r, : len(ids[j])] = torch.tensor(ids[j], dtype=torch.long)
                    attention[r, : len(ids[j])] = 1
                targets = [self.tokenizer.get_lang_id(jobs[j][2]) for j in batch]
                forced = targets[0] if len(set(targets)) == 1 else targets
                kwargs = {**options, **self._length_options(width, options)}
                kept = self._kept_ids([jobs[j][2] for j in batch])
                if kept is not None:
                    kwargs["vocab_shortlist"] = kept
                with torch.inference_mode():
                    generated = self.model.generate(
                        input_ids=input_ids.to(device), attention_mask=attention.to(device),
                        forced_bos_token_id=forced, **kwargs,
                    )
                sequences = getattr(generated, "sequences", generated)
                texts = self.tokenizer.batch_decode(sequences, skip_special_tokens=True)
                k = len(texts) // len(batch)  # > 1: num_return_sequences hypotheses per row (translate_nbest)
                for r, j in enumerate(batch):
                    outputs[j] = texts[r] if k == 1 else texts[r * k:(r + 1) * k]
                    if with_ids:
                        outputs[j] = (outputs[j], ids[j], sequences[r].tolist())
                bar.update(len(batch))
        finally:
            bar.close()
        return outputs

    # -- documents (thin front doors to m2m100.documents) ----------------------------------------------
    def translate_file(
        self, path_in: str | os.PathLike, path_out: str | os.PathLike, source: str, target: str, *,
        format: str | None = None, align: bool = True, progress: bool | None = None, **generation_options: Any,
    ) -> Any:
        """Translate a document file (.docx .pptx .xlsx .odt .odp .epub .html .md .txt .srt .vtt; .pdf -> .txt)
        into `path_out`, written atomically; formatting, structure and protected parts kept. Returns the output
        Path. Raises DocumentError (unsupported, corrupt, encrypted, over a size limit), LanguageError,
        GenerationError. See m2m100.documents.translate_file."""
        from .documents import translate_file

        return translate_file(self, path_in, path_out, source, target, format=format, align=align,
                              progress=progress, **generation_options)

    def translate_html(
        self, document: str, source: str, target: str, *, align: bool = True, **generation_options: Any,
    ) -> str:
        """An HTML string translated: markup byte for byte, inline tags placed on the aligned words, title/alt/
        placeholder attributes translated, script/style/code/translate="no" untouched (m2m100.documents.html)."""
        from .documents import translate_html

        return translate_html(self, document, source, target, align=align, **generation_options)


# =====================================================================================================
# helpers
# =====================================================================================================
def _check_vocabulary(model: Any, tokenizer: Any) -> None:
    """A model's embedding matrix may be larger than its tokenizer (hub NLLB-200: 256,206 rows for 256,204
    tokens; spare rows are never produced by the tokenizer), never smaller: ids past the last row would fail in
    the middle of a translation. Raises ConfigError naming both sizes."""
    from .errors import ConfigError

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


def _language_codes(tokenizer: Any) -> list[str]:
    for attr in ("lang_code_to_id", "lang_code_to_token"):
        mapping = getattr(tokenizer, attr, None)
        if isinstance(mapping, dict) and mapping:
            return list(mapping)
    from .languages import FAIRSEQ_LANGUAGE_CODES

    codes = getattr(tokenizer, "language_codes", None)
    if isinstance(codes, str) and codes in FAIRSEQ_LANGUAGE_CODES:
        return list(FAIRSEQ_LANGUAGE_CODES[codes])
    return list(FAIRSEQ_LANGUAGE_CODES["m2m100"])


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, show: bool, unit: str = "sent", desc: str = "translating") -> Any:
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=False)


__all__ = [
    "Translator", "SplitText", "Splitter", "split_lines", "split_sentences", "clean_for_model", "needs_translation",
    "default_model", "DEFAULT_MODEL", "MODEL_ENV", "GENERATION_OPTIONS",
]
