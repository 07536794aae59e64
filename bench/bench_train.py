"""Training-step throughput and memory: transformers' loss, our plain loss and our chunked loss.

    python bench/bench_train.py                                   # 418M and Multi30k architectures (the benchmark)
    python bench/bench_train.py --preset tiny --steps 2 --tokens 256   # a smoke run, seconds

Each preset is a model with random weights built here (seeded) and saved once under bench/out/bench_train/;
each variant then runs in a fresh process (so that one variant's memory does not count against the next):

- transformers: transformers' M2M100ForConditionalGeneration, its logits and its LabelSmoother (what its
  Trainer runs with label_smoothing_factor=0.1);
- plain: our model, full logits and the label-smoothed loss (`m2m100 train --no-chunked-loss`);
- chunked: our model with the chunked loss (`m2m100 train`, the default).

A step is what the trainer does: forward, loss, backward, gradient clipping, AdamW. One warm-up step (AdamW
allocates its state there) is not measured. Reported per variant: target tokens/s (median step) and the peak
resident memory of a step (VmHWM, reset before each step; the whole process: weights, gradients, AdamW state,
activations, loss), and both as ratios to transformers. The issue's targets: peak <= 0.6x, tokens/s >= 1.3x.
The loss column is the warm-up step's (before any update): the same for all three up to dropout masks.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import OUT, REPO, machine, peak_rss_mb  # noqa: E402

# Architectures; the batch is `sentences` rows of `tokens / sentences` target tokens (and as many source tokens).
NO_DROPOUT_NOISE = dict(encoder_layerdrop=0.0, decoder_layerdrop=0.0)  # layerdrop makes step times random
PRESETS = {
    # facebook/m2m100_418M's shape (the M2M100Config defaults), dropout 0.1 as in fine-tuning.
    "418m": dict(config=dict(NO_DROPOUT_NOISE), tokens=3072, sentences=24),
    # bench/train_multi30k.py's model and its 8k-piece tokenizer (len(tokenizer) = 8000 pieces + specials + languages).
    "multi30k": dict(config=dict(d_model=256, encoder_layers=3, decoder_layers=3, encoder_attention_heads=4,
                                 decoder_attention_heads=4, encoder_ffn_dim=1024, decoder_ffn_dim=1024,
                                 max_position_embeddings=256, vocab_size=8108, **NO_DROPOUT_NOISE),
                     tokens=4096, sentences=128),
    # A tiny model on the full 128k vocabulary: the loss is nearly all of the step (the 200 tokens/s case).
    "tiny": dict(config=dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                             decoder_attention_heads=4, encoder_ffn_dim=256, decoder_ffn_dim=256,
                             max_position_embeddings=256, **NO_DROPOUT_NOISE),
                 tokens=2048, sentences=32),
}
VARIANTS = ("transformers", "plain", "chunked")
LABEL_SMOOTHING = 0.1


def checkpoint_dir(preset: str) -> Path:
    """Build (once) and return the preset's random-weight checkpoint in the hub layout."""
    import torch

    from m2m100 import M2M100Config, M2M100ForConditionalGeneration

    directory = OUT / "bench_train" / preset
    if not (directory / "model.safetensors").exists():
        directory.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        M2M100ForConditionalGeneration(M2M100Config(**PRESETS[preset]["config"])).save_pretrained(directory)
    return directory


def make_batch(vocab: int, tokens: int, sentences: int, seed: int = 0) -> dict:
    """Random source and target ids (no specials), 5% of each row's target tail padded with -100."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    length = max(2, tokens // sentences)
    input_ids = torch.randint(4, vocab, (sentences, length), generator=gen)
    labels = torch.randint(4, vocab, (sentences, length), generator=gen)
    pad = length // 20
    if pad:
        labels[::2, -pad:] = -100  # every other row a little shorter, as in length-sorted batches
    return dict(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), labels=labels)


def reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as handle:  # "5" resets VmHWM to the current RSS (Linux)
            handle.write("5")
    except OSError:
        pass


def run_variant(variant: str, preset: str, steps: int, bf16: bool, tokens: int, sentences: int) -> dict:
    """One variant in this process: a warm-up step, then `steps` measured ones."""
    import torch

    directory = checkpoint_dir(preset)
    if variant == "transformers":
        import transformers
        from transformers.models.m2m_100.modeling_m2m_100 import shift_tokens_right
        from transformers.trainer_pt_utils import LabelSmoother

        model = transformers.M2M100ForConditionalGeneration.from_pretrained(directory, dtype=torch.float32)
        smoother = LabelSmoother(epsilon=LABEL_SMOOTHING)

        def loss_of(batch):
            # As transformers' Trainer with label smoothing: labels go to the smoother, not the model (which would
            # compute a second, unsmoothed loss); the decoder inputs are the shifted labels.
            decoder_input_ids = shift_tokens_right(batch["labels"], model.config.pad_token_id,
                                                   model.config.decoder_start_token_id)
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        decoder_input_ids=decoder_input_ids)
            return smoother(out, batch["labels"])
    else:
        from m2m100 import M2M100ForConditionalGeneration
        from m2m100.loss import ChunkedCrossEntropy
        from m2m100.train.optim import label_smoothed_loss

        model = M2M100ForConditionalGeneration.from_pretrained(directory, dtype=torch.float32)
        chunked = ChunkedCrossEntropy(LABEL_SMOOTHING, reduction="sum")

        def loss_of(batch):
            n = (batch["labels"] != -100).sum()
            if variant == "chunked":
                return model(**batch, chunked_loss=chunked).loss / n
            logits = model(**batch).logits
            return label_smoothed_loss(logits, batch["labels"], LABEL_SMOOTHING)[0] / n

    model.train()
    batch = make_batch(model.config.vocab_size, tokens, sentences)
    target_tokens = int((batch["labels"] != -100).sum())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    times, peaks, first_loss = [], [], None
    torch.manual_seed(0)  # the same dropout masks for our two variants (transformers draws its own)
    for step in range(steps + 1):
        reset_peak()
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_of(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        elapsed = time.perf_counter() - start
        if step == 0:
            first_loss = float(loss)
        if step:  # step 0 allocates AdamW's state: a warm-up
            times.append(elapsed)
            peaks.append(peak_rss_mb())
    return {"variant": variant, "preset": preset, "bf16": bf16, "target_tokens": target_tokens,
            "step_s": statistics.median(times), "tokens_per_s": target_tokens / statistics.median(times),
            "peak_rss_mb": max(peaks), "loss": first_loss}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", nargs="+", choices=sorted(PRESETS), default=["418m", "multi30k"])
    p.add_argument("--variant", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--steps", type=int, default=3, help="measured steps per variant (default: 3)")
    p.add_argument("--tokens", type=int, help="target tokens per batch (default: the preset's, 2k-4k)")
    p.add_argument("--sentences", type=int, help="rows per batch (default: the preset's)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast, as `m2m100 train --bf16`")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--json", type=Path, help="append one JSON line per measurement to this file")
    p.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one variant and print its JSON
    args = p.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        preset, variant = args.child.split(":")
        spec = PRESETS[preset]
        result = run_variant(variant, preset, args.steps, args.bf16, args.tokens or spec["tokens"],
                             args.sentences or spec["sentences"])
        print(json.dumps(result))
        return

    print(f"# {machine()}, {torch.get_num_threads()} threads, bf16 autocast: {'on' if args.bf16 else 'off'}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    for preset in args.preset:
        checkpoint_dir(preset)  # built here once, not inside the timed children
        results = {}
        for variant in args.variant:
            cmd = [sys.executable, __file__, "--child", f"{preset}:{variant}", "--steps", str(args.steps)]
            for flag, value in (("--tokens", args.tokens), ("--sentences", args.sentences), ("--threads", args.threads)):
                if value:
                    cmd += [flag, str(value)]
            if args.bf16:
                cmd.append("--bf16")
            run = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if run.returncode:
                print(f"{preset} {variant}: failed\n{run.stderr[-2000:]}", file=sys.stderr)
                continue
            results[variant] = json.loads(run.stdout.strip().splitlines()[-1])
            if args.json:
                with open(args.json, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps({**results[variant], "machine": machine()}) + "\n")
        base = results.get("transformers")
        print(f"\n{preset}: {next(iter(results.values()))['target_tokens'] if results else '?'} target tokens per step")
        print(f"{'variant':<14}{'tokens/s':>10}{'x':>7}{'step s':>9}{'peak RSS MB':>13}{'x':>7}{'loss':>9}")
        for variant, r in results.items():
            speed = f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}" if base else "-"
            memory = f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f}" if base else "-"
            print(f"{variant:<14}{r['tokens_per_s']:>10.1f}{speed:>7}{r['step_s']:>9.2f}{r['peak_rss_mb']:>13.0f}"
                  f"{memory:>7}{r['loss']:>9.4f}")


if __name__ == "__main__":
    main()
