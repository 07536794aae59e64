"""VocabShortlist: per target language, the token ids its text uses; decoding into that language may then skip
the rest of the vocabulary (an opt-in speed-up, the idea of CTranslate2's vocabulary mapping).

    >>> shortlist = VocabShortlist.build(tokenizer, {"de": german_lines, "fr": french_lines}, min_count=2)
    >>> shortlist.save("model_dir/shortlist.json")
    >>> ids = VocabShortlist.load("model_dir/shortlist.json").token_ids("de")
    >>> model.generate(**batch, forced_bos_token_id=tokenizer.get_lang_id("de"), vocab_shortlist=ids)

A language's set holds every token that occurs at least `min_count` times in its text; `always` holds the
special and language tokens. generate() adds the tokens of each batch's sources (names, numbers and other words
a translation copies) and the special and forced tokens, and computes the output projection on those rows only
(m2m100.generation.shortlist_projection). A token outside the set can never be produced: build the sets from
enough text of the target side of the domain, and measure (bench/bench_shortlist.py).

File format (JSON): {"format": "m2m100-vocab-shortlist", "version": 1, "vocab_size": n, "tokenizer": digest of
the token table, "min_count": k, "always": [ids], "languages": {code: [ids]}, "texts": {code: lines read}}. The
tokenizer digest ties a file to the token table it was built with: ids from another vocabulary would be silently
wrong, so loading it beside another tokenizer raises.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, ConfigError, LanguageError

FORMAT = "m2m100-vocab-shortlist"
VERSION = 1
FILE_NAME = "shortlist.json"  # the name Translator.from_pretrained(shortlist=True) looks for beside a model
_BATCH = 512  # lines tokenized per call while building


def tokenizer_digest(tokenizer: Any) -> str:
    """A short fingerprint of the tokenizer's id -> token table (the thing a shortlist's ids refer to)."""
    vocab = tokenizer.get_vocab()
    table = "\n".join(f"{i}\t{t}" for t, i in sorted(vocab.items(), key=lambda item: item[1]))
    return hashlib.blake2b(table.encode("utf-8"), digest_size=12).hexdigest()


@dataclass(frozen=True)
class VocabShortlist:
    """Kept token ids per target language (sorted tuples) plus the ids every language keeps."""

    languages: Mapping[str, tuple[int, ...]]  # language code -> ids its text uses
    always: tuple[int, ...]  # special and language tokens
    vocab_size: int  # len(tokenizer) when built
    tokenizer: str | None = None  # tokenizer_digest when built (None: not checked)
    min_count: int = 1
    texts: Mapping[str, int] = field(default_factory=dict)  # lines read per language (information only)

    def __post_init__(self) -> None:
        if isinstance(self.vocab_size, bool) or not isinstance(self.vocab_size, int) or self.vocab_size < 1:
            raise ConfigError(f"shortlist vocab_size must be a positive integer, got {self.vocab_size!r}")
        for name, ids in [("always", self.always), *self.languages.items()]:
            bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.vocab_size]
            if bad:
                raise ConfigError(f"shortlist {name!r} holds ids outside [0, {self.vocab_size}): {bad[:5]}")
        if not self.languages:
            raise ConfigError("a shortlist needs at least one language")

    # -- building ------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, tokenizer: Any, texts: Mapping[str, Iterable[str]], min_count: int = 1) -> VocabShortlist:
        """From target-language text: {code: lines}. Keeps, per language, every token seen >= min_count times
        (1 keeps all; higher drops rare pieces: a smaller, faster, riskier set).

        Raises LanguageError for a code the tokenizer lacks, ConfigError for min_count < 1, a language with no
        text, or a non-str line.
        """
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ConfigError(f"min_count must be an integer >= 1, got {min_count!r}")
        codes = _language_ids(tokenizer)
        languages: dict[str, tuple[int, ...]] = {}
        lines_read: dict[str, int] = {}
        for code, lines in texts.items():
            if code not in codes:
                raise LanguageError(f"shortlist language {code!r} is not one of this tokenizer's languages")
            counts: Counter[int] = Counter()
            n = 0
            for batch in _batches(lines):
                for i, line in enumerate(batch):
                    if not isinstance(line, str):
                        raise ConfigError(f"shortlist text for {code!r}: line {n + i + 1} is "
                                          f"{type(line).__name__}, not str")
                rows = tokenizer(batch, add_special_tokens=False, return_attention_mask=False)["input_ids"]
                for row in rows:
                    counts.update(int(t) for t in row)
                n += len(batch)
            if n == 0:
                raise ConfigError(f"shortlist language {code!r} has no text")
            languages[code] = tuple(sorted(t for t, c in counts.items() if c >= min_count))
            lines_read[code] = n
        if not languages:
            raise ConfigError("give text for at least one language")
        always = {int(i) for i in tokenizer.all_special_ids} | set(codes.values())
        always |= {int(i) for i in (tokenizer.unk_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id,
                                    tokenizer.bos_token_id) if i is not None}
        return cls(languages, tuple(sorted(always)), len(tokenizer), tokenizer_digest(tokenizer), min_count,
                   lines_read)

    # -- use -----------------------------------------------------------------------------------------------
    def covers(self, language: str) -> bool:
        return language in self.languages

    def token_ids(self, languages: str | Iterable[str]) -> list[int]:
        """Sorted ids to keep when translating into `languages` (one code, or several for a mixed batch):
        their sets plus `always`. Raises LanguageError for a language the shortlist has no set for."""
        wanted = [languages] if isinstance(languages, str) else list(languages)
        missing = [code for code in wanted if code not in self.languages]
        if missing:
            raise LanguageError(f"the shortlist has no token set for {', '.join(map(repr, missing))} "
                                f"(it covers {', '.join(sorted(self.languages))})")
        kept = set(self.always)
        for code in wanted:
            kept.update(self.languages[code])
        return sorted(kept)

    def check_tokenizer(self, tokenizer: Any) -> None:
        """ConfigError unless this shortlist was built with this tokenizer's token table."""
        size = len(tokenizer)
        if size != self.vocab_size:
            raise ConfigError(f"the shortlist was built for a tokenizer of {self.vocab_size} tokens; "
                              f"this one has {size}")
        if self.tokenizer is not None and self.tokenizer != tokenizer_digest(tokenizer):
            raise ConfigError("the shortlist was built with another tokenizer (same size, different tokens); "
                              "rebuild it with this model's tokenizer (m2m100 shortlist build)")

    def sizes(self) -> dict[str, int]:
        """Kept ids per language, `always` included (before a batch's source tokens are added)."""
        return {code: len(set(ids) | set(self.always)) for code, ids in sorted(self.languages.items())}

    # -- files ---------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "vocab_size": self.vocab_size, "tokenizer": self.tokenizer,
                "min_count": self.min_count, "always": list(self.always),
                "languages": {code: list(ids) for code, ids in sorted(self.languages.items())},
                "texts": dict(sorted(self.texts.items()))}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the JSON file atomically; returns its path."""
        from ..hub import atomic_write_text

        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), separators=(",", ":")) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> VocabShortlist:
        """Read a file written by `save`. Raises CheckpointError for a missing or unreadable file, invalid JSON
        or a file that is not a version-1 shortlist (the message names the path and the problem)."""
        from ..hub import read_json_object

        data = read_json_object(path, "vocabulary shortlist")
        if data.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not a vocabulary shortlist (format {data.get('format')!r}, "
                                  f"expected {FORMAT!r})")
        if data.get("version") != VERSION:
            raise CheckpointError(f"{path}: shortlist version {data.get('version')!r} is not supported "
                                  f"(this package reads version {VERSION})")
        languages = data.get("languages")
        always = data.get("always")
        if not isinstance(languages, dict) or not all(isinstance(v, list) for v in languages.values()):
            raise CheckpointError(f"{path}: 'languages' must map language codes to lists of token ids")
        if not isinstance(always, list):
            raise CheckpointError(f"{path}: 'always' must be a list of token ids")
        texts = data.get("texts") or {}
        try:
            return cls({str(k): tuple(v) for k, v in languages.items()}, tuple(always), data.get("vocab_size"),
                       data.get("tokenizer"), int(data.get("min_count", 1)),
                       dict(texts) if isinstance(texts, dict) else {})
        except (ConfigError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: {exc}") from None


def _language_ids(tokenizer: Any) -> dict[str, int]:
    """code -> language token id, from the tokenizer's language table."""
    mapping = getattr(tokenizer, "lang_code_to_id", None)
    if not isinstance(mapping, dict) or not mapping:
        raise ConfigError(f"{type(tokenizer).__name__} has no language table (lang_code_to_id)")
    return {str(k): int(v) for k, v in mapping.items()}


def _batches(lines: Iterable[str]) -> Iterable[list[str]]:
    if isinstance(lines, str):
        raise ConfigError("shortlist text must be a list (or iterable) of lines, got one str")
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
