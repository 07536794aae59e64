"""Train a small M2M100-architecture model from scratch on Multi30k en->de, then score it with `m2m100 eval`.

    python bench/train_multi30k.py --minutes 30        # the benchmark (2-core CPU); aim: test BLEU >= 20
    python bench/train_multi30k.py --minutes 2         # an end-to-end smoke run

Steps: (1) a joint en+de sentencepiece model trained on the Multi30k training text, turned into M2M100 tokenizer
files (vocab.json, sentencepiece.bpe.model, tokenizer_config.json) by our own tokenizer; (2) a randomly initialised
M2M100 model of a small config, saved in the hub layout; (3) `m2m100 train` for the time budget: a short
calibration run measures the step time first, so that the linear learning-rate decay ends when the time does;
(4) `m2m100 eval` on test_2016_flickr. Everything lands in bench/out/multi30k_en_de/ (the final model at its top
level: the int8/bf16 quality reference of the performance work); results.json holds the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import DATA, OUT, machine  # noqa: E402

# Sized for ~30 minutes on 2 CPU cores: enough capacity for Multi30k, small enough for several epochs.
MODEL = dict(d_model=256, encoder_layers=3, decoder_layers=3, encoder_attention_heads=4, decoder_attention_heads=4,
             encoder_ffn_dim=1024, decoder_ffn_dim=1024, max_position_embeddings=256, dropout=0.1,
             attention_dropout=0.1, activation_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0,
             init_std=0.02)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kwargs)


def m2m100(*args: str) -> list[str]:
    return [sys.executable, "-m", "m2m100", *args]


def build_tokenizer(data: Path, directory: Path, vocab_size: int) -> None:
    """A joint en+de sentencepiece BPE model and M2M100 tokenizer files around it."""
    import sentencepiece as spm

    from m2m100 import M2M100Tokenizer

    work = directory / "spm"
    work.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        input=[str(data / "train.en"), str(data / "train.de")], model_prefix=str(work / "spm"),
        model_type="bpe", vocab_size=vocab_size, character_coverage=1.0, num_threads=2, minloglevel=2,
        pad_id=-1, bos_id=-1, eos_id=-1, unk_id=0,
    )
    sp = spm.SentencePieceProcessor(model_file=str(work / "spm.model"))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}  # fairseq's dictionary order
    for i in range(sp.get_piece_size()):
        vocab.setdefault(sp.id_to_piece(i), len(vocab))
    (work / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = M2M100Tokenizer(work / "vocab.json", work / "spm.model", src_lang="en", tgt_lang="de")
    tokenizer.save_pretrained(directory)


def build_model(directory: Path, seed: int) -> int:
    import torch

    from m2m100 import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    tokenizer = M2M100Tokenizer.from_pretrained(directory)
    torch.manual_seed(seed)
    config = M2M100Config(vocab_size=len(tokenizer), **MODEL)
    model = M2M100ForConditionalGeneration(config)
    model.save_pretrained(directory)
    return model.num_parameters()


def write_tsv(data: Path, split: str, path: Path) -> int:
    src = (data / f"{split}.en").read_text(encoding="utf-8").splitlines()
    tgt = (data / f"{split}.de").read_text(encoding="utf-8").splitlines()
    assert len(src) == len(tgt), split
    clean = [(" ".join(s.split()), " ".join(t.split())) for s, t in zip(src, tgt)]  # a few lines hold tabs
    path.write_text("".join(f"{s}\t{t}\n" for s, t in clean), encoding="utf-8")
    return len(src)


def train_args(args, init: Path, tsv: Path, valid: Path, output: Path, steps: int) -> list[str]:
    # Short runs (a slow or busy machine) warm up over at most a quarter of their steps.
    return ["train", "--model", str(init), "--train", str(tsv), "--valid", str(valid), "--source", "en",
            "--target", "de", "--output", str(output), "--max-tokens", str(args.max_tokens),
            "--lr", str(args.lr), "--warmup-steps", str(min(args.warmup, steps // 4)), "--label-smoothing", "0.1",
            "--adam-betas", "0.9", "0.98", "--weight-decay", "0.0001", "--clip-norm", "1.0",
            "--save-every", str(args.save_every), "--log-every", "20", "--seed", str(args.seed), "--device", args.device,
            *(["--bf16"] if args.bf16 else [])]


def bf16_is_fast() -> bool:
    """bfloat16 matmuls in hardware (AVX512-BF16 or AMX on CPU; any recent GPU): autocast then pays off."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def calibrate(args, init: Path, data_dir: Path, out: Path, deadline: float) -> int:
    """Steps that fit the budget: the schedule needs a step count, the budget is time. A short run measures the
    steady-state step time (its first logged window, which includes start-up, is left out)."""
    calib = out / "calibration"
    run(m2m100(*train_args(args, init, data_dir / "train.tsv", data_dir / "valid.tsv", calib, 10**6),
               "--max-steps", str(args.calibration_steps), "--log-every", "5", "--save-every", "100000",
               "--no-progress"), stdout=subprocess.DEVNULL)
    records = [json.loads(line) for line in (calib / "train_log.jsonl").read_text().splitlines()]
    timed = [r for r in records if "loss" in r][1:]
    step_s = (timed[-1]["time"] - timed[0]["time"]) / (timed[-1]["step"] - timed[0]["step"])
    shutil.rmtree(calib)
    budget_s = deadline - time.monotonic()
    steps = max(20, int(budget_s * 0.95 / step_s))  # validation and saving take the other 5%
    print(f"step time {step_s:.2f}s -> {steps} steps in {budget_s / 60:.1f} minutes", flush=True)
    return steps


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0, help="wall-clock budget for training (default: 30)")
    p.add_argument("--data", type=Path, default=DATA / "multi30k")
    p.add_argument("--out", type=Path, default=OUT / "multi30k_en_de")
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--max-tokens", type=int, default=4096, help="tokens per batch (default: 4096)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=300, help="warmup steps (at most a quarter of the run)")
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 autocast (default: on where the CPU has bf16 instructions, ~1.7x faster here)")
    p.add_argument("--steps", type=int, help="train this many steps instead of fitting --minutes (skips calibration)")
    p.add_argument("--device", default="cpu", help="training and evaluation device (default: cpu)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--calibration-steps", type=int, default=15)
    p.add_argument("--save-every", type=int, default=500,
                   help="checkpoint every N steps (an early checkpoint is the guards benchmark's weak model)")
    args = p.parse_args()
    if args.bf16 is None:
        args.bf16 = args.device == "cpu" and bf16_is_fast()

    if not (args.data / "train.en").is_file():
        print(f"Multi30k not found in {args.data} (set M2M100_DATA)", file=sys.stderr)
        return 1
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    init, data_dir = out / "init", out / "data"
    data_dir.mkdir(parents=True)
    began = time.monotonic()
    n_train = write_tsv(args.data, "train", data_dir / "train.tsv")
    write_tsv(args.data, "val", data_dir / "valid.tsv")
    build_tokenizer(args.data, init, args.vocab_size)
    n_params = build_model(init, args.seed)
    print(f"model: {n_params / 1e6:.1f}M parameters, vocab {args.vocab_size}; {n_train} training pairs", flush=True)

    deadline = began + args.minutes * 60  # tokenizer, calibration and training all count
    steps = args.steps or calibrate(args, init, data_dir, out, deadline)

    started = time.monotonic()
    budget_s = deadline - started
    run(m2m100(*train_args(args, init, data_dir / "train.tsv", data_dir / "valid.tsv", out, steps),
               "--max-steps", str(steps), *([] if args.steps else ["--max-time", f"{max(budget_s, 60) / 60:.2f}"])))
    train_minutes = (time.monotonic() - started) / 60

    started = time.monotonic()
    scored = run(m2m100("eval", "--model", str(out), "--source", "en", "--target", "de", "--src-file",
                        str(args.data / "test_2016_flickr.en"), "--ref-file", str(args.data / "test_2016_flickr.de"),
                        "--beam", str(args.beam), "--hyp-out", str(out / "test_2016_flickr.hyp.de"), "--json",
                        "--device", args.device, "-q"), stdout=subprocess.PIPE, text=True)
    eval_minutes = (time.monotonic() - started) / 60
    score = json.loads(scored.stdout.strip().splitlines()[0])
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    end = next(r for r in reversed(log) if r.get("event") == "end")
    losses = [r for r in log if "loss" in r]
    results = {
        "machine": machine(), "threads": os.environ.get("OMP_NUM_THREADS"), "minutes_budget": args.minutes,
        "train_minutes": round(train_minutes, 2), "eval_minutes": round(eval_minutes, 2), "steps": end["step"],
        "epochs": round(sum(r["sentences"] for r in losses) / n_train, 2),
        "params_m": round(n_params / 1e6, 2), "model": MODEL, "vocab_size": args.vocab_size,
        "max_tokens": args.max_tokens, "lr": args.lr, "bf16": args.bf16, "beam": args.beam,
        "final_train_loss": losses[-1]["loss"] if losses else None, "valid_loss": end.get("valid_loss"),
        "tokens_per_s": round(sum(r["tokens_per_s"] for r in losses[-5:]) / len(losses[-5:]), 1) if losses else None,
        "test_bleu": score["bleu"], "test_chrf": score["chrf"], "bleu_tokenize": score["tokenize"],
        "bleu_signature": score["bleu_signature"],
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    print(f"\nMulti30k en->de test_2016_flickr: BLEU {score['bleu']:.2f}, chrF {score['chrf']:.2f} "
          f"({score['tokenize']}; {end['step']} steps in {train_minutes:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
