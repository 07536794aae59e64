"""The server's only contact with the model: a thin adapter over the public `m2m100.Translator` API.

    plan(texts, sources, targets, format)  -> Plan with the model inputs (Translator.splitter.split)
    run_batch(pieces, sources, targets, options) -> translations (Translator.translate_pieces)
    finish(plan, translations)             -> one string per text (Translator.reassemble)

Splitting, language normalisation, generation-option checks and the model call are the Translator's; this
module only decides which texts need the model (mirroring `Translator.translate`: empty, letterless texts and
source == target come back unchanged) and handles format=html. Token counts for the batch budget come from
`Translator.count_tokens` (stateless, so it can run beside the model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .batching import Piece
from .markup import join_html, split_html


@dataclass
class _TextPlan:
    original: str
    target: str
    kind: str  # "unchanged" | "text" | "html"
    splits: list[Any] = field(default_factory=list)  # SplitText per translatable run
    segments: list[tuple[bool, str]] = field(default_factory=list)  # html only
    start: int = 0  # first piece of this text in Plan.pieces
    count: int = 0


@dataclass
class Plan:
    texts: list[_TextPlan]
    pieces: list[Piece]


class Engine:
    def __init__(self, translator: Any):
        from ..translate import needs_translation

        self.translator = translator
        self._needs_translation = needs_translation
        self.name = getattr(translator, "name", None)
        self._languages = [(code, name) for code, name in translator.languages()]
        self.codes = [code for code, _ in self._languages]

    # -- languages and options ---------------------------------------------------------------------------
    def languages(self) -> list[tuple[str, str]]:
        return list(self._languages)

    def normalize(self, value: str, what: str) -> str:
        """The model's code for `value`; LanguageError (a ValueError) names `what` and the input."""
        return self.translator.normalize_language(value, what)

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return self.translator.check_generation_options(options)

    # -- pipeline ----------------------------------------------------------------------------------------
    def plan(self, texts: list[str], sources: list[str], targets: list[str], fmt: str) -> Plan:
        """Cut every text into model inputs (runs in a worker thread: splitting long texts takes time)."""
        splitter = self.translator.splitter
        plans: list[_TextPlan] = []
        pieces: list[Piece] = []
        for text, src, tgt in zip(texts, sources, targets):
            entry = _TextPlan(original=text, target=tgt, kind="unchanged", start=len(pieces))
            if src != tgt and self._needs_translation(text):
                if fmt == "html":
                    entry.kind = "html"
                    entry.segments = split_html(text)
                    runs = [seg for translate, seg in entry.segments if translate]
                else:
                    entry.kind = "text"
                    runs = [text]
                for run in runs:
                    split = splitter.split(run, src)
                    entry.splits.append(split)
                    pieces.extend(Piece(p, src, tgt, self.count_tokens(p)) for p in split.pieces)
            entry.count = len(pieces) - entry.start
            plans.append(entry)
        return Plan(plans, pieces)

    def count_tokens(self, piece: str) -> int:
        return self.translator.count_tokens(piece)

    def run_batch(
        self, pieces: list[str], sources: list[str], targets: list[str], options: dict[str, Any]
    ) -> list[str]:
        """One model batch (called in the model worker thread)."""
        return self.translator.translate_pieces(pieces, sources, targets, progress=False, **options)

    def finish(self, plan: Plan, outputs: list[str]) -> list[str]:
        results = []
        for entry in plan.texts:
            if entry.kind == "unchanged":
                results.append(entry.original)
                continue
            mine = outputs[entry.start:entry.start + entry.count]
            runs, offset = [], 0
            for split in entry.splits:
                n = len(split.pieces)
                runs.append(self.translator.reassemble(split, mine[offset:offset + n], entry.target))
                offset += n
            results.append(join_html(entry.segments, runs) if entry.kind == "html" else runs[0])
        return results

    def warmup(self) -> None:
        """Translate one sentence so that the first request does not pay for lazy initialisation."""
        codes = self.codes
        src = "en" if "en" in codes else codes[0]
        tgt = next((c for c in ("fr", "de", "es") if c in codes and c != src), next(c for c in codes if c != src))
        self.run_batch(["Hello, world."], [src], [tgt], {})
