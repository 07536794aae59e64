"""The fine-tuning loop: one code path for a single process, DDP and FSDP.

One optimizer step consumes `grad_accum x world_size` consecutive batches of the deterministic stream; rank r
trains on batches r, r + world, ... of them. The loss is a sum over target tokens divided by the token count of
the whole step, so a 2-process run and a 1-process run with twice the accumulation compute the same update.
A step whose loss or gradient is not finite is skipped (no update, data moves on) and logged; `max_bad_steps` in a
row stop training with TrainingError. Checkpoints (see checkpointing.py) hold everything needed to resume
bit-for-bit on CPU: weights, optimizer, schedule, every rank's RNG and the data position.
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, TrainingError
from ..loss import ChunkedCrossEntropy
from . import checkpointing, distributed
from .data import BatchOptions, BatchStream, DataPosition, DataSpec, count_batches, iter_eval_batches
from .optim import SCHEDULES, build_optimizer, freeze, grad_norm_and_clip, label_smoothed_loss, lr_lambda

# Options that say where and how a run resumes, not how it trains: never reported as changed.
RESUME_IGNORED = ("resume", "progress", "model", "output_dir", "device")
# Options that decide which batches come in which order: a resumed run must not change them.
DATA_ORDER_OPTIONS = ("train_file", "format", "seed", "max_tokens", "max_sentences", "max_source_length",
                      "max_target_length", "shuffle_buffer", "source_lang", "target_lang")


@dataclass
class TrainingConfig:
    """Everything `m2m100 train` accepts; see `m2m100 train --help` for the meaning of each option."""

    model: str
    train_file: str
    output_dir: str
    source_lang: str | None = None
    target_lang: str | None = None
    valid_file: str | None = None
    format: str = "auto"
    source_field: str = "source"
    target_field: str = "target"
    source_lang_field: str = "source_lang"
    target_lang_field: str = "target_lang"
    max_tokens: int = 4096
    max_sentences: int | None = None
    max_source_length: int = 256
    max_target_length: int = 256
    shuffle_buffer: int = 100_000
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.98)
    adam_eps: float = 1e-8
    schedule: str = "linear"
    warmup_steps: int = 0
    max_steps: int | None = None
    epochs: int | None = None
    max_time: float | None = None  # seconds; stops (and saves) once exceeded
    label_smoothing: float = 0.1
    chunked_loss: bool = True  # the loss without the (tokens, vocab) logits (m2m100.loss); False: the plain loss
    grad_accum: int = 1
    clip_norm: float | None = 1.0
    bf16: bool = False
    gradient_checkpointing: bool = False
    freeze_embeddings: bool = False
    freeze_encoder: bool = False
    dropout: float | None = None
    seed: int = 1
    save_every: int = 1000
    keep_checkpoints: int = 2
    eval_every: int | None = None
    log_every: int = 10
    resume: bool = False
    max_bad_steps: int = 5
    device: str = "auto"
    strategy: str = "auto"
    progress: bool | None = None

    def validate(self) -> None:
        positive = ("max_tokens", "max_source_length", "max_target_length", "shuffle_buffer", "grad_accum",
                    "save_every", "keep_checkpoints", "log_every", "max_bad_steps")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("max_steps", "epochs", "max_sentences", "eval_every"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive integer or None, got {value!r}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps must be >= 0, got {self.warmup_steps!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}: use one of {', '.join(SCHEDULES)}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")

    def data_spec(self, path: str) -> DataSpec:
        return DataSpec(Path(path), self.format, self.source_lang, self.target_lang, self.source_field,
                        self.target_field, self.source_lang_field, self.target_lang_field)

    def batch_options(self) -> BatchOptions:
        return BatchOptions(self.max_tokens, self.max_sentences, self.max_source_length, self.max_target_length,
                            self.shuffle_buffer, self.seed)


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    skipped_steps: int
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, training loss per token) of each step
    valid_loss: float | None = None
    stopped_by: str = "max_steps"


class MetricsLog:
    """Append-only JSONL of metrics and events, written by rank 0 and flushed per line."""

    def __init__(self, path: Path | None):
        self.handle = open(path, "a", encoding="utf-8") if path is not None else None

    def write(self, **record: Any) -> None:
        if self.handle is not None:
            record = {"time": round(time.time(), 3), **record}
            self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def train(config: TrainingConfig) -> TrainResult:
    """Fine-tune `config.model` on `config.train_file`; the result is a hub-layout model in `config.output_dir`."""
    return Trainer(config).train()


class Trainer:
    def __init__(self, config: TrainingConfig):
        from ..model import M2M100ForConditionalGeneration
        from ..auto import AutoTokenizer

        config.validate()
        self.config = config
        self.ctx = distributed.setup(config.device, config.strategy)
        self.output = Path(config.output_dir)
        self.checkpoints = self.output / "checkpoints"
        self.train_spec = config.data_spec(config.train_file).resolved()
        self.valid_spec = config.data_spec(config.valid_file).resolved() if config.valid_file else None
        if self.ctx.is_main:
            self.output.mkdir(parents=True, exist_ok=True)
            checkpointing.recover(self.checkpoints)
        distributed.barrier(self.ctx)
        self.resume_from = checkpointing.find_latest(self.checkpoints) if config.resume else None
        if not config.resume and checkpointing.list_checkpoints(self.checkpoints):
            raise ConfigError(
                f"{self.checkpoints} already holds checkpoints: pass --resume to continue that run, "
                "or choose another --output"
            )
        state = checkpointing.verify(self.resume_from) if self.resume_from else None
        if state is not None:
            self._check_same_data_order(state.get("config", {}))

        self.tokenizer = AutoTokenizer.from_pretrained(config.model)  # M2M100 or NLLB, as the checkpoint says
        overrides = {"dropout": config.dropout} if config.dropout is not None else {}
        # fp32 master weights whatever the checkpoint stores; bf16 is an autocast choice, not a storage one.
        model = M2M100ForConditionalGeneration.from_pretrained(
            self.resume_from or config.model, dtype=torch.float32, **overrides
        )
        model.contiguous_parameters()  # FSDP refuses the inference layout of the tied output matrix
        freeze(model, embeddings=config.freeze_embeddings, encoder=config.freeze_encoder)
        if config.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        model.to(self.ctx.device).train()
        self.raw = model
        self.model = distributed.wrap(model, self.ctx)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(model, config.learning_rate, config.weight_decay, tuple(config.adam_betas),
                                         config.adam_eps)
        self.total_steps = self._total_steps()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(config.schedule, config.warmup_steps, self.total_steps)
        )
        self.step = 0
        self.skipped = 0
        self.bad_in_a_row = 0
        self.position = DataPosition()
        self.last_saved = None
        self.log = MetricsLog(self.output / "train_log.jsonl" if self.ctx.is_main else None)
        if state is not None:
            self._load_state(self.resume_from, state)
        else:
            _seed_everything(config.seed + self.ctx.rank)

    # -- setup helpers ---------------------------------------------------------------------------------------------
    def _total_steps(self) -> int:
        c = self.config
        if c.max_steps is not None:
            return c.max_steps
        epochs = c.epochs or 1
        per_epoch = count_batches(self.train_spec, self.tokenizer, c.batch_options())
        return max(1, math.ceil(epochs * per_epoch / (c.grad_accum * self.ctx.world_size)))

    def _check_same_data_order(self, saved: dict) -> None:
        now = self._config_record()
        changed = [f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in DATA_ORDER_OPTIONS if k in saved and saved[k] != now[k]]
        if changed:
            raise ConfigError(
                "cannot resume with options that change the data order (" + "; ".join(changed) + "); "
                "use the original options or start a new --output"
            )

    def _config_record(self) -> dict[str, Any]:
        record = asdict(self.config)
        record["train_file"] = str(Path(self.config.train_file).resolve())
        record["adam_betas"] = list(self.config.adam_betas)
        record["world_size"] = self.ctx.world_size
        return record

    def _load_state(self, path: Path, state: dict) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        self.step = int(state["step"])
        self.skipped = int(state.get("skipped_steps", 0))
        self.position = DataPosition.from_dict(state["data_position"])
        self.last_saved = self.step
        optim_state = checkpointing.load_torch(path / checkpointing.OPTIMIZER_FILE)
        set_optimizer_state_dict(self.raw, self.optimizer, optim_state,
                                 options=StateDictOptions(full_state_dict=self.ctx.strategy == "fsdp"))
        self.scheduler.load_state_dict(state["scheduler"])
        rng = checkpointing.load_torch(path / checkpointing.RNG_FILE)
        if len(rng) == self.ctx.world_size:
            checkpointing.set_rng_state(rng[self.ctx.rank])
        else:  # another number of processes: dropout masks cannot replay, the data order still does
            self._warn(f"checkpoint was written by {len(rng)} process(es), this run has {self.ctx.world_size}: "
                       "random state re-seeded")
            _seed_everything(self.config.seed + self.ctx.rank + self.step)
        saved_world = state.get("config", {}).get("world_size", self.ctx.world_size)
        if saved_world * state.get("config", {}).get("grad_accum", self.config.grad_accum) != \
                self.ctx.world_size * self.config.grad_accum:
            self._warn("grad_accum x processes differs from the checkpoint's: steps now take a different number of batches")
        changed = self._apply_options(state.get("config", {}))
        self.log.write(event="resume", step=self.step, checkpoint=str(path), data_position=self.position.to_dict(),
                       changed={k: {"checkpoint": a, "now": b} for k, (a, b) in changed.items()},
                       lr=self.scheduler.get_last_lr()[0])
        self._say(f"resuming from {path} (step {self.step})")
        if changed:
            self._say("options changed since the checkpoint, now applied: "
                      + "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items()))

    def _apply_options(self, saved: dict) -> dict[str, tuple[Any, Any]]:
        """Make this run's options the ones in force after a resume; return those that differ from the
        checkpoint's as {name: (checkpoint value, value now)}.

        Loading the optimizer and scheduler states brings back the old learning rate, weight decay, betas and
        eps: they are overwritten with this run's, and the current rate recomputed from this run's schedule.
        Options read at each step (label smoothing, clipping, ...) apply by themselves.
        """
        now = self._config_record()
        changed = {k: (saved[k], now[k]) for k in sorted(now)
                   if k in saved and saved[k] != now[k] and k not in RESUME_IGNORED}
        c = self.config
        fresh = build_optimizer(self.raw, c.learning_rate, c.weight_decay, tuple(c.adam_betas), c.adam_eps)
        for group, want in zip(self.optimizer.param_groups, fresh.param_groups):
            for key in ("weight_decay", "betas", "eps"):
                group[key] = want[key]
            group["initial_lr"] = c.learning_rate
        self.scheduler.base_lrs = [c.learning_rate] * len(self.optimizer.param_groups)
        # The rate at the resumed step from this run's base rate and schedule: the scheduler's own step() from the
        # step before sets each group's lr and get_last_lr(). Its "called before optimizer.step()" check (only
        # for a checkpoint of step 0) is about a fresh run's order of calls, not a resume.
        self.scheduler.last_epoch -= 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.scheduler.step()
        return changed

    # -- the loop --------------------------------------------------------------------------------------------------
    def train(self) -> TrainResult:
        c = self.config
        result = TrainResult(self.output, self.step, self.skipped)
        per_step = c.grad_accum * self.ctx.world_size
        epochs = c.epochs if c.epochs is not None else (None if c.max_steps is not None else 1)
        data = BatchStream(self.train_spec, self.tokenizer, c.batch_options(), epochs, self.position)
        stream = iter(data)
        show = self.ctx.is_main and (c.progress if c.progress is not None else sys.stderr.isatty())
        bar = _progress(self.total_steps, self.step, show)
        self.log.write(event="start", step=self.step, total_steps=self.total_steps, world_size=self.ctx.world_size,
                       device=str(self.ctx.device), strategy=self.ctx.strategy, config=self._config_record())
        start = time.monotonic()
        window = _Window()
        result.stopped_by = "max_steps"
        try:
            while self.step < self.total_steps:
                items = _take(stream, per_step)
                if not items:
                    result.stopped_by = "epochs"
                    break
                self.position = items[-1][1]
                stats = self._train_step([batch for batch, _ in items])
                if stats is None:
                    continue
                window.add(stats)
                result.losses.append((self.step, stats["loss"] / stats["tokens"]))
                bar.update(1)
                bar.set_postfix(loss=f"{stats['loss'] / stats['tokens']:.3f}",
                                tok_s=f"{window.tokens / max(window.elapsed(), 1e-9):.0f}")
                if self.step % c.log_every == 0 or self.step == self.total_steps:
                    self.log.write(**window.record(self.step, self.position.epoch,
                                                   self.scheduler.get_last_lr()[0], self.skipped))
                    window = _Window()
                if self.valid_spec is not None and c.eval_every and self.step % c.eval_every == 0:
                    result.valid_loss = self.validate()
                if self.step % c.save_every == 0:
                    self.save_checkpoint()
                if c.max_time is not None and distributed.broadcast_object(
                        time.monotonic() - start >= c.max_time, self.ctx):
                    result.stopped_by = "max_time"
                    break
            if window.steps:  # stopped between two log lines (time limit, end of data)
                self.log.write(**window.record(self.step, self.position.epoch, self.scheduler.get_last_lr()[0],
                                               self.skipped))
            if self.valid_spec is not None and (not c.eval_every or self.step % c.eval_every):
                result.valid_loss = self.validate()
            if self.last_saved != self.step:
                self.save_checkpoint()
            self.export(self.output)
        finally:
            bar.close()
        self.log.write(event="end", step=self.step, skipped_steps=self.skipped, stopped_by=result.stopped_by,
                       valid_loss=result.valid_loss, elapsed_s=round(time.monotonic() - start, 3),
                       data=data.stats.to_dict())
        if data.stats.too_long or data.stats.empty:
            self._warn(f"training data: {data.stats.too_long} pairs longer than --max-source/target-length and "
                       f"{data.stats.empty} with an empty side were left out")
        self.log.close()
        result.steps, result.skipped_steps = self.step, self.skipped
        return result

    def _forward_loss(self, module, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(label-smoothed loss summed over target tokens, NLL summed over them, detached)."""
        from ..model import shift_tokens_right

        cfg = self.raw.config
        batch = batch.to(self.ctx.device)
        decoder_input_ids = shift_tokens_right(batch.labels, cfg.pad_token_id, cfg.decoder_start_token_id)
        inputs = dict(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                      decoder_input_ids=decoder_input_ids, use_cache=False)
        with torch.autocast(self.ctx.device.type, dtype=torch.bfloat16, enabled=self.config.bf16):
            if self.config.chunked_loss:
                # Inside the model's forward, so that DDP/FSDP see the output projection used where they expect it.
                loss_fn = ChunkedCrossEntropy(self.config.label_smoothing, reduction="sum")
                out = module(**inputs, labels=batch.labels, chunked_loss=loss_fn)
                return out.loss, out.nll_loss
            logits = module(**inputs).logits
        return label_smoothed_loss(logits, batch.labels, self.config.label_smoothing)

    def _train_step(self, batches: list) -> dict[str, float] | None:
        """One optimizer step over `batches` (this rank takes its share); None when the step was skipped."""
        world, rank = self.ctx.world_size, self.ctx.rank
        total_tokens = sum(b.n_tokens for b in batches)
        mine = batches[rank::world]
        micro_steps = math.ceil(len(batches) / world)  # the same on every rank, so collectives line up
        self.optimizer.zero_grad(set_to_none=True)
        sums = torch.zeros(2, dtype=torch.float64)
        for i in range(micro_steps):
            # A rank short of batches (end of data) runs a zero-weight copy so that DDP/FSDP collectives still match.
            batch, weight = (mine[i], 1.0) if i < len(mine) else (batches[0], 0.0)
            with distributed.gradient_sync(self.model, self.ctx, enabled=i == micro_steps - 1):
                loss, nll = self._forward_loss(self.model, batch)
                (loss * (weight * world / max(total_tokens, 1))).backward()
            sums += torch.stack([loss.detach(), nll]).double().cpu() * weight
        sums = distributed.all_reduce_sum(sums, self.ctx)
        grad_norm = grad_norm_and_clip(self.params, self.config.clip_norm)
        loss_sum, nll_sum = sums.tolist()
        if not (math.isfinite(loss_sum) and math.isfinite(float(grad_norm))):
            self._skip_step(loss_sum / max(total_tokens, 1), float(grad_norm))
            return None
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        self.bad_in_a_row = 0
        return {"loss": loss_sum, "nll": nll_sum, "tokens": total_tokens, "sentences": sum(len(b.labels) for b in batches),
                "grad_norm": float(grad_norm)}

    def _skip_step(self, loss: float, grad_norm: float) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.skipped += 1
        self.bad_in_a_row += 1
        what = "loss" if not math.isfinite(loss) else "gradient"
        self.log.write(event="skipped_step", reason=f"non-finite {what}", step=self.step, loss=_num(loss),
                       grad_norm=_num(grad_norm), in_a_row=self.bad_in_a_row, data_position=self.position.to_dict())
        self._warn(f"step {self.step + 1}: non-finite {what} (loss {loss}, grad norm {grad_norm}); step skipped "
                   f"({self.bad_in_a_row} in a row)")
        if self.bad_in_a_row >= self.config.max_bad_steps:
            latest = checkpointing.find_latest(self.checkpoints) if self.ctx.is_main else None
            raise TrainingError(
                f"{self.bad_in_a_row} steps in a row had a non-finite {what}; stopping at step {self.step}. "
                f"Last good checkpoint: {latest or 'none'}. Try a lower --learning-rate, more --warmup-steps, "
                "--clip-norm, or check the data."
            )

    # -- validation ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> float:
        """Mean per-token NLL on the validation file (no label smoothing), shared across ranks."""
        # FSDP gathers weights in every forward (a collective), so it runs through the wrapper with equal counts;
        # DDP and single runs use the plain module, which needs no collectives.
        module = self.model if self.ctx.strategy == "fsdp" else self.raw
        batches = list(iter_eval_batches(self.valid_spec, self.tokenizer, self.config.batch_options()))
        world, rank = self.ctx.world_size, self.ctx.rank
        mine = batches[rank::world]
        sums = torch.zeros(2, dtype=torch.float64)
        self.raw.eval()
        try:
            for i in range(math.ceil(len(batches) / world)):
                batch, weight = (mine[i], 1.0) if i < len(mine) else (batches[0], 0.0)
                _, nll = self._forward_loss(module, batch)
                sums += torch.tensor([float(nll), batch.n_tokens], dtype=torch.float64) * weight
        finally:
            self.raw.train()
        nll_sum, tokens = distributed.all_reduce_sum(sums, self.ctx).tolist()
        loss = nll_sum / max(tokens, 1)
        self.log.write(event="valid", step=self.step, valid_loss=round(loss, 6),
                       valid_ppl=round(math.exp(min(loss, 50)), 4), valid_tokens=int(tokens))
        self._say(f"step {self.step}: valid loss {loss:.4f} (ppl {math.exp(min(loss, 50)):.2f})")
        return loss

    # -- saving ----------------------------------------------------------------------------------------------------
    def _model_tensors(self) -> dict[str, torch.Tensor] | None:
        """Full weights on CPU for FSDP (a collective: every rank calls it); None means `save_pretrained` directly."""
        if self.ctx.strategy != "fsdp":
            return None
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        full = get_model_state_dict(self.raw, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return {name: full[name] for name, _ in self.raw.named_parameters()} if self.ctx.is_main else None

    def _write_model(self, directory: Path, tensors: dict[str, torch.Tensor] | None) -> None:
        if tensors is None:
            self.raw.save_pretrained(directory)
        else:
            from ..loading import save_pretrained

            save_pretrained(_TensorsAsModel(tensors, self.raw), directory)
        self.tokenizer.save_pretrained(directory)

    def _check_finite_weights(self) -> None:
        bad = [name for name, p in self.raw.named_parameters() if not torch.isfinite(_local(p.detach())).all()]
        flag = distributed.all_reduce_sum(torch.tensor([float(len(bad))], dtype=torch.float64), self.ctx)
        if flag.item():
            raise TrainingError(f"refusing to save non-finite weights at step {self.step} ({', '.join(bad[:3]) or 'on another rank'}); "
                                "the previous checkpoint is kept")

    def save_checkpoint(self) -> Path | None:
        """Write `checkpoints/step-N` atomically (rank 0), keep the newest `keep_checkpoints`. All ranks call it."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        self._check_finite_weights()
        tensors = self._model_tensors()
        fsdp = self.ctx.strategy == "fsdp"
        optim_state = get_optimizer_state_dict(self.raw, self.optimizer,
                                               options=StateDictOptions(full_state_dict=fsdp, cpu_offload=fsdp))
        rngs = distributed.all_gather_object(checkpointing.rng_state(), self.ctx)
        error = None
        path = None
        if self.ctx.is_main:
            state = {"step": self.step, "skipped_steps": self.skipped, "data_position": self.position.to_dict(),
                     "scheduler": self.scheduler.state_dict(), "config": self._config_record()}

            def write_files(directory: Path) -> None:
                self._write_model(directory, tensors)
                checkpointing.save_torch(optim_state, directory / checkpointing.OPTIMIZER_FILE)
                checkpointing.save_torch(rngs, directory / checkpointing.RNG_FILE)

            try:
                path = checkpointing.write_checkpoint(self.checkpoints, self.step, write_files, state)
                checkpointing.prune(self.checkpoints, self.config.keep_checkpoints)
            except Exception as exc:  # disk full, permissions, ...: the other ranks must hear of it, not hang
                previous = checkpointing.find_latest(self.checkpoints)
                error = (f"could not write the checkpoint of step {self.step} in {self.checkpoints}: {exc}. "
                         f"The previous checkpoint is intact: {previous or 'none'}")
        error = distributed.broadcast_object(error, self.ctx)  # every rank stops together
        if error:
            self.log.write(event="save_failed", step=self.step, error=error)
            raise TrainingError(error)
        self.last_saved = self.step
        self.log.write(event="checkpoint", step=self.step, path=str(path) if path else None)
        return path

    def export(self, directory: Path) -> None:
        """The final model: a hub-layout directory (weights, config, tokenizer) for transformers and Translator."""
        self._check_finite_weights()
        tensors = self._model_tensors()
        if self.ctx.is_main:
            self._write_model(directory, tensors)
            self._say(f"model saved to {directory}")
        distributed.barrier(self.ctx)

    # -- messages --------------------------------------------------------------------------------------------------
    def _say(self, message: str) -> None:
        if self.ctx.is_main and self.config.progress is not False:
            print(message, file=sys.stderr)

    def _warn(self, message: str) -> None:
        if self.ctx.is_main:
            print(f"warning: {message}", file=sys.stderr)


class _TensorsAsModel:
    """Just enough of a model for `loading.save_pretrained`: gathered FSDP weights plus the real config and
    generation config (so an FSDP run saves the same files as the others)."""

    def __init__(self, tensors: dict[str, torch.Tensor], model):
        self._tensors = tensors
        self.config = model.config
        self.generation_config = getattr(model, "generation_config", None)

    def named_parameters(self):
        return iter(self._tensors.items())


class _Window:
    """Sums over the steps between two log lines."""

    def __init__(self):
        self.start = time.monotonic()
        self.loss = self.nll = self.tokens = self.sentences = self.steps = 0
        self.grad_norm = 0.0

    def add(self, stats: dict[str, float]) -> None:
        self.loss += stats["loss"]
        self.nll += stats["nll"]
        self.tokens += stats["tokens"]
        self.sentences += stats["sentences"]
        self.grad_norm += stats["grad_norm"]
        self.steps += 1

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def record(self, step: int, epoch: int, lr: float, skipped: int) -> dict[str, Any]:
        tokens = max(self.tokens, 1)
        return {"step": step, "epoch": epoch, "loss": round(self.loss / tokens, 6), "nll_loss": round(self.nll / tokens, 6),
                "ppl": round(math.exp(min(self.nll / tokens, 50)), 4), "lr": lr,
                "grad_norm": round(self.grad_norm / max(self.steps, 1), 6), "tokens": self.tokens,
                "sentences": self.sentences, "tokens_per_s": round(self.tokens / max(self.elapsed(), 1e-9), 1),
                "skipped_steps": skipped}


def _take(iterator, n: int) -> list:
    out = []
    for item in iterator:
        out.append(item)
        if len(out) == n:
            break
    return out


def _local(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to_local() if hasattr(tensor, "to_local") else tensor  # an FSDP shard (DTensor) or a plain tensor


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    torch.manual_seed(seed)


def _num(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)  # JSON has no NaN/inf


def _progress(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="step", desc="training", dynamic_ncols=True)


__all__ = ["TrainingConfig", "TrainResult", "Trainer", "train"]
