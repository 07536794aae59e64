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

from .batching import JobCancelled, Piece, job_cancelled
from .markup import join_html, split_html


@dataclass
class _TextPlan:
    original: str
    target: str
    kind: str  # "unchanged" | "text" | "html"
    splits: list[Any] = field(default_factory=list)  # SplitText per translatable run
    html: Any = None  # html only: the parsed document (markup.split_html)
    start: int = 0  # first piece of this text in Plan.pieces
    count: int = 0


@dataclass
class Plan:
    texts: list[_TextPlan]
    pieces: list[Piece]


class Engine:
    def __init__(self, translator: Any, max_new_tokens: int | None = None):
        """`max_new_tokens`: the server's cap on generated tokens per piece, applied to every request,
        whether it gives max_new_tokens or gets the Translator's length policy."""
        from ..translate import needs_translation

        self.translator = translator
        if max_new_tokens is not None:
            translator.max_new_tokens_cap = int(max_new_tokens)
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
            if job_cancelled():  # the request timed out or went away: stop splitting for nobody
                raise JobCancelled()
            entry = _TextPlan(original=text, target=tgt, kind="unchanged", start=len(pieces))
            if src != tgt and self._needs_translation(text):
                if fmt == "html":
                    entry.kind = "html"
                    entry.html = split_html(text)
                    runs = entry.html.texts
                else:
                    entry.kind = "text"
                    runs = [text]
                for run in runs:
                    if job_cancelled():
                        raise JobCancelled()
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
    ) -> list[Any]:
        """One model batch (called in the model worker thread): a string per piece, or with the option
        `alternatives` (n) a list of up to n distinct translations per piece, best first, or with the option
        `details` a guard report per piece (m2m100.guards.PieceReport; `.text` is the translation)."""
        if options.get("details"):
            rest = {k: v for k, v in options.items() if k != "details"}
            return self.translator.translate_pieces(pieces, sources, targets, progress=False, return_details=True,
                                                    **rest)
        if options.get("alternatives"):
            rest = {k: v for k, v in options.items() if k != "alternatives"}
            return self.translator.translate_nbest(pieces, sources, targets, options["alternatives"],
                                                   progress=False, **rest)
        return self.translator.translate_pieces(pieces, sources, targets, progress=False, **options)

    def step_scheduler(self, merge_greedy: bool = False, max_rows: int = 256, max_tokens: int = 16384) -> Any:
        """Make the model take turns per decoding step between concurrent run_batch calls (each inside
        StepScheduler.run: server.scheduler); returns the m2m100.generation.continuous.StepScheduler. The
        Translator's one-generation-at-a-time lock steps aside inside those calls (the turns exclude each
        other already; holding the lock across a turn hand-over would deadlock). `merge_greedy`: the greedy
        rows of all those calls share one decoder call per step (at most `max_rows` rows, rows x longest source
        <= `max_tokens`)."""
        from ..generation.continuous import StepScheduler, TurnLock

        steps = StepScheduler(self.translator.model, merge_greedy=merge_greedy, max_rows=max_rows,
                              max_tokens=max_tokens)
        self.translator._lock = TurnLock(steps, self.translator._lock)
        return steps

    def merges_rows(self, options: dict[str, Any]) -> bool:
        """Whether run_batch with these options decodes by greedy or beam search (no sampling, no alternatives),
        so that under the continuous scheduler its rows join the merged decoder batch (generation.continuous)."""
        if options.get("alternatives"):
            return False
        config = getattr(getattr(self.translator, "model", None), "generation_config", None)
        return not options.get("do_sample", getattr(config, "do_sample", False))

    def default_beams(self) -> int:
        """The checkpoint's num_beams (what a request without num_beams gets)."""
        config = getattr(getattr(self.translator, "model", None), "generation_config", None)
        return int(getattr(config, "num_beams", None) or 1)

    def finish_nbest(self, plan: Plan, outputs: list[list[str]]) -> list[tuple[str, list[str]]]:
        """(best, alternatives) per text from n-best piece outputs: alternative k puts every piece's k-th
        hypothesis (or its last one) in place; alternatives are distinct from the best and from each other.
        Like LibreTranslate, format=html and unchanged texts get none."""
        n = max((len(o) for o in outputs), default=1)
        candidates = [self.finish(plan, [o[min(k, len(o) - 1)] for o in outputs]) for k in range(n)]
        results = []
        for i, entry in enumerate(plan.texts):
            best = candidates[0][i]
            alternatives: list[str] = []
            if entry.kind == "text":
                for k in range(1, n):
                    text = candidates[k][i]
                    if text != best and text not in alternatives:
                        alternatives.append(text)
            results.append((best, alternatives))
        return results

    def detect(self, texts: list[str], k: int) -> list[list[tuple[str, float]]] | None:
        """Up to k (model code, confidence 0..1) candidates per text, best first, from the Translator's
        language identification; None when the Translator has none. Texts without letters get
        [("en", 0.0)] (LibreTranslate's answer for them) without asking the detector."""
        detect = getattr(self.translator, "detect_candidates", None)
        if detect is None:
            return None
        results: list[list[tuple[str, float]]] = [[("en", 0.0)] for _ in texts]
        wanted = [i for i, text in enumerate(texts) if self._needs_translation(text)]
        if wanted:
            found = detect([texts[i] for i in wanted], k)
            for i, candidates in zip(wanted, found):
                results[i] = [(code, float(conf)) for code, conf in candidates][:k] or [("en", 0.0)]
        return results

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
            results.append(join_html(entry.html, runs) if entry.kind == "html" else runs[0])
        return results

    def warmup(self) -> None:
        """Translate one sentence so that the first request does not pay for lazy initialisation."""
        codes = self.codes
        src = "en" if "en" in codes else codes[0]
        tgt = next((c for c in ("fr", "de", "es") if c in codes and c != src), next(c for c in codes if c != src))
        self.run_batch(["Hello, world."], [src], [tgt], {})
