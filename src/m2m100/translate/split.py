"""Splitting: text -> lines -> sentences -> pieces that fit the model, and the way back (SplitText.reassemble).

Nothing is dropped: the pieces plus the recorded whitespace rebuild the input.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputTooLongError
from .text import LINE_BREAK, NO_SPACE_TARGETS, clean_for_model, needs_translation

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
    parts = LINE_BREAK.split(text)
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



__all__ = ["SplitText", "Splitter", "split_lines", "split_sentences", "PYSBD_LANGUAGES"]
