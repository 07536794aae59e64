"""The server's only contact with the model: the Translator's own pipeline, with the server's limits and its
step scheduler passed in explicitly.

    request(...)  -> TranslationRequest with the server's limits (max_beams, max_new_tokens)
    plan(request) -> Plan (Translator.plan, in the prep worker; stops when the HTTP request went away)
    run_batch(pieces, options) -> outputs (Translator.run of one batch the batcher formed; model worker)
    finish(plan, outputs) -> list[TextResult] (Translator.finish)

Nothing here validates, splits, tokenizes or reassembles: that is the Translator's, once.
"""

from __future__ import annotations

from typing import Any

from ..translate import Piece, Plan, TextResult, TranslationRequest, needs_translation
from .batching import JobCancelled, job_cancelled


def _raise_if_cancelled() -> None:
    if job_cancelled():  # the request timed out or went away: stop planning for nobody
        raise JobCancelled()


class Engine:
    def __init__(self, translator: Any, max_new_tokens: int | None = None, max_beams: int | None = None):
        """`max_new_tokens`: the server's cap on generated tokens per piece, applied to every request, whether
        it gives max_new_tokens or gets the Translator's length policy; `max_beams`: the most beams a request may
        use, those its alternatives need included."""
        self.translator = translator
        self.max_new_tokens = max_new_tokens
        self.max_beams = max_beams
        self.name = getattr(translator, "name", None)
        self._languages = [(code, name) for code, name in translator.languages()]
        self.codes = [code for code, _ in self._languages]
        self.steps: Any = None  # the StepScheduler of a continuous batcher (step_scheduler)

    # -- languages ---------------------------------------------------------------------------------------
    def languages(self) -> list[tuple[str, str]]:
        return list(self._languages)

    def normalize(self, value: str, what: str) -> str:
        """The model's code for `value`; LanguageError (a ValueError) names `what` and the input."""
        return self.translator.normalize_language(value, what)

    # -- pipeline ----------------------------------------------------------------------------------------
    def request(self, texts: list[str], source: Any, target: Any, fmt: str = "text",
                options: dict[str, Any] | None = None, *, alternatives: int = 0,
                details: bool = False) -> TranslationRequest:
        """A TranslationRequest under this server's limits."""
        return TranslationRequest(texts, source, target, format=fmt, options=dict(options or {}),
                                  alternatives=alternatives, details=details, max_beams=self.max_beams,
                                  max_new_tokens=self.max_new_tokens)

    def plan(self, request: TranslationRequest) -> Plan:
        """Translator.plan (runs in a worker thread: splitting long texts takes time); raises JobCancelled
        between texts once the HTTP request went away."""
        return self.translator.plan(request, check=_raise_if_cancelled)

    def run_batch(self, pieces: list[Piece], options: dict[str, Any]) -> list[Any]:
        """One model batch the batcher formed (model worker thread): an output per piece (Translator.run)."""
        return self.translator.run(pieces, options, progress=False, pack=False, step_scheduler=self.steps)

    def finish(self, plan: Plan, outputs: list[Any]) -> list[TextResult]:
        return self.translator.finish(plan, outputs)

    def step_scheduler(self, merge_greedy: bool = False, max_rows: int = 256, max_tokens: int = 16384) -> Any:
        """Make the model take turns per decoding step between concurrent run_batch calls (each inside
        StepScheduler.run: server.scheduler); returns the m2m100.generation.continuous.StepScheduler, which
        run_batch then hands to the Translator (whose own lock steps aside: the turns exclude each other).
        `merge_greedy`: the greedy and beam rows of all those calls share one decoder call per step (at most
        `max_rows` rows, rows x longest source <= `max_tokens`)."""
        from ..generation.continuous import StepScheduler

        self.steps = StepScheduler(self.translator.model, merge_greedy=merge_greedy, max_rows=max_rows,
                                   max_tokens=max_tokens)
        return self.steps

    def merges_rows(self, options: dict[str, Any]) -> bool:
        """Whether run_batch with these options decodes by greedy or beam search (no sampling, no alternatives),
        so that under the continuous scheduler its rows join the merged decoder batch (generation.continuous)."""
        if options.get("alternatives"):
            return False
        config = getattr(getattr(self.translator, "model", None), "generation_config", None)
        return not options.get("do_sample", getattr(config, "do_sample", False))

    def detect(self, texts: list[str], k: int) -> list[list[tuple[str, float]]] | None:
        """Up to k (model code, confidence 0..1) candidates per text, best first, from the Translator's
        language identification; None when the Translator has none. Texts without letters get
        [("en", 0.0)] (LibreTranslate's answer for them) without asking the detector."""
        detect = getattr(self.translator, "detect_candidates", None)
        if detect is None:
            return None
        results: list[list[tuple[str, float]]] = [[("en", 0.0)] for _ in texts]
        wanted = [i for i, text in enumerate(texts) if needs_translation(text)]
        if wanted:
            found = detect([texts[i] for i in wanted], k)
            for i, candidates in zip(wanted, found):
                results[i] = [(code, float(conf)) for code, conf in candidates][:k] or [("en", 0.0)]
        return results

    def warmup(self) -> None:
        """Translate one sentence so that the first request does not pay for lazy initialisation."""
        codes = self.codes
        src = "en" if "en" in codes else codes[0]
        tgt = next((c for c in ("fr", "de", "es") if c in codes and c != src), next(c for c in codes if c != src))
        plan = self.translator.plan(self.request(["Hello, world."], src, tgt))
        self.finish(plan, self.translator.run(plan.pieces, plan.options, progress=False))
