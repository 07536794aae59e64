"""The one request type of every front end, and the plan the Translator makes of it.

    TranslationRequest(texts, source, target, format, options, ...)   what a front end asks for
    Translator.plan(request) -> Plan                                   validated once: languages, options, limits;
                                                                       texts cut into Pieces that carry token ids
    Translator.run(plan.pieces, plan.options) -> outputs               (or a server batcher, in its own batches)
    Translator.finish(plan, outputs) -> list[TextResult]               reassembly, markup, details

Front ends (the server's routes, the CLI, Ray, `pipeline()`, documents) translate their own syntax into a
TranslationRequest and a TextResult back into theirs; nothing else is validated or planned outside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("text", "html")


@dataclass
class TranslationRequest:
    """What to translate.

    texts: the strings (a single str is one text); source: a language code or name, "auto" (detect each text), or
    one per text; target: one language or one per text; format: "text" or "html" (markup kept byte for byte);
    options: generation options (num_beams, max_new_tokens, ...; see GENERATION_OPTIONS); alternatives: extra
    n-best translations per text (0: none); details: guard reports per text; guards: None (the Translator's
    setting), True/False or a GuardConfig.
    Limits (None: no limit): max_beams (beams, those needed for alternatives included), max_new_tokens (a cap on
    generated tokens per piece, whatever the options or the length policy say).
    """

    texts: Sequence[str] | str
    source: Any
    target: Any
    format: str = "text"
    options: Mapping[str, Any] = field(default_factory=dict)
    alternatives: int = 0
    details: bool = False
    guards: Any = None
    max_beams: int | None = None
    max_new_tokens: int | None = None


@dataclass
class Piece:
    """One model input: a sentence (or part of one) with its languages and its token ids (language token,
    tokens, </s>); `tokens` is their count (what batch budgets weigh)."""

    text: str
    source: str
    target: str
    ids: tuple[int, ...] = ()

    @property
    def tokens(self) -> int:
        return len(self.ids)


@dataclass
class TextPlan:
    """One text of a Plan: `kind` "unchanged" (comes back as it is), "text" or "html"; its pieces are
    `slots[start:start + count]` of the Plan, each an index into Plan.pieces or -1 for a piece kept as it is."""

    original: str
    source: str
    target: str
    kind: str
    splits: list[Any] = field(default_factory=list)  # SplitText per translatable run
    html: Any = None  # the parsed document (m2m100.documents.html.HtmlDocument) when kind == "html"
    start: int = 0
    count: int = 0
    detected: tuple[str, float] | None = None  # (code, confidence 0..1) when the source was "auto"


@dataclass
class Plan:
    """A validated request cut into model inputs. `pieces` are distinct (deduplicated unless sampling), `options`
    the checked run options (generation options plus `alternatives`, `details`, `guards`, `max_new_tokens_cap`)
    that `Translator.run` and `run_batch` take."""

    texts: list[TextPlan]
    pieces: list[Piece]
    slots: list[int]
    texts_of_piece: list[str]  # the piece strings of every text, in order (kept-as-is ones included)
    options: dict[str, Any]
    single: bool = False


@dataclass
class TextResult:
    """One text's answer: the translation, up to `alternatives` other translations (distinct), the guard details
    (m2m100.guards.TextDetails) when asked for, the detected source (code, confidence) for "auto", and the
    number of model inputs it took."""

    text: str
    source: str
    target: str
    alternatives: list[str] = field(default_factory=list)
    details: Any = None
    detected: tuple[str, float] | None = None
    pieces: int = 0


__all__ = ["TranslationRequest", "Piece", "TextPlan", "Plan", "TextResult", "FORMATS"]
