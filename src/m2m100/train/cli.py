"""`m2m100 train`: argument parsing only; the work is `m2m100.train.trainer`.

Several processes: `torchrun --nproc-per-node N -m m2m100.train ...` (or `--no-python m2m100 train ...`).
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "fine-tune a model on parallel text (TSV or JSONL); runs under torchrun for DDP/FSDP"


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and data")
    g.add_argument("--model", required=True, help="checkpoint directory or hub id to start from")
    g.add_argument("--train", required=True, metavar="FILE",
                   help="parallel data: TSV (source<TAB>target[<TAB>src_lang<TAB>tgt_lang]) or JSONL; .gz allowed")
    g.add_argument("--output", required=True, metavar="DIR", help="where checkpoints, the log and the final model go")
    g.add_argument("--source", help="source language of rows that do not name one")
    g.add_argument("--target", help="target language of rows that do not name one")
    g.add_argument("--valid", metavar="FILE", help="validation file (same format); its loss is logged")
    g.add_argument("--format", default="auto", choices=["auto", "tsv", "jsonl"], help="data format (default: from the file name)")
    g.add_argument("--source-field", default="source", help="JSONL field of the source text (default: source)")
    g.add_argument("--target-field", default="target", help="JSONL field of the target text (default: target)")
    g.add_argument("--source-lang-field", default="source_lang", help="JSONL field of a row's source language")
    g.add_argument("--target-lang-field", default="target_lang", help="JSONL field of a row's target language")

    g = p.add_argument_group("batching")
    g.add_argument("--max-tokens", type=int, default=4096, help="token budget per batch, padding included (default: 4096)")
    g.add_argument("--max-sentences", type=int, help="cap on sentences per batch")
    g.add_argument("--max-source-length", type=int, default=256, help="drop pairs whose source is longer (tokens)")
    g.add_argument("--max-target-length", type=int, default=256, help="drop pairs whose target is longer (tokens)")
    g.add_argument("--shuffle-buffer", type=int, default=100_000,
                   help="pairs read, shuffled and batched at a time; bounds memory for large files (default: 100000)")
    g.add_argument("--grad-accum", type=int, default=1, help="batches per optimizer step and process (default: 1)")

    g = p.add_argument_group("optimisation")
    g.add_argument("--learning-rate", "--lr", type=float, default=5e-5, help="peak learning rate (default: 5e-5)")
    g.add_argument("--warmup-steps", type=int, default=0, help="linear warmup steps (default: 0)")
    g.add_argument("--schedule", default="linear", choices=["linear", "cosine", "inverse_sqrt", "constant"],
                   help="decay after warmup (default: linear to 0 at the last step)")
    g.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    g.add_argument("--epochs", type=int, help="stop after this many passes over the data (default: 1 without --max-steps)")
    g.add_argument("--max-time", type=float, metavar="MINUTES", help="stop (and save) after this many minutes")
    g.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay (default: 0)")
    g.add_argument("--adam-betas", type=float, nargs=2, default=(0.9, 0.98), metavar=("B1", "B2"))
    g.add_argument("--adam-eps", type=float, default=1e-8)
    g.add_argument("--label-smoothing", type=float, default=0.1, help="(default: 0.1)")
    g.add_argument("--no-chunked-loss", dest="chunked_loss", action="store_false",
                   help="compute the loss from the full (tokens x vocabulary) logits instead of chunk by chunk "
                        "(more memory and slower; the same loss within float rounding)")
    g.add_argument("--clip-norm", type=float, default=1.0, help="gradient-norm clipping, 0 disables (default: 1.0)")
    g.add_argument("--dropout", type=float, help="override the model's dropout")
    g.add_argument("--bf16", action="store_true", help="bfloat16 autocast (weights and optimizer stay float32)")
    g.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations: less memory, slower")
    g.add_argument("--freeze-embeddings", action="store_true", help="do not train the shared embeddings / output layer")
    g.add_argument("--freeze-encoder", action="store_true", help="do not train the encoder layers")
    g.add_argument("--seed", type=int, default=1, help="data order and dropout (default: 1)")

    g = p.add_argument_group("checkpoints and logging")
    g.add_argument("--save-every", type=int, default=1000, help="checkpoint every N steps (default: 1000)")
    g.add_argument("--keep-checkpoints", type=int, default=2, help="complete checkpoints kept (default: 2)")
    g.add_argument("--eval-every", type=int, help="validation every N steps (default: at the end only)")
    g.add_argument("--log-every", type=int, default=10, help="a line in train_log.jsonl every N steps (default: 10)")
    g.add_argument("--resume", action="store_true", help="continue from the latest complete checkpoint in --output (a fresh start when there is none)")
    g.add_argument("--max-bad-steps", type=int, default=5,
                   help="stop after this many non-finite steps in a row (default: 5)")
    g.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    g.add_argument("--strategy", default="auto", choices=["auto", "none", "ddp", "fsdp"],
                   help="under torchrun: ddp (default) or fsdp for models that do not fit one device")
    g.add_argument("--no-progress", dest="progress", action="store_const", const=False, default=None,
                   help="no progress bar")


def config_from_args(args: argparse.Namespace):
    from .trainer import TrainingConfig

    return TrainingConfig(
        model=args.model, train_file=args.train, output_dir=args.output, source_lang=args.source,
        target_lang=args.target, valid_file=args.valid, format=args.format, source_field=args.source_field,
        target_field=args.target_field, source_lang_field=args.source_lang_field,
        target_lang_field=args.target_lang_field, max_tokens=args.max_tokens, max_sentences=args.max_sentences,
        max_source_length=args.max_source_length, max_target_length=args.max_target_length,
        shuffle_buffer=args.shuffle_buffer, learning_rate=args.learning_rate, weight_decay=args.weight_decay,
        adam_betas=tuple(args.adam_betas), adam_eps=args.adam_eps, schedule=args.schedule,
        warmup_steps=args.warmup_steps, max_steps=args.max_steps, epochs=args.epochs,
        max_time=args.max_time * 60 if args.max_time is not None else None, label_smoothing=args.label_smoothing,
        chunked_loss=args.chunked_loss,
        grad_accum=args.grad_accum, clip_norm=args.clip_norm or None, bf16=args.bf16,
        gradient_checkpointing=args.gradient_checkpointing, freeze_embeddings=args.freeze_embeddings,
        freeze_encoder=args.freeze_encoder, dropout=args.dropout, seed=args.seed, save_every=args.save_every,
        keep_checkpoints=args.keep_checkpoints, eval_every=args.eval_every, log_every=args.log_every,
        resume=args.resume, max_bad_steps=args.max_bad_steps, device=args.device, strategy=args.strategy,
        progress=args.progress,
    )


def run(args: argparse.Namespace) -> int:
    from ..cli import UsageError
    from ..errors import ConfigError
    from . import distributed
    from .trainer import Trainer

    config = config_from_args(args)
    try:
        config.validate()  # option values: a usage error (exit 2), as in every subcommand
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    trainer = Trainer(config)
    try:
        result = trainer.train()
    finally:
        distributed.shutdown(trainer.ctx)
    if trainer.ctx.is_main:
        summary = {"output": str(result.output_dir), "steps": result.steps, "skipped_steps": result.skipped_steps,
                   "stopped_by": result.stopped_by,
                   "final_loss": round(result.losses[-1][1], 4) if result.losses else None,
                   "valid_loss": round(result.valid_loss, 4) if result.valid_loss is not None else None}
        sys.stdout.write(json.dumps(summary) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m m2m100.train ...` (what torchrun launches): the `m2m100 train` command with its error policy."""
    from ..cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])
