"""The languages of one model: codes and names, normalisation with clear errors, and "auto" sources resolved by
language identification (m2m100.detect, which speaks M2M100 codes; mapped here to the model's, e.g. NLLB's)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import LanguageError
from ..hygiene import needs_translation


class ModelLanguages:
    """The languages `tokenizer` has language tokens for, in model order (`codes`)."""

    def __init__(self, tokenizer: Any):
        self.codes = language_codes(tokenizer)
        self._detected_codes: dict[str, str | None] | None = None

    def names(self) -> list[tuple[str, str]]:
        """(code, English name) of every language the model translates, in model order."""
        from ..languages import LANGUAGE_NAMES
        from ..languages_nllb import NLLB_LANGUAGE_NAMES

        names = {**{c: n.split(";")[0].strip() for c, n in LANGUAGE_NAMES.items()}, **NLLB_LANGUAGE_NAMES}
        return [(code, names.get(code, code)) for code in self.codes]

    def normalize(self, value: Any, what: str = "language") -> str:
        from ..languages import normalize_language

        try:
            return normalize_language(value, self.codes)
        except LanguageError as exc:
            raise LanguageError(f"{what}: {exc}") from None

    def detect_candidates(self, texts: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """Up to k `(code, confidence)` candidates per text, best first, among this model's languages.
        Raises TypeError for a non-str item, ValueError for k outside 1..100."""
        from ..detect import M2M100_CODES, detect_languages

        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(M2M100_CODES):
            raise ValueError(f"k must be an integer between 1 and {len(M2M100_CODES)}, got {k!r}")
        if isinstance(texts, str):
            raise TypeError("texts must be a list of str, got a single str; wrap it in a list")
        ranked = detect_languages(list(texts), k=len(M2M100_CODES))
        # The detector speaks M2M100 codes: map them to this model's (NLLB: "fr" -> "fra_Latn"). A model with
        # fewer languages (wmt21) gets the best candidates it can translate; English stands in with
        # confidence 0 when none is left.
        mapped = self.codes_of_detector()
        english = mapped.get("en")
        fallback = (english if english is not None else self.codes[0], 0.0)
        return [[(mapped[c], p) for c, p in cands if mapped.get(c) is not None][:k] or [fallback] for cands in ranked]

    def codes_of_detector(self) -> dict[str, str | None]:
        """A detector code -> this model's code (or None), computed once."""
        if self._detected_codes is None:
            from ..detect import M2M100_CODES
            from ..languages import to_code_set

            self._detected_codes = {code: to_code_set(code, self.codes) for code in M2M100_CODES}
        return self._detected_codes

    def sources(self, value: Any, items: list[str]) -> tuple[list[str], dict[int, tuple[str, float]]]:
        """Source languages, with "auto" (alone or as list items) replaced by the detected language per text,
        and the detections: text index -> (code, confidence)."""
        per_text = value if isinstance(value, (list, tuple)) else [value] * len(items)
        auto = [i for i, v in enumerate(per_text) if isinstance(v, str) and v.strip().lower() == "auto"]
        if not auto or len(per_text) != len(items):  # no "auto", or a length mismatch _languages explains
            return self.resolve(value, len(items), "source"), {}
        letters = [i for i in auto if needs_translation(items[i])]
        english = self.codes_of_detector().get("en")
        detected = {i: (english if english is not None else self.codes[0], 0.0) for i in auto}  # no letters
        detected.update(zip(letters, [c[0] for c in self.detect_candidates([items[i] for i in letters], 1)]))
        resolved = [detected[i][0] if i in detected else v for i, v in enumerate(per_text)]
        return self.resolve(resolved, len(items), "source"), detected

    def resolve(self, value: Any, n: int, what: str) -> list[str]:
        if isinstance(value, str):
            return [self.normalize(value, what)] * n
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(f"{what} has {len(value)} languages for {n} texts; give one language or one per text")
            cache: dict[str, str] = {}
            out = []
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise LanguageError(f"{what}[{i}]: language must be a string, got {type(item).__name__}")
                if item not in cache:
                    cache[item] = self.normalize(item, f"{what}[{i}]")
                out.append(cache[item])
            return out
        if value is None:
            raise LanguageError(f"{what} language is required (a code such as 'en' or a name such as 'English')")
        raise LanguageError(f"{what} must be a language code or a list of them, got {type(value).__name__}")


def language_codes(tokenizer: Any) -> list[str]:
    for attr in ("lang_code_to_id", "lang_code_to_token"):
        mapping = getattr(tokenizer, attr, None)
        if isinstance(mapping, dict) and mapping:
            return list(mapping)
    from ..languages import FAIRSEQ_LANGUAGE_CODES

    codes = getattr(tokenizer, "language_codes", None)
    if isinstance(codes, str) and codes in FAIRSEQ_LANGUAGE_CODES:
        return list(FAIRSEQ_LANGUAGE_CODES[codes])
    return list(FAIRSEQ_LANGUAGE_CODES["m2m100"])



__all__ = ["ModelLanguages", "language_codes"]
