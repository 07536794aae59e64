"""Quality guards on real models: loop rate, flagged share, BLEU/chrF with and without the guard, extra cost.

    python bench/train_multi30k.py --minutes 10 --out bench/out/multi30k_weak     # a weak model (loops)
    python bench/train_multi30k.py --minutes 25 --out bench/out/multi30k_good     # a good one (~37 BLEU)
    python bench/bench_guards.py --model weak=bench/out/multi30k_weak --model good=bench/out/multi30k_good

For each model the Multi30k en->de test set (test_2016_flickr) is translated twice, guard off and guard on (the
default GuardConfig), with the same beam. Reported per model:

- loop rate: share of sentences whose output repeats a word 3-gram back to back ("in einem in einem", or a
  3-gram run such as "einem einem einem"), off and on;
- flagged: share of sentences with a retry-worthy flag (per detector too); changed: share a retry replaced;
- BLEU and chrF (sacrebleu, 13a unless --tokenize), off and on;
- time: seconds for the whole test set off and on (the retries' extra cost), and the detectors' own cost per
  piece in microseconds (measured on the first decodes, detectors only).

Results go to bench/out/guards/results.json and a Markdown table on standard output (for the README).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
from common import DATA, OUT, machine


def has_loop(text: str) -> bool:
    """A word 3-gram repeated back to back: words[i:i+3] == words[i+3:i+6], or one word three times running."""
    words = text.split()
    for i in range(len(words) - 2):
        if words[i] == words[i + 1] == words[i + 2]:
            return True
        if i + 6 <= len(words) and words[i:i + 3] == words[i + 3:i + 6]:
            return True
    return False


def detector_cost(translator, sources: list[str], source: str, target: str, options: dict) -> float:
    """Microseconds per piece spent in the detectors alone, on the first decodes (the translation is not timed)."""
    from m2m100.guards import Candidate, GuardConfig, check_piece
    from m2m100.translate import clean_for_model

    tok = translator.tokenizer
    eos, unk = int(tok.eos_token_id), getattr(tok, "unk_token_id", None)
    jobs = [(clean_for_model(p), source, target) for s in sources for p in translator.split(s, source).pieces]
    rows = translator._run(jobs, translator.check_generation_options(options), False, with_ids=True)
    candidates = [Candidate.make(text, src, out, eos) for text, src, out in rows]
    config = GuardConfig()

    def has_unk(word: str) -> bool:
        return unk in tok.convert_tokens_to_ids(tok.tokenize(word))

    started = time.perf_counter()
    for cand, job in zip(candidates, jobs):
        check_piece(cand, job[0], source, target, config, eos_id=eos, unk_id=unk, word_has_unk=has_unk)
    return 1e6 * (time.perf_counter() - started) / max(1, len(candidates))


def bench_model(name: str, path: Path, sources: list[str], references: list[str], args) -> dict:
    from m2m100 import Translator
    from m2m100.evaluate import score
    from m2m100.guards import RETRY_KINDS

    translator = Translator.from_pretrained(path, device=args.device, guards=True, progress=False)
    options = {"num_beams": args.beam} if args.beam else {}
    translator.translate(sources[:8], "en", "de", guards=False, **options)  # warm-up: lazy initialisation
    started = time.perf_counter()
    off = translator.translate(sources, "en", "de", guards=False, **options)
    time_off = time.perf_counter() - started
    started = time.perf_counter()
    hyps_on = translator.translate(sources, "en", "de", **options)  # what users run: timed
    time_on = time.perf_counter() - started
    on = translator.translate(sources, "en", "de", return_details=True, **options)  # + scores: not timed
    assert [d.translation for d in on] == hyps_on, "the guard is deterministic"
    kinds = Counter(f.kind for d in on for f in {f.kind: f for f in d.flags}.values())
    flagged = sum(any(f.kind in RETRY_KINDS for f in d.flags) for d in on)
    n = len(sources)
    s_off = score(off, references, "de", args.tokenize, "en")
    s_on = score(hyps_on, references, "de", args.tokenize, "en")
    return {
        "model": name, "path": str(path), "sentences": n, "beam": args.beam,
        "loop_rate_off": round(sum(map(has_loop, off)) / n, 4), "loop_rate_on": round(sum(map(has_loop, hyps_on)) / n, 4),
        "flagged": round(flagged / n, 4), "changed": round(sum(bool(d.changed) for d in on) / n, 4),
        "flags_by_kind": dict(sorted(kinds.items())),
        "retries": sum(d.retries for d in on),
        "bleu_off": s_off.bleu, "bleu_on": s_on.bleu, "chrf_off": s_off.chrf, "chrf_on": s_on.chrf,
        "tokenize": s_on.tokenize,
        "seconds_off": round(time_off, 2), "seconds_on": round(time_on, 2),
        "extra_cost": round(time_on / time_off - 1, 4) if time_off > 0 else None,
        "detector_us_per_piece": round(detector_cost(translator, sources[: args.detector_sample], "en", "de", options), 1),
    }


def table(rows: list[dict]) -> str:
    head = ("| model | loop rate off -> on | flagged | changed | BLEU off -> on | chrF off -> on | time off -> on "
            "| detectors per piece |\n|---|---|---|---|---|---|---|---|\n")
    return head + "".join(
        f"| {r['model']} | {100 * r['loop_rate_off']:.1f}% -> {100 * r['loop_rate_on']:.1f}% | {100 * r['flagged']:.1f}% "
        f"| {100 * r['changed']:.1f}% | {r['bleu_off']:.2f} -> {r['bleu_on']:.2f} | {r['chrf_off']:.2f} -> {r['chrf_on']:.2f} "
        f"| {r['seconds_off']:.1f} s -> {r['seconds_on']:.1f} s | {r['detector_us_per_piece']:.0f} us |\n"
        for r in rows
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", required=True, metavar="NAME=DIR",
                   help="a model to measure, as name=directory (repeat for several)")
    p.add_argument("--src-file", type=Path, default=DATA / "multi30k" / "test_2016_flickr.en")
    p.add_argument("--ref-file", type=Path, default=DATA / "multi30k" / "test_2016_flickr.de")
    p.add_argument("--limit", type=int, default=None, help="first N sentences only (smoke runs)")
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--tokenize", default="13a")
    p.add_argument("--device", default="cpu")
    p.add_argument("--detector-sample", type=int, default=500, help="sentences used to time the detectors")
    p.add_argument("--out", type=Path, default=OUT / "guards" / "results.json")
    args = p.parse_args()
    sources = args.src_file.read_text(encoding="utf-8").splitlines()[: args.limit]
    references = args.ref_file.read_text(encoding="utf-8").splitlines()[: args.limit]
    if len(sources) != len(references) or not sources:
        raise SystemExit(f"{args.src_file} and {args.ref_file} must have the same, non-zero number of lines")
    rows = []
    for spec in args.model:
        name, _, directory = spec.partition("=")
        if not directory:
            name, directory = Path(spec).name, spec
        rows.append(bench_model(name, Path(directory), sources, references, args))
        print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine(), "results": rows}, indent=2) + "\n", encoding="utf-8")
    print("\n" + table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
