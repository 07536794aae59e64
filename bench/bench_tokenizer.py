"""Batch-encoding speed: m2m100.M2M100Tokenizer against transformers' M2M100Tokenizer on FLORES-200 devtest.

Both tokenizers load the same files: a BPE sentencepiece model with as many pieces as M2M100's dictionary
(128,000 by default) trained here on half of the devtest lines (every other line of the 98 languages; the
trained model is cached under bench/out/), a fairseq-style vocab.json and the hub-style tokenizer_config.json
and special_tokens_map.json. Every devtest line of every language (98 x 1012) is encoded in batches of
`--batch-size` lines with the language's code as src_lang, in alternating runs (reference, ours, reference,
ours, ...); the ids and masks of every batch are checked to be identical in the same run.

    python bench/bench_tokenizer.py                      # defaults: batch 64, padded "pt" tensors, 3 rounds
    python bench/bench_tokenizer.py --return-tensors none --rounds 2
    M2M100_DATA=/path/to/shared/data python bench/bench_tokenizer.py

Needs transformers (the reference) and ../shared/data (or M2M100_DATA).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from m2m100.languages import FAIRSEQ_LANGUAGE_CODES, FLORES200_CODES
from m2m100.tokenizer import M2M100Tokenizer


def data_dir() -> Path:
    return Path(os.environ.get("M2M100_DATA", REPO.parent / "shared" / "data"))


def load_flores() -> dict[str, list[str]]:
    root = data_dir() / "flores200-devtest" / "gz"
    if not root.is_dir():
        sys.exit(f"FLORES-200 devtest not found at {root} (set M2M100_DATA)")
    out = {}
    for code in FAIRSEQ_LANGUAGE_CODES["m2m100"]:
        if code not in FLORES200_CODES:
            continue
        with gzip.open(root / f"{FLORES200_CODES[code]}.devtest.gz", "rt", encoding="utf-8") as handle:
            out[code] = handle.read().splitlines()
    return out


def build_tokenizer_dir(flores: dict[str, list[str]], vocab_size: int, out: Path) -> Path:
    """Train (once) the sentencepiece model and write the checkpoint-style tokenizer files."""
    import sentencepiece as spm

    directory = out / f"tokenizer_bpe{vocab_size}"
    if (directory / "special_tokens_map.json").is_file():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    corpus = directory / "train.txt"
    lines = [line for code in sorted(flores) for line in flores[code][::2]]
    random.Random(0).shuffle(lines)
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    prefix = directory / "spm"
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(prefix), model_type="bpe", vocab_size=vocab_size,
        character_coverage=0.9995, num_threads=2, minloglevel=2,
    )
    corpus.unlink()
    (directory / "sentencepiece.bpe.model").write_bytes(prefix.with_suffix(".model").read_bytes())
    sp = spm.SentencePieceProcessor(model_file=str(directory / "sentencepiece.bpe.model"))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not sp.is_control(i) and not sp.is_unknown(i)]
    random.Random(1).shuffle(pieces)  # fairseq's dictionary order is not sentencepiece's
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for piece in pieces:
        vocab.setdefault(piece, len(vocab))
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=2), encoding="utf-8")
    specials = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    config = {"tokenizer_class": "M2M100Tokenizer", **specials, "src_lang": None, "tgt_lang": None,
              "language_codes": "m2m100", "num_madeup_words": 8, "model_max_length": 1024, "sp_model_kwargs": {}}
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    lang_tokens = [f"__{code}__" for code in FAIRSEQ_LANGUAGE_CODES["m2m100"]]
    (directory / "special_tokens_map.json").write_text(
        json.dumps({**specials, "additional_special_tokens": lang_tokens}, indent=2), encoding="utf-8"
    )
    return directory


def run_pass(tokenizer, batches, kwargs) -> tuple[float, list]:
    outputs = []
    start = time.perf_counter()
    for code, batch in batches:
        tokenizer.src_lang = code
        outputs.append(tokenizer(batch, **kwargs))
    return time.perf_counter() - start, outputs


def same(a, b) -> bool:
    if a.keys() != b.keys():
        return False
    for key in a.keys():
        x, y = a[key], b[key]
        if hasattr(x, "tolist"):
            x, y = x.tolist(), y.tolist()
        if x != y:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--vocab-size", type=int, default=128000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating reference/ours passes of each")
    parser.add_argument("--return-tensors", default="pt", choices=["pt", "np", "none"])
    parser.add_argument("--threads", type=int, default=None,
                        help="sentencepiece threads for ours (default: the tokenizer's choice; -1: all cores)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args()

    import transformers
    from transformers import M2M100Tokenizer as ReferenceTokenizer

    flores = load_flores()
    directory = build_tokenizer_dir(flores, args.vocab_size, args.out)
    reference = ReferenceTokenizer.from_pretrained(str(directory))
    sp_kwargs = {} if args.threads is None else {"num_threads": args.threads}
    ours = M2M100Tokenizer.from_pretrained(str(directory), sp_model_kwargs=sp_kwargs)

    return_tensors = None if args.return_tensors == "none" else args.return_tensors
    kwargs = dict(padding=return_tensors is not None, return_tensors=return_tensors)
    batches = [
        (code, lines[i:i + args.batch_size])
        for code, lines in flores.items()
        for i in range(0, len(lines), args.batch_size)
    ]
    n_lines = sum(len(batch) for _, batch in batches)
    print(f"{len(flores)} languages, {n_lines} lines, {len(batches)} batches of <= {args.batch_size}; "
          f"vocab {len(reference.encoder)} pieces; kwargs {kwargs}; sentencepiece threads {args.threads}")

    ref_times, our_times = [], []
    n_tokens = 0
    for round_index in range(args.rounds):
        ref_time, ref_out = run_pass(reference, batches, kwargs)
        our_time, our_out = run_pass(ours, batches, kwargs)
        mismatches = sum(not same(a, b) for a, b in zip(ref_out, our_out))
        if mismatches:
            sys.exit(f"round {round_index}: {mismatches} batches differ between the tokenizers")
        n_tokens = sum(int(enc["attention_mask"].sum() if return_tensors else sum(map(len, enc["input_ids"])))
                       for enc in our_out)
        ref_times.append(ref_time)
        our_times.append(our_time)
        print(f"round {round_index}: transformers {ref_time:.3f} s, m2m100 {our_time:.3f} s, "
              f"speed-up {ref_time / our_time:.2f}x, ids identical")
    ref_best, our_best = min(ref_times), min(our_times)
    ref_med, our_med = statistics.median(ref_times), statistics.median(our_times)
    print(f"tokens (with specials, unpadded): {n_tokens}")
    print(f"best:   transformers {ref_best:.3f} s ({n_lines / ref_best:,.0f} lines/s), "
          f"m2m100 {our_best:.3f} s ({n_lines / our_best:,.0f} lines/s), speed-up {ref_best / our_best:.2f}x")
    print(f"median: transformers {ref_med:.3f} s, m2m100 {our_med:.3f} s, speed-up {ref_med / our_med:.2f}x")
    print(f"python {platform.python_version()}, transformers {transformers.__version__}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
