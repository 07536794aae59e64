"""Generation speed on CPU: m2m100 vs transformers vs CTranslate2, side by side, in one run.

    python bench/bench_generate.py [--repeats 2] [--engines ...] [--scenarios ...]

Setting (the issue's): the random 418M-architecture checkpoint, 32-token sources, exactly 64 new tokens
(min = max), tokens/s = sentences x new tokens / time. Every engine runs in its own subprocess (clean peak
RSS, no shared allocator state), engines alternate within each repeat (in reverse every other repeat), and
all use the same token ids and the same number of threads. The table reports the best repeat per cell and
ratios to transformers fp32 measured in the same run, plus load time (from_pretrained alone), time to ready
(import + load + a first one-token translation) and peak RSS. fp32 ids of m2m100 are checked against
transformers' in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, build_418m, machine, peak_rss_mb  # noqa: E402

SCENARIOS = {"greedy_b1": (1, 1), "greedy_b16": (16, 1), "beam4_b8": (8, 4)}  # name -> (batch, beams)
ENGINES = ["transformers-fp32", "ct2-fp32", "ct2-int8", "m2m100-fp32", "m2m100-int8", "m2m100-bf16"]
# opt-in rows: our fp32 without prepacked weights; int8 / prepacked fp32 decoding over a vocabulary shortlist
EXTRA_ENGINES = ["m2m100-fp32plain", "m2m100-int8+shortlist", "m2m100-fp32+shortlist"]
# "+shortlist" engines keep this many output ids (a target language's share of the 128,112; the random model
# makes which ids irrelevant to speed); bench/bench_shortlist.py measures agreement and the size trade-off
SHORTLIST_SIZE = int(os.environ.get("BENCH_SHORTLIST_SIZE", "16000"))
SRC_LEN, NEW_TOKENS, TGT_LANG = 32, 64, "fr"
THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 2))


def make_tokenizer_files(directory: Path) -> None:
    """vocab.json with 128,004 entries (so the vocabulary is 418M-sized) and a small sentencepiece model."""
    if (directory / "vocab.json").exists():
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from conftest import train_sentencepiece, write_vocab_json

    spm = train_sentencepiece(OUT / "spm_bench", "bpe", vocab_size=2000)
    vocab = write_vocab_json(spm, directory / "vocab.json", drop=0)
    for i in range(128004 - len(vocab)):
        vocab[f"▁filler{i}"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "sentencepiece.bpe.model").write_bytes(spm.read_bytes())
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "M2M100Tokenizer", "language_codes": "m2m100", "num_madeup_words": 8,
        "model_max_length": 1024, "src_lang": "en", "tgt_lang": TGT_LANG,
    }))


def inputs(batch: int, seed: int = 0):
    """Source ids: [__en__] + 30 ordinary tokens + [</s>] = 32 tokens."""
    import torch

    gen = torch.Generator().manual_seed(seed + batch)
    en_id, body = 128004 + 18, torch.randint(10, 128000, (batch, SRC_LEN - 2), generator=gen)
    return torch.cat([torch.full((batch, 1), en_id), body, torch.full((batch, 1), 2)], 1)


def shortlist_ids():
    """SHORTLIST_SIZE ids (seeded): the special and language tokens plus random ones (+shortlist engines)."""
    import torch

    drawn = torch.randperm(128112, generator=torch.Generator().manual_seed(0))
    always = torch.cat([torch.arange(4), torch.arange(128004, 128112)])
    return torch.unique(torch.cat([always, drawn[~torch.isin(drawn, always)][: SHORTLIST_SIZE - len(always)]]))


CT2_TYPES = {"fp32": "float32", "int8": "int8"}


def convert_ct2(checkpoint: Path, quantization: str) -> Path:
    """Convert with CTranslate2's transformers converter, supplying the full vocabulary.

    With transformers 5 the converter's M2M100 vocabulary misses the 100 language tokens (they are no longer
    listed as additional special tokens), so its table is shorter than the model's; we give it the real one.
    """
    out = OUT / f"ct2_{quantization}"
    if (out / "model.bin").exists():
        return out
    import ctranslate2.converters.transformers as ct2t

    vocab = json.loads((checkpoint / "vocab.json").read_text(encoding="utf-8"))
    from m2m100.languages import FAIRSEQ_LANGUAGE_CODES

    tokens = sorted(vocab, key=vocab.get) + [f"__{c}__" for c in FAIRSEQ_LANGUAGE_CODES["m2m100"]]
    tokens += [f"madeupword{i}" for i in range(8)]
    ct2t.M2M100Loader.get_vocabulary = lambda self, model, tokenizer: list(tokens)
    ct2t.TransformersConverter(str(checkpoint)).convert(str(out), quantization=CT2_TYPES[quantization], force=True)
    return out


# ------------------------------------------------------------------------------------------------------
# One engine, all scenarios (runs in a subprocess)
# ------------------------------------------------------------------------------------------------------
def run_engine(engine: str, checkpoint: Path, scenarios: list[str], warmup: bool = True) -> dict:
    import torch

    torch.set_num_threads(THREADS)
    result = {"engine": engine, "scenarios": {}}
    # Load times are for files in the page cache (a restarted server): read this engine's files once first, so
    # the engines that ran before (2.4 GB of CTranslate2 files) do not decide whose files were evicted.
    model_dir = convert_ct2(checkpoint, engine.split("-")[1]) if engine.startswith("ct2") else checkpoint
    for path in (p for p in model_dir.iterdir() if p.is_file()):
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass
    # load_s: building the model from its files (library already imported). ready_s: importing the library,
    # loading, and a first one-token translation, which also pays for whatever loading deferred (transformers
    # memory-maps weights and touches them in the first forward pass).
    ready = time.perf_counter()
    if engine.startswith("ct2"):
        import ctranslate2

        plumbing = time.perf_counter()  # the vocabulary is bench plumbing: not timed
        vocab = json.loads((checkpoint / "vocab.json").read_text(encoding="utf-8"))
        id_to_token = {i: t for t, i in vocab.items()}
        ready += time.perf_counter() - plumbing
        start = time.perf_counter()
        translator = ctranslate2.Translator(str(model_dir), device="cpu", inter_threads=1, intra_threads=THREADS)

        def generate(ids, beams, new_tokens=NEW_TOKENS):
            source = [["__en__"] + [id_to_token[int(i)] for i in row[1:-1]] + ["</s>"] for row in ids]
            out = translator.translate_batch(
                source, target_prefix=[[f"__{TGT_LANG}__"]] * len(source), beam_size=beams,
                max_decoding_length=new_tokens, min_decoding_length=new_tokens, return_scores=False,
            )
            return [len(r.hypotheses[0]) for r in out]
    else:
        if engine.startswith("transformers"):
            import transformers

            transformers.logging.set_verbosity_error()
            model_class = transformers.M2M100ForConditionalGeneration
            start = time.perf_counter()
            model = model_class.from_pretrained(checkpoint).eval()
        else:
            import m2m100

            start = time.perf_counter()
            # fp32 and bf16: weights prepacked for oneDNN (exact; what Translator, CLI and server use on CPU)
            options = {"int8": dict(quantize="int8"), "fp32": dict(prepack=True),
                       "bf16": dict(prepack=True, dtype=torch.bfloat16), "fp32plain": dict(prepack=False)}
            mode = engine.split("-")[1].partition("+")[0]  # "int8+shortlist" loads like "int8"
            model = m2m100.M2M100ForConditionalGeneration.from_pretrained(checkpoint, **options[mode])
        fr_id = 128004 + 24
        # +shortlist engines: the output projection on SHORTLIST_SIZE rows (gathered on the first call, untimed)
        restrict = {"vocab_shortlist": shortlist_ids()} if engine.endswith("+shortlist") else {}

        def generate(ids, beams, new_tokens=NEW_TOKENS):
            with torch.inference_mode():
                out = model.generate(
                    input_ids=ids, attention_mask=torch.ones_like(ids), num_beams=beams, do_sample=False,
                    min_new_tokens=new_tokens, max_new_tokens=new_tokens, forced_bos_token_id=fr_id,
                    early_stopping=True, length_penalty=1.0, no_repeat_ngram_size=0, **restrict,
                )
            if new_tokens == NEW_TOKENS:
                result.setdefault("ids", {})[f"{ids.shape[0]}x{beams}"] = out.tolist()
            return [len(r) for r in out]

    result["load_s"] = time.perf_counter() - start
    generate(inputs(1), 1, new_tokens=1)
    result["ready_s"] = time.perf_counter() - ready

    for name in scenarios:
        batch, beams = SCENARIOS[name]
        ids = inputs(batch)
        if warmup:
            generate(ids[:1], beams)
        t0 = time.perf_counter()
        lengths = generate(ids, beams)
        seconds = time.perf_counter() - t0
        result["scenarios"][name] = {"seconds": seconds, "tokens_per_s": batch * NEW_TOKENS / seconds, "lengths": lengths}
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--engines", nargs="+", default=ENGINES, choices=ENGINES + EXTRA_ENGINES)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    checkpoint = build_418m()
    make_tokenizer_files(checkpoint)
    if args.worker:
        print("RESULT " + json.dumps(run_engine(args.worker, checkpoint, args.scenarios)))
        return
    for engine in args.engines:  # conversions happen once, outside the timed runs
        if engine.startswith("ct2"):
            convert_ct2(checkpoint, engine.split("-")[1])
    runs: dict[str, list[dict]] = {e: [] for e in args.engines}
    for repeat in range(args.repeats):
        # every other repeat runs the engines in reverse, so that no engine always follows the same one (the one
        # before decides what is left in the page cache and how warm the allocator is)
        for engine in args.engines if repeat % 2 == 0 else reversed(args.engines):
            cmd = [sys.executable, __file__, "--worker", engine, "--scenarios", *args.scenarios]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
            if proc.returncode or not line:
                print(f"{engine} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
                continue
            runs[engine].append(json.loads(line[0][7:]))
            print(f"repeat {repeat + 1}: {engine} done", file=sys.stderr)
    report(runs, args.scenarios)


def report(runs: dict[str, list[dict]], scenarios: list[str]) -> None:
    best = {e: {s: max(r["scenarios"][s]["tokens_per_s"] for r in rs) for s in scenarios} for e, rs in runs.items() if rs}
    base = best.get("transformers-fp32")
    print(f"\nmachine: {machine()}, threads {THREADS}; 418M architecture, random weights, {SRC_LEN}-token sources, "
          f"{NEW_TOKENS} new tokens" + (f"; +shortlist: {SHORTLIST_SIZE} kept ids" if any(
              e.endswith("+shortlist") for e in runs) else ""))
    header = f"{'engine':<20}" + "".join(f"{s:>22}" for s in scenarios) + f"{'load s':>9}{'ready s':>9}{'peak RSS MB':>13}"
    print(header)
    for engine, cells in best.items():
        row = f"{engine:<20}"
        for s in scenarios:
            ratio = f" ({cells[s] / base[s]:.2f}x)" if base else ""
            row += f"{cells[s]:>13.1f}{ratio:>9}"
        load = min(r["load_s"] for r in runs[engine])
        ready = min(r["ready_s"] for r in runs[engine])
        rss = max(r["peak_rss_mb"] for r in runs[engine])
        print(row + f"{load:>9.2f}{ready:>9.2f}{rss:>13.0f}")
    reference = runs.get("transformers-fp32")
    for engine in ("m2m100-fp32", "m2m100-fp32plain"):  # the exact modes (prepacked, and the plain drop-in)
        if reference and runs.get(engine):
            same = reference[0].get("ids") == runs[engine][0].get("ids")
            print(f"{engine} ids identical to transformers fp32: {same}")
    print("JSON " + json.dumps(best))


if __name__ == "__main__":
    main()
