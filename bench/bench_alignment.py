"""How well inline tags land on the right target words: cross-attention alignment vs the proportional fallback.

    python bench/bench_alignment.py                                   # the Multi30k model (train_multi30k.py)
    python bench/bench_alignment.py --model DIR --sentences 50        # any checkpoint, fewer sentences

For each test sentence (Multi30k test_2016_flickr.en), each content word w (letters only, 4+ characters) is a
candidate tag, <b>w</b>. Gold target word (an automatic proxy, no hand alignments needed), when it occurs exactly
once as a word of the sentence's translation: by default (`--gold dice`) w's best translation by co-occurrence
in the training corpus (Dice coefficient over the Multi30k train sentence pairs, at least 0.3, w seen 5+ times:
independent of the model, so it also works for a weak model that answers a lone word with a sentence); with
`--gold model`, the model's own translation of w alone. A case is a hit
when the projected span covers exactly that word (punctuation aside). Printed: cases, hit rate of alignment
(attention read where the target token is the decoder input, "shift", and where it is predicted, "predict", the
default of m2m100.documents.align; all layers averaged, or the penultimate layer alone, "L-2") and of the proportional fallback, and how many cases alignment could not handle (it then falls back). JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
from common import DATA, OUT  # noqa: E402

_WORD = re.compile(r"\w+(?:[-'’]\w+)*")


def words(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(0)) for m in _WORD.finditer(text)]


def dice_lexicon(prefix: Path, source: str, target: str, wanted: set[str], min_count: int = 5,
                 min_dice: float = 0.3) -> dict[str, str]:
    """word -> its most associated target word over the sentence pairs PREFIX.source / PREFIX.target:
    Dice = 2 c(w, t) / (c(w) + c(t)), counted once per sentence pair; words below the thresholds are left out."""
    from collections import Counter

    src_lines = (prefix.parent / f"{prefix.name}.{source}").read_text(encoding="utf-8").splitlines()
    tgt_lines = (prefix.parent / f"{prefix.name}.{target}").read_text(encoding="utf-8").splitlines()
    src_count, tgt_count, pair_count = Counter(), Counter(), Counter()
    for s, t in zip(src_lines, tgt_lines):
        s_words = {w for _, _, w in words(s)} & wanted
        t_words = {w.lower() for _, _, w in words(t)}
        tgt_count.update(t_words)
        src_count.update(s_words)
        pair_count.update((w, x) for w in s_words for x in t_words)
    best: dict[str, tuple[float, str]] = {}
    for (w, x), c in pair_count.items():
        if src_count[w] >= min_count:
            dice = 2 * c / (src_count[w] + tgt_count[x])
            if dice >= min_dice and dice > best.get(w, (0.0, ""))[0]:
                best[w] = (dice, x)
    return {w: x for w, (_, x) in best.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=OUT / "multi30k_en_de")
    p.add_argument("--data", type=Path, default=DATA / "multi30k" / "test_2016_flickr.en")
    p.add_argument("--source", default="en")
    p.add_argument("--target", default="de")
    p.add_argument("--sentences", type=int, default=300)
    p.add_argument("--beam", type=int, default=None)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--json", action="store_true", help="one JSON line with the figures")
    p.add_argument("--gold", choices=["dice", "model"], default="dice", help="how the gold target word is found")
    p.add_argument("--train-prefix", type=Path, default=DATA / "multi30k" / "train",
                   help="parallel training text for --gold dice: PREFIX.SOURCE and PREFIX.TARGET")
    args = p.parse_args(argv)

    from m2m100 import Translator
    from m2m100.documents.align import Aligner
    from m2m100.documents.units import Span, Unit, project

    if not (args.model / "config.json").is_file():
        print(f"no model at {args.model}: run bench/train_multi30k.py first, or pass --model DIR", file=sys.stderr)
        return 1
    translator = Translator.from_pretrained(args.model, device="cpu")
    options = {k: v for k, v in (("num_beams", args.beam), ("max_new_tokens", args.max_new_tokens)) if v}
    sentences = [s.strip() for s in args.data.read_text(encoding="utf-8").splitlines() if s.strip()][: args.sentences]
    started = time.perf_counter()
    translations = translator.translate(sentences, args.source, args.target, progress=False, **options)
    candidates = sorted({w for s in sentences for _, _, w in words(s) if w.isalpha() and len(w) >= 4})
    if args.gold == "dice":
        lexicon = dice_lexicon(args.train_prefix, args.source, args.target, set(candidates))
    else:
        lexicon = dict(zip(candidates, translator.translate(candidates, args.source, args.target, progress=False,
                                                           **options)))
    aligners = {"alignment (shift)": Aligner(translator, args.source, args.target, shift=True),
                "alignment (predict)": Aligner(translator, args.source, args.target, shift=False),
                "alignment (shift, L-2)": Aligner(translator, args.source, args.target, shift=True, layer=-2)}
    hits = {name: 0 for name in [*aligners, "proportional"]}
    unaligned = {name: 0 for name in aligners}
    cases = 0
    for src, tgt in zip(sentences, translations):
        tgt_words = [w.lower() for _, _, w in words(tgt)]
        alignments = {name: aligner.align(src, tgt) for name, aligner in aligners.items()}
        for start, end, word in words(src):
            if word not in lexicon:
                continue
            gold_words = [w.lower() for _, _, w in words(lexicon[word])]
            if len(gold_words) != 1 or tgt_words.count(gold_words[0]) != 1:
                continue
            gold = gold_words[0]
            cases += 1
            unit = Unit(src, [Span(start, end)])
            for name, alignment in [*alignments.items(), ("proportional", None)]:
                if name != "proportional" and alignment is None:
                    unaligned[name] += 1
                out = project(unit, tgt, alignment)
                span = out.spans[0]
                placed = [w.lower() for _, _, w in words(tgt[span.start:span.end])]
                hits[name] += placed == [gold]
    rates = {name: (hits[name] / cases if cases else 0.0) for name in hits}
    result = {"model": str(args.model), "sentences": len(sentences), "cases": cases, "gold": args.gold,
              "hit_rate": {k: round(v, 4) for k, v in rates.items()}, "unaligned": unaligned,
              "seconds": round(time.perf_counter() - started, 1),
              "winner": max(rates, key=rates.get) if cases else None}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{cases} tagged words with a gold target word in {len(sentences)} sentences ({args.model})")
        for name, rate in rates.items():
            extra = f" ({unaligned[name]} fell back)" if name in unaligned else ""
            print(f"  {name:22s} {rate:6.1%} on the gold word{extra}")
        print(f"  winner: {result['winner']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
