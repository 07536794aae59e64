"""Fine-tuning: data reading and order, loss, checkpoints and resume, failures, CLI, torchrun."""

from __future__ import annotations

import errno
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO, make_corpus
from m2m100 import M2M100ForConditionalGeneration, M2M100Tokenizer
from m2m100.errors import ConfigError, DataFormatError, LanguageError, TrainingError
from m2m100.train import Trainer, TrainingConfig, checkpointing
from m2m100.train.data import BatchOptions, BatchStream, DataPosition, DataSpec, make_batches

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Tiny models on a shared 2-core machine: a second thread only adds spin-wait contention (5x slower here).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def reversal_pairs(n: int, seed: int = 1) -> list[tuple[str, str]]:
    """A learnable task: the target is the source with its words in reverse order."""
    return [(s, " ".join(reversed(s.split()))) for s in make_corpus(n, seed=seed)]


@pytest.fixture(scope="module")
def pairs_tsv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.tsv"
    path.write_text("".join(f"{s}\t{t}\n" for s, t in reversal_pairs(300)), encoding="utf-8")
    return path


def config(checkpoint: Path, train_file: Path, output: Path, **overrides) -> TrainingConfig:
    base = dict(model=str(checkpoint), train_file=str(train_file), output_dir=str(output), source_lang="en",
                target_lang="de", max_tokens=384, shuffle_buffer=96, learning_rate=3e-3, warmup_steps=3,
                max_steps=12, save_every=4, log_every=1, progress=False, seed=3)
    return TrainingConfig(**{**base, **overrides})


def weights(directory: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(Path(directory) / "model.safetensors"))


def log_records(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "train_log.jsonl").read_text().splitlines()]


# ----------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------
def test_readers_tsv_jsonl_gz_and_row_languages(tmp_path, tiny_checkpoint):
    tok = M2M100Tokenizer.from_pretrained(tiny_checkpoint)
    tsv = tmp_path / "multi.tsv.gz"
    with gzip.open(tsv, "wt", encoding="utf-8") as handle:
        handle.write("the house\tдом\ten\tru\n\nbirds sing\tптицы поют\n")
    stream = BatchStream(DataSpec(tsv, source_lang="English", target_lang="de"), tok, BatchOptions(), epochs=1)
    batches = [b for b, _ in stream]
    rows = sorted(row[0].item() for b in batches for row in b.labels)  # first label = target language token
    assert rows == sorted([tok.get_lang_id("ru"), tok.get_lang_id("de")])
    assert stream.stats.to_dict() == {"pairs": 2, "skipped_empty": 0, "skipped_too_long": 0}

    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text(json.dumps({"src": "a b", "tgt": "b a", "sl": "fr", "tl": "es"}) + "\n"
                     + json.dumps({"src": "c d", "tgt": "d c"}) + "\n", encoding="utf-8")
    spec = DataSpec(jsonl, source_lang="en", target_lang="de", source_field="src", target_field="tgt",
                    source_lang_field="sl", target_lang_field="tl")
    batches = [b for b, _ in BatchStream(spec, tok, BatchOptions(), epochs=1)]
    sources = sorted(row[0].item() for b in batches for row in b.input_ids)
    assert sources == sorted([tok.get_lang_id("fr"), tok.get_lang_id("en")])


@pytest.mark.parametrize("name, content, message", [
    ("bad.tsv", "one\ttwo\nonly one column\n", "bad.tsv:2: expected 2 tab-separated columns"),
    ("bad.jsonl", '{"source": "a", "target": "b"}\n[1, 2]\n', "bad.jsonl:2: expected a JSON object"),
    ("bad2.jsonl", '{"source": "a"}\n', "bad2.jsonl:1: field 'target' should be a string, it is missing"),
    ("bad3.jsonl", "{not json\n", "bad3.jsonl:1: not valid JSON"),
    ("pairs.csv", "a,b\n", "cannot tell the format"),
])
def test_bad_files_name_file_and_line(tmp_path, tiny_checkpoint, name, content, message):
    tok = M2M100Tokenizer.from_pretrained(tiny_checkpoint)
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message.replace("[", r"\[").replace("]", r"\]")):
        list(BatchStream(DataSpec(path, source_lang="en", target_lang="de"), tok, BatchOptions(), epochs=1))


def test_unknown_row_language_and_missing_default(tmp_path, tiny_checkpoint):
    tok = M2M100Tokenizer.from_pretrained(tiny_checkpoint)
    path = tmp_path / "langs.tsv"
    path.write_text("a\tb\ten\tde\nc\td\ten\tklingon\n", encoding="utf-8")
    with pytest.raises(LanguageError, match=r"langs.tsv:2: target language"):
        list(BatchStream(DataSpec(path), tok, BatchOptions(), epochs=1))
    path.write_text("a\tb\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"langs.tsv:1: the row names no language"):
        list(BatchStream(DataSpec(path), tok, BatchOptions(), epochs=1))
    path.write_bytes(b"ok\tfine\n\xff\xfe\tx\n")
    with pytest.raises(DataFormatError, match=r"langs.tsv:2: not valid UTF-8"):
        list(BatchStream(DataSpec(path, source_lang="en", target_lang="de"), tok, BatchOptions(), epochs=1))


def test_token_budget_batches():
    lengths = [5, 40, 7, 12, 3, 30, 30, 8, 100]
    batches = make_batches(lengths, max_tokens=60)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 60 or len(batch) == 1
    assert make_batches(lengths, 1000, max_sentences=4) and all(len(b) <= 4 for b in make_batches(lengths, 1000, 4))


def test_stream_is_deterministic_and_resumes_from_any_position(pairs_tsv, tiny_checkpoint):
    tok = M2M100Tokenizer.from_pretrained(tiny_checkpoint)
    options = BatchOptions(max_tokens=256, shuffle_buffer=70, seed=5)  # several chunks per epoch
    spec = DataSpec(pairs_tsv, source_lang="en", target_lang="de")
    full = list(BatchStream(spec, tok, options, epochs=2))
    assert [b.labels.tolist() for b, _ in full] == [b.labels.tolist() for b, _ in BatchStream(spec, tok, options, epochs=2)]
    epoch0 = [b for b, p in full if p.epoch == 0 or (p.epoch == 1 and p.chunk == 0 and p.batch == 0)]
    assert sum(len(b.labels) for b in epoch0) == 300  # every pair once per epoch
    assert full[0][0].labels.tolist() != full[len(epoch0)][0].labels.tolist()  # epochs are shuffled differently
    for k in (1, 7, len(epoch0) - 1, len(epoch0) + 3):
        position = DataPosition.from_dict(json.loads(json.dumps(full[k - 1][1].to_dict())))
        rest = list(BatchStream(spec, tok, options, epochs=2, start=position))
        assert [b.labels.tolist() for b, _ in rest] == [b.labels.tolist() for b, _ in full[k:]]


# ----------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------
def test_loss_falls_and_checkpoint_loads_in_transformers(tmp_path, tiny_checkpoint, pairs_tsv):
    out = tmp_path / "run"
    result = Trainer(config(tiny_checkpoint, pairs_tsv, out, max_steps=40, save_every=20, log_every=5,
                            valid_file=str(pairs_tsv), eval_every=20)).train()
    losses = [loss for _, loss in result.losses]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert result.steps == 40 and last < 0.8 * first, (first, last)
    records = log_records(out)
    assert [r["step"] for r in records if "loss" in r] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert all(r["tokens_per_s"] > 0 for r in records if "loss" in r)
    valid = [r["valid_loss"] for r in records if r.get("event") == "valid"]
    assert len(valid) == 2 and valid[1] < valid[0]
    assert [p.name for p in checkpointing.list_checkpoints(out / "checkpoints")] == ["step-00000020", "step-00000040"]

    # The final directory is a hub-layout model: ours, transformers and the Translator load it, same logits.
    for name in ("config.json", "model.safetensors", "sentencepiece.bpe.model", "vocab.json", "tokenizer_config.json"):
        assert (out / name).is_file(), name
    transformers = pytest.importorskip("transformers")
    ours = M2M100ForConditionalGeneration.from_pretrained(out)
    theirs = transformers.M2M100ForConditionalGeneration.from_pretrained(out).eval()
    tok = M2M100Tokenizer.from_pretrained(out, src_lang="en", tgt_lang="de")
    enc = tok(["the house is green", "we walk to school every morning"], text_target=["green is house the", "x"],
              padding=True, return_tensors="pt")
    inputs = dict(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                  decoder_input_ids=enc["labels"].masked_fill(enc["labels"] == -100, 1))
    with torch.no_grad():
        assert torch.equal(ours(**inputs).logits, theirs(**inputs).logits)
    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    assert hf_tok("the house is green")["input_ids"] == tok("the house is green")["input_ids"]
    from m2m100 import Translator

    assert isinstance(Translator.from_pretrained(out, device="cpu").translate("the house", "en", "de", max_new_tokens=5), str)


def test_bf16_checkpointing_and_freezing(tmp_path, tiny_checkpoint, pairs_tsv):
    out = tmp_path / "frozen"
    before = weights(tiny_checkpoint)
    result = Trainer(config(tiny_checkpoint, pairs_tsv, out, max_steps=3, bf16=True, gradient_checkpointing=True,
                            freeze_embeddings=True, freeze_encoder=True)).train()
    after = weights(out)
    assert result.steps == 3 and all(torch.isfinite(t).all() for t in after.values())
    for name, tensor in after.items():
        frozen = name.startswith("model.encoder.") or name == "model.shared.weight"
        assert torch.equal(tensor, before[name]) == frozen, name


def test_chunked_loss_is_the_default_and_trains_like_the_plain_loss(tmp_path, tiny_checkpoint, pairs_tsv):
    from m2m100.train.cli import add_arguments, config_from_args

    runs = {}
    for chunked in (True, False):
        trainer = Trainer(config(tiny_checkpoint, pairs_tsv, tmp_path / str(chunked), max_steps=6, chunked_loss=chunked,
                                 valid_file=str(pairs_tsv)))
        logits_made = []
        trainer.raw.lm_head.register_forward_hook(lambda m, i, o: logits_made.append(o.shape))
        result = trainer.train()
        runs[chunked] = [r for r in log_records(tmp_path / str(chunked)) if "loss" in r], result, logits_made
    (chunked_log, chunked_result, chunked_logits), (plain_log, plain_result, plain_logits) = runs[True], runs[False]
    assert chunked_logits == [] and len(plain_logits) >= 6  # the default never builds (tokens, vocab) logits
    # Same loss, smoothed and not, step by step (float rounding apart), and the same validation loss.
    for key in ("loss", "nll_loss", "grad_norm"):
        assert [r[key] for r in chunked_log] == pytest.approx([r[key] for r in plain_log], rel=1e-4), key
    assert chunked_result.valid_loss == pytest.approx(plain_result.valid_loss, rel=1e-4)

    parser = __import__("argparse").ArgumentParser()
    add_arguments(parser)
    base = ["--model", "m", "--train", "t", "--output", "o"]
    assert config_from_args(parser.parse_args(base)).chunked_loss is True
    assert config_from_args(parser.parse_args([*base, "--no-chunked-loss"])).chunked_loss is False


def test_resume_after_interruption_gives_identical_parameters(tmp_path, tiny_checkpoint, pairs_tsv):
    # dropout > 0 and accumulation so that RNG state and the schedule both have to be restored exactly
    common = dict(dropout=0.1, grad_accum=2, max_steps=10, save_every=4)
    reference = Trainer(config(tiny_checkpoint, pairs_tsv, tmp_path / "ref", **common))
    reference.train()

    out = tmp_path / "killed"
    trainer = Trainer(config(tiny_checkpoint, pairs_tsv, out, **common))
    step = trainer._train_step

    class Killed(BaseException):
        pass

    def dying_step(batches):
        stats = step(batches)
        if trainer.step == 6:  # after the step-4 checkpoint: steps 5 and 6 are lost and must be redone
            raise Killed
        return stats

    trainer._train_step = dying_step
    with pytest.raises(Killed):
        trainer.train()
    with pytest.raises(ConfigError, match="--resume"):
        Trainer(config(tiny_checkpoint, pairs_tsv, out, **common))
    resumed = Trainer(config(tiny_checkpoint, pairs_tsv, out, resume=True, **common))
    assert resumed.step == 4
    resumed.train()
    ref, got = weights(tmp_path / "ref"), weights(out)
    assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)
    ref_losses = [r["loss"] for r in log_records(tmp_path / "ref") if "loss" in r]
    got_losses = {r["step"]: r["loss"] for r in log_records(out) if "loss" in r}  # later lines win
    assert [got_losses[s] for s in range(1, 11)] == ref_losses
    with pytest.raises(ConfigError, match="data order"):
        Trainer(config(tiny_checkpoint, pairs_tsv, out, resume=True, **{**common, "seed": 99}))


def test_sigkill_mid_run_then_resume(tmp_path, tiny_checkpoint, pairs_tsv):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    args = [sys.executable, "-m", "m2m100.train", "--model", str(tiny_checkpoint), "--train", str(pairs_tsv),
            "--source", "en", "--target", "de", "--max-tokens", "384", "--lr", "3e-3", "--max-steps", "24",
            "--save-every", "5", "--seed", "3", "--dropout", "0.1", "--no-progress"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*args, "--output", str(killed)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (killed / "checkpoints" / "step-00000010").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    latest = checkpointing.find_latest(killed / "checkpoints")
    assert latest is not None and checkpointing.checkpoint_step(latest) < 24
    subprocess.run([*args, "--output", str(killed), "--resume"], env=env, check=True, capture_output=True)
    subprocess.run([*args, "--output", str(tmp_path / "ref")], env=env, check=True, capture_output=True)
    ref, got = weights(tmp_path / "ref"), weights(killed)
    assert all(torch.equal(ref[k], got[k]) for k in ref)


# ----------------------------------------------------------------------------------------------------------------
# Failures
# ----------------------------------------------------------------------------------------------------------------
def test_failed_save_keeps_previous_checkpoint(tmp_path, tiny_checkpoint, pairs_tsv, monkeypatch):
    out = tmp_path / "diskfull"
    real_save = checkpointing.save_torch

    def disk_full(obj, path):
        if "step-00000008" in str(path):
            Path(path).write_bytes(b"half")  # part of the file made it to disk
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, path)

    monkeypatch.setattr(checkpointing, "save_torch", disk_full)
    with pytest.raises(TrainingError, match="No space left on device.*previous checkpoint is intact.*step-00000004"):
        Trainer(config(tiny_checkpoint, pairs_tsv, out)).train()
    root = out / "checkpoints"
    assert [p.name for p in root.iterdir()] == ["step-00000004"]  # no half checkpoint left behind
    assert checkpointing.verify(root / "step-00000004")["step"] == 4
    M2M100ForConditionalGeneration.from_pretrained(root / "step-00000004")
    assert any(r.get("event") == "save_failed" for r in log_records(out))

    # A crash mid-save leaves a temporary directory: never picked up, removed on the next start.
    (root / ".tmp-step-00000008-12345").mkdir()
    (root / ".tmp-step-00000008-12345" / "model.safetensors").write_bytes(b"partial")
    monkeypatch.setattr(checkpointing, "save_torch", real_save)
    resumed = Trainer(config(tiny_checkpoint, pairs_tsv, out, resume=True))
    assert resumed.step == 4 and not (root / ".tmp-step-00000008-12345").exists()
    assert resumed.train().steps == 12


def test_damaged_latest_checkpoint_falls_back(tmp_path, tiny_checkpoint, pairs_tsv):
    out = tmp_path / "damaged"
    Trainer(config(tiny_checkpoint, pairs_tsv, out, max_steps=8)).train()
    latest = out / "checkpoints" / "step-00000008"
    data = (latest / "model.safetensors").read_bytes()
    (latest / "model.safetensors").write_bytes(data[: len(data) // 2])  # truncated by a failing disk
    assert checkpointing.find_latest(out / "checkpoints").name == "step-00000004"


def test_nan_batch_is_skipped(tmp_path, tiny_checkpoint, pairs_tsv):
    trainer = Trainer(config(tiny_checkpoint, pairs_tsv, tmp_path / "nan", max_steps=6))
    calls = []

    def poison(module, inputs, output):
        calls.append(1)
        return output * float("nan") if len(calls) == 3 else output

    trainer.raw.model.decoder.layer_norm.register_forward_hook(poison)  # the chunked loss never calls lm_head
    result = trainer.train()
    assert result.steps == 6 and result.skipped_steps == 1
    events = [r for r in log_records(tmp_path / "nan") if r.get("event") == "skipped_step"]
    assert len(events) == 1 and events[0]["reason"] == "non-finite loss" and events[0]["loss"] == "nan"
    assert all(torch.isfinite(t).all() for t in weights(tmp_path / "nan").values())


def test_repeated_nan_stops_and_nan_weights_are_never_saved(tmp_path, tiny_checkpoint, pairs_tsv):
    out = tmp_path / "nans"
    trainer = Trainer(config(tiny_checkpoint, pairs_tsv, out, max_bad_steps=3))
    calls = []
    trainer.raw.model.decoder.layer_norm.register_forward_hook(
        lambda m, i, o: (calls.append(1), o * float("inf") if len(calls) > 5 else o)[1])
    with pytest.raises(TrainingError, match="3 steps in a row had a non-finite loss"):
        trainer.train()
    assert trainer.step == 5 and trainer.skipped == 3
    assert [p.name for p in checkpointing.list_checkpoints(out / "checkpoints")] == ["step-00000004"]

    with torch.no_grad():
        trainer.raw.model.decoder.layers[0].fc1.weight[0, 0] = float("nan")
    with pytest.raises(TrainingError, match="non-finite weights"):
        trainer.save_checkpoint()
    assert [p.name for p in checkpointing.list_checkpoints(out / "checkpoints")] == ["step-00000004"]


# ----------------------------------------------------------------------------------------------------------------
# Command line and torchrun
# ----------------------------------------------------------------------------------------------------------------
def test_cli_train_and_errors(tmp_path, tiny_checkpoint, capsys):
    from m2m100.cli import main

    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"source": s, "target": t, "source_lang": "en", "target_lang": lang}) + "\n"
                            for (s, t), lang in zip(reversal_pairs(40), ["de", "fr"] * 20)), encoding="utf-8")
    out = tmp_path / "cli"
    code = main(["train", "--model", str(tiny_checkpoint), "--train", str(data), "--output", str(out),
                 "--max-steps", "2", "--no-progress", "--valid", str(data)])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["steps"] == 2 and summary["valid_loss"] > 0
    assert (out / "model.safetensors").is_file()

    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\tc\n", encoding="utf-8")
    code = main(["train", "--model", str(tiny_checkpoint), "--train", str(bad), "--output", str(tmp_path / "x"),
                 "--source", "en", "--target", "de", "--no-progress"])
    assert code == 1 and "bad.tsv:1: expected 2 tab-separated columns" in capsys.readouterr().err


@pytest.fixture(scope="module")
def single_process_reference(tmp_path_factory, tiny_checkpoint, pairs_tsv) -> Path:
    out = tmp_path_factory.mktemp("single")
    # Same global batch as 2 processes x 1 batch: 1 process x 2 accumulated batches.
    Trainer(config(tiny_checkpoint, pairs_tsv, out, max_steps=6, grad_accum=2, save_every=3)).train()
    return out


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_torchrun_two_processes_match_single_process(tmp_path, tiny_checkpoint, pairs_tsv, single_process_reference,
                                                     strategy):
    single, steps = single_process_reference, 6
    out = tmp_path / strategy
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "m2m100.train",
         "--model", str(tiny_checkpoint), "--train", str(pairs_tsv), "--output", str(out), "--source", "en",
         "--target", "de", "--max-tokens", "384", "--shuffle-buffer", "96", "--lr", "3e-3", "--warmup-steps", "3",
         "--max-steps", str(steps), "--save-every", "3", "--log-every", "1", "--seed", "3", "--no-progress",
         "--device", "cpu", "--strategy", strategy],
        env=env, capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    start = [r for r in log_records(out) if r.get("event") == "start"]
    assert len(start) == 1 and start[0]["world_size"] == 2 and start[0]["strategy"] == strategy  # rank 0 alone writes
    single_losses = [r["loss"] for r in log_records(single) if "loss" in r]
    losses = [r["loss"] for r in log_records(out) if "loss" in r]
    assert len(losses) == steps
    assert losses == pytest.approx(single_losses, rel=1e-4)
    assert [r["tokens"] for r in log_records(out) if "loss" in r] == [r["tokens"] for r in log_records(single) if "loss" in r]
    a, b = weights(single), weights(out)
    # Key biases get no gradient in exact arithmetic (softmax ignores a shift shared by all keys); Adam blows their
    # rounding noise up to lr-sized steps, so they differ between any two summation orders. All else must agree.
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a if not k.endswith("k_proj.bias"))
    assert [p.name for p in checkpointing.list_checkpoints(out / "checkpoints")] == ["step-00000003", "step-00000006"]
    # the saved model has the same files whatever the strategy (FSDP saves gathered weights through a stand-in)
    assert (out / "generation_config.json").read_text() == (single / "generation_config.json").read_text()
