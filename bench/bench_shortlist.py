"""Vocabulary shortlist (issue #20): agreement with the full vocabulary, and speed.

    python bench/bench_shortlist.py                    # the full measurement -> bench/out/shortlist/results.json
                                                       # (roughly 15-25 minutes on an idle 2-core CPU)
    python bench/bench_shortlist.py --quick            # a smoke run: a few sentences, short outputs
    python bench/bench_shortlist.py --parts multi30k   # or flores

(a) multi30k: the Multi30k en->de model (bench/out/multi30k_good, from bench/train_multi30k.py). Shortlist: the
    German side of its training data (train.tsv column 2, min count 1). Test set: test_2016_flickr (1,000
    sentences), batches of 32 sorted by length, greedy and beam 4, fp32 prepacked and int8, each with and
    without the shortlist: ids identical (whole output), top-1 agreement (share of the full-vocabulary output
    tokens inside the kept set, which for greedy is where both pick the same token), reference coverage (share
    of reference tokens inside the kept set), BLEU/chrF (sacrebleu 13a), sentences/s; and greedy batch 1 on the
    first 100 sentences.
(b) flores: the random 418M-architecture checkpoint (bench/out/m2m100_418M_random and its bench tokenizer).
    Shortlist built from the FIRST half of FLORES devtest fra_Latn (lines 1-506); measured on the SECOND half
    (eng_Latn lines 507-1012 as sources, into French). The bench_generate.py setting: exactly 64 new tokens
    (min = max), tokens/s at greedy b1, greedy b16 and beam 4 x b8, fp32 prepacked and int8, with and without.
    Random weights make the agreement figures a floor (any token is as likely as any other), and the bench
    tokenizer has only ~2,000 real pieces (the rest of its 128,004 entries are fillers), so a FLORES-built set is
    far smaller than a real language's share of the real vocabulary: the speed is therefore also measured with
    kept sets padded with random ids to realistic sizes (--sizes, default 8k/16k/32k of 128,112).

Each kept set also holds the batch's source tokens and the special and language tokens; the first call per
language gathers (and packs) its rows once, outside the timings (its cost is reported as build_s).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, OUT, build_418m, machine  # noqa: E402

THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 2))
MODES = {"fp32": dict(prepack=True), "int8": dict(quantize="int8")}
RESULTS = OUT / "shortlist" / "results.json"


def load(directory: Path, mode: str):
    from m2m100 import M2M100ForConditionalGeneration

    return M2M100ForConditionalGeneration.from_pretrained(directory, **MODES[mode]).eval()


def encode(tokenizer, lines: list[str], language: str) -> list[list[int]]:
    tokenizer.src_lang = language
    return [list(map(int, row)) for row in tokenizer(lines)["input_ids"]]


def decode_batches(model, sources: list[list[int]], target_id: int, batch: int, beams: int, new_tokens: int,
                   fixed: bool, shortlist=None) -> tuple[list[list[int]], float]:
    """Outputs per source (generated ids after the forced language token, up to EOS) and the seconds spent.
    Batches are formed longest first; fixed=True forces exactly new_tokens tokens (min = max)."""
    import torch

    order = sorted(range(len(sources)), key=lambda i: -len(sources[i]))
    outputs: list[list[int]] = [[] for _ in sources]
    seconds = 0.0
    for start in range(0, len(order), batch):
        members = order[start:start + batch]
        width = max(len(sources[i]) for i in members)
        ids = torch.full((len(members), width), 1, dtype=torch.long)
        for r, i in enumerate(members):
            ids[r, :len(sources[i])] = torch.tensor(sources[i])
        kwargs = dict(num_beams=beams, max_new_tokens=new_tokens, forced_bos_token_id=target_id, do_sample=False,
                      early_stopping=True, length_penalty=1.0, no_repeat_ngram_size=0)
        if fixed:
            kwargs["min_new_tokens"] = new_tokens
        if shortlist is not None:
            kwargs["vocab_shortlist"] = shortlist
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=ids.ne(1).long(), **kwargs)
        seconds += time.perf_counter() - t0
        for r, i in enumerate(members):
            row = out[r, 2:].tolist()  # after the decoder start and the language token
            outputs[i] = row[:row.index(2)] if 2 in row else [t for t in row if t != 1]
    return outputs, seconds


def agreement(full: list[list[int]], restricted: list[list[int]], kept: set[int],
              sources: list[list[int]]) -> dict:
    """ids identical (share of outputs), top-1 agreement (share of full-vocabulary output tokens inside the kept
    set: shortlist + that sentence's own source tokens, a lower bound for a batch's set)."""
    same = sum(a == b for a, b in zip(full, restricted))
    inside = total = 0
    for out, src in zip(full, sources):
        allowed = kept | set(src)
        inside += sum(t in allowed for t in out)
        total += len(out)
    return {"ids_identical_pct": round(100 * same / len(full), 2),
            "top1_in_kept_pct": round(100 * inside / max(total, 1), 2)}


def warm(model, sources, target_id, shortlist) -> float:
    """One short call: warms the allocator and, with a shortlist, gathers its rows (timed: build_s)."""
    t0 = time.perf_counter()
    decode_batches(model, sources[:1], target_id, 1, 1, 2, True, shortlist)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------------------------
# (a) Multi30k
# ---------------------------------------------------------------------------------------------------------------
def multi30k(args) -> dict:
    import torch

    from m2m100 import VocabShortlist
    from m2m100.auto import AutoTokenizer
    from m2m100.evaluate import read_lines, score

    model_dir = Path(args.multi30k)
    if not (model_dir / "model.safetensors").exists():
        return {"skipped": f"no trained model in {model_dir} (run bench/train_multi30k.py)"}
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    train_tsv = model_dir / "data" / "train.tsv"
    if train_tsv.exists():
        train_de = [line.split("\t")[1].strip() for line in train_tsv.read_text(encoding="utf-8").splitlines()]
        built_from = str(train_tsv) + " column 2"
    else:
        train_de = read_lines(DATA / "multi30k" / "train.de")
        built_from = str(DATA / "multi30k" / "train.de")
    t0 = time.perf_counter()
    shortlist = VocabShortlist.build(tokenizer, {"de": train_de})
    build_s = time.perf_counter() - t0
    kept_ids = shortlist.token_ids("de")
    kept = set(kept_ids)
    limit = args.limit or (40 if args.quick else None)
    src_lines = read_lines(DATA / "multi30k" / "test_2016_flickr.en", limit)
    refs = read_lines(DATA / "multi30k" / "test_2016_flickr.de", limit)
    sources = encode(tokenizer, src_lines, "en")
    ref_ids = [list(map(int, r)) for r in tokenizer(refs, add_special_tokens=False)["input_ids"]]
    covered = sum(t in kept | set(s) for r, s in zip(ref_ids, sources) for t in r)
    result = {"model": str(model_dir), "shortlist_from": built_from, "train_lines": len(train_de),
              "vocab_size": shortlist.vocab_size, "kept_de": len(kept_ids),
              "kept_pct": round(100 * len(kept_ids) / shortlist.vocab_size, 2), "build_s": round(build_s, 2),
              "test_sentences": len(src_lines),
              "reference_coverage_pct": round(100 * covered / sum(map(len, ref_ids)), 2), "runs": {}}
    target = tokenizer.get_lang_id("de")
    kept_tensor = torch.tensor(kept_ids)
    new_tokens = 16 if args.quick else 64
    for mode in args.modes:
        model = load(model_dir, mode)
        for name, batch, beams in (("greedy_b32", 32, 1), ("beam4_b32", 32, 4), ("greedy_b1", 1, 1)):
            subset = sources if batch > 1 else sources[: (10 if args.quick else 100)]
            build = warm(model, subset, target, kept_tensor)
            cells = {}
            for label, sl in (("full", None), ("shortlist", kept_tensor)):
                outs, seconds = decode_batches(model, subset, target, batch, beams, new_tokens, False, sl)
                text = tokenizer.batch_decode([[2, target, *o, 2] for o in outs], skip_special_tokens=True)
                cells[label] = {"outputs": outs, "seconds": seconds, "text": text,
                                "tokens": sum(len(o) + 1 for o in outs)}  # + EOS
            entry = {"sentences": len(subset), "build_s": round(build, 3)}
            entry.update(agreement(cells["full"]["outputs"], cells["shortlist"]["outputs"], kept, subset))
            for label, cell in cells.items():
                entry[label] = {"sent_per_s": round(len(subset) / cell["seconds"], 2),
                                "tok_per_s": round(cell["tokens"] / cell["seconds"], 1)}
                if batch > 1:
                    s = score(cell["text"], refs[:len(subset)], "de", "13a", "en")
                    entry[label].update(bleu=s.bleu, chrf=s.chrf)
            entry["speedup"] = round(cells["full"]["seconds"] / cells["shortlist"]["seconds"], 3)
            result["runs"][f"{mode}/{name}"] = entry
            print(f"multi30k {mode} {name}: {json.dumps(entry)}", file=sys.stderr, flush=True)
        del model
        gc.collect()
    return result


# ---------------------------------------------------------------------------------------------------------------
# (b) FLORES on the random 418M checkpoint
# ---------------------------------------------------------------------------------------------------------------
SCENARIOS = {"greedy_b1": (1, 1), "greedy_b16": (16, 1), "beam4_b8": (8, 4)}


def flores(args) -> dict:
    import torch
    from bench_generate import make_tokenizer_files

    from m2m100 import VocabShortlist
    from m2m100.auto import AutoTokenizer
    from m2m100.evaluate import flores_file, read_lines

    checkpoint = build_418m()
    make_tokenizer_files(checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    directory = DATA / "flores200-devtest"
    french = read_lines(flores_file(directory, "fr"))
    english = read_lines(flores_file(directory, "en"))
    half = len(french) // 2
    shortlist = VocabShortlist.build(tokenizer, {"fr": french[:half]})
    kept_ids = shortlist.token_ids("fr")
    vocab = 128112
    sources = [row[:64] for row in encode(tokenizer, english[half:], "en")]  # 64 tokens at most (bench setting)
    new_tokens = 8 if args.quick else 64
    target = tokenizer.get_lang_id("fr")
    gen = torch.Generator().manual_seed(0)
    sets = {"flores": torch.tensor(kept_ids)}
    sizes = args.sizes if args.sizes is not None else ([] if args.quick else [8000, 16000, 32000])
    for size in sizes:  # realistic sizes: the FLORES set plus random ids
        extra = torch.randperm(vocab, generator=gen)
        extra = extra[~torch.isin(extra, sets["flores"])][: max(0, size - len(kept_ids))]
        padded = torch.unique(torch.cat([sets["flores"], extra]))
        sets[f"{size // 1000}k"] = padded
    result = {"checkpoint": str(checkpoint), "shortlist_from": f"FLORES devtest fra_Latn lines 1-{half}",
              "measured_on": f"eng_Latn -> fr, lines {half + 1}-{len(english)}",
              "kept_fr": len(kept_ids), "kept_pct": round(100 * len(kept_ids) / vocab, 2),
              "new_tokens": new_tokens, "sizes": {k: int(v.numel()) for k, v in sets.items()}, "runs": {}}
    for mode in args.modes:
        model = load(checkpoint, mode)
        for name, (batch, beams) in SCENARIOS.items():
            subset = sources[:batch]
            warm(model, subset, target, None)
            full, full_s = decode_batches(model, subset, target, batch, beams, new_tokens, True)
            entry = {"full_tok_per_s": round(batch * new_tokens / full_s, 2)}
            for label, ids in sets.items():
                if label != "flores" and name == "beam4_b8" and not args.quick:
                    continue  # the size sweep: greedy only (keeps the default run short)
                build = warm(model, subset, target, ids)
                outs, seconds = decode_batches(model, subset, target, batch, beams, new_tokens, True, ids)
                cell = {"tok_per_s": round(batch * new_tokens / seconds, 2), "speedup": round(full_s / seconds, 3),
                        "build_s": round(build, 3)}
                if label == "flores":
                    cell.update(agreement(full, outs, set(kept_ids), subset))
                entry[label] = cell
            result["runs"][f"{mode}/{name}"] = entry
            print(f"flores 418M {mode} {name}: {json.dumps(entry)}", file=sys.stderr, flush=True)
        del model
        gc.collect()
    return result


def report(results: dict) -> None:
    print(f"\nmachine: {results['machine']}, threads {results['threads']}")
    m = results.get("multi30k", {})
    if "runs" in m:
        print(f"\n(a) Multi30k en->de, test_2016_flickr ({m['test_sentences']} sentences); shortlist from "
              f"{m['shortlist_from']}: {m['kept_de']} of {m['vocab_size']} ids ({m['kept_pct']}%), reference "
              f"coverage {m['reference_coverage_pct']}%")
        print(f"{'run':<22}{'ids same %':>11}{'top1 in %':>10}{'BLEU full':>10}{'BLEU sl':>9}{'chrF full':>10}"
              f"{'chrF sl':>9}{'sent/s full':>12}{'sent/s sl':>10}{'speedup':>9}")
        for run, e in m["runs"].items():
            f, s = e["full"], e["shortlist"]
            print(f"{run:<22}{e['ids_identical_pct']:>11}{e['top1_in_kept_pct']:>10}{f.get('bleu', '-'):>10}"
                  f"{s.get('bleu', '-'):>9}{f.get('chrf', '-'):>10}{s.get('chrf', '-'):>9}{f['sent_per_s']:>12}"
                  f"{s['sent_per_s']:>10}{e['speedup']:>9}")
    elif m:
        print(f"\n(a) Multi30k: {m.get('skipped')}")
    fl = results.get("flores")
    if fl:
        print(f"\n(b) random 418M, {fl['measured_on']}, {fl['new_tokens']} new tokens; shortlist from "
              f"{fl['shortlist_from']}: {fl['kept_fr']} ids ({fl['kept_pct']}%); padded sizes {fl['sizes']}")
        labels = list(fl["sizes"])
        print(f"{'run':<18}{'full tok/s':>11}" + "".join(f"{label + ' tok/s (x)':>22}" for label in labels)
              + f"{'ids same %':>11}{'top1 in %':>10}")
        for run, e in fl["runs"].items():
            cells = "".join(f"{e[l]['tok_per_s']:>13} ({e[l]['speedup']:.2f}x)" if l in e else f"{'-':>22}"
                            for l in labels)
            print(f"{run:<18}{e['full_tok_per_s']:>11}{cells}{e['flores']['ids_identical_pct']:>11}"
                  f"{e['flores']['top1_in_kept_pct']:>10}")


def main() -> int:
    import torch

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", default=["multi30k", "flores"], choices=["multi30k", "flores"])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    p.add_argument("--multi30k", default=str(OUT / "multi30k_good"), help="the trained Multi30k model directory")
    p.add_argument("--limit", type=int, default=None, help="Multi30k: first N test sentences only")
    p.add_argument("--sizes", type=int, nargs="*", default=None,
                   help="418M: kept-set sizes for the speed sweep, FLORES set padded with random ids "
                        "(default: 8000 16000 32000; none with --quick)")
    p.add_argument("--quick", action="store_true", help="a smoke run: few sentences, short outputs")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    torch.set_num_threads(THREADS)
    results = {"machine": machine(), "threads": THREADS, "quick": args.quick}
    print(f"machine: {results['machine']}, threads {THREADS}", file=sys.stderr, flush=True)
    if "multi30k" in args.parts:
        results["multi30k"] = multi30k(args)
    if "flores" in args.parts:
        results["flores"] = flores(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report(results)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
