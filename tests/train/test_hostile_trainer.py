"""`m2m100 train --resume` with changed hyperparameters (issue #17): applied and logged truthfully."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from m2m100.train import Trainer, TrainingConfig
from m2m100.train.optim import lr_lambda

pytestmark = pytest.mark.hostile


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pairs_tsv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.tsv"
    words = "the house is green and we walk to school every morning".split()
    rows = [" ".join(words[i % 7: i % 7 + 4]) + "\t" + " ".join(reversed(words[i % 7: i % 7 + 4])) for i in range(80)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _config(checkpoint, data, out, **overrides) -> TrainingConfig:
    base = dict(model=str(checkpoint), train_file=str(data), output_dir=str(out), source_lang="en", target_lang="de",
                max_tokens=256, shuffle_buffer=64, learning_rate=1e-3, warmup_steps=0, schedule="constant",
                max_steps=4, save_every=2, log_every=1, progress=False, seed=3)
    return TrainingConfig(**{**base, **overrides})


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_resume_applies_a_changed_learning_rate_and_logs_it(tmp_path, tiny_checkpoint, pairs_tsv):
    out = tmp_path / "run"
    Trainer(_config(tiny_checkpoint, pairs_tsv, out, max_steps=2)).train()
    resumed = Trainer(_config(tiny_checkpoint, pairs_tsv, out, resume=True, max_steps=4, learning_rate=5e-3,
                              weight_decay=0.01, adam_eps=1e-6))
    # The optimizer really uses the new values (the checkpoint's optimizer state held the old ones).
    groups = resumed.optimizer.param_groups
    assert all(g["lr"] == pytest.approx(5e-3) for g in groups)
    assert all(g["eps"] == 1e-6 for g in groups)
    assert groups[0]["weight_decay"] == 0.01 and groups[-1]["weight_decay"] == 0.0
    resumed.train()
    records = _log(out)
    event = next(r for r in records if r.get("event") == "resume")
    assert event["changed"]["learning_rate"] == {"checkpoint": 1e-3, "now": 5e-3}
    assert "adam_eps" in event["changed"] and "weight_decay" in event["changed"]
    steps = {r["step"]: r["lr"] for r in records if "loss" in r}
    assert steps[1] == pytest.approx(1e-3) and steps[2] == pytest.approx(1e-3)
    assert steps[3] == pytest.approx(5e-3) and steps[4] == pytest.approx(5e-3)  # the log tells the truth


def test_resume_with_a_changed_schedule_recomputes_the_rate(tmp_path, tiny_checkpoint, pairs_tsv):
    out = tmp_path / "run"
    Trainer(_config(tiny_checkpoint, pairs_tsv, out, max_steps=2)).train()
    same = Trainer(_config(tiny_checkpoint, pairs_tsv, out, resume=True, max_steps=2))
    assert same._apply_options(same._config_record()) == {}  # nothing changed: nothing reported
    resumed = Trainer(_config(tiny_checkpoint, pairs_tsv, out, resume=True, max_steps=4, schedule="linear",
                              learning_rate=2e-3))
    expected = 2e-3 * lr_lambda("linear", 0, 4)(2)
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(expected)
    assert resumed.scheduler.get_last_lr()[0] == pytest.approx(expected)
