"""Shared fixtures: generated multilingual text, self-trained sentencepiece models, tiny hub-layout checkpoints.

Nothing here needs the network or ../shared/data; tests that use the shared data find it through
M2M100_DATA (default ../shared/data next to the repository) and skip cleanly without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Tiny models: one thread beats two (no contention with the other test process or thread-pool overhead).
torch.set_num_threads(1)
# Tiny random models loop and mix scripts, so the quality guards (on by default) would retry most of their
# output; the suite's parity tests compare raw decodes with transformers. Guard tests turn them on explicitly.
os.environ.setdefault("M2M100_GUARDS", "0")

from builders import (  # noqa: E402,F401  (re-exported: tests import these names from conftest)
    DATA_DIR, REPO, TINY, WORDS, build_checkpoint, greedy_generation, make_corpus, random_state_init,
    save_random_model,
    train_sentencepiece, write_tokenizer_files, write_vocab_json,
)


@pytest.fixture(scope="session")
def spm_bpe(tmp_path_factory) -> Path:
    return train_sentencepiece(tmp_path_factory.mktemp("spm_bpe"), "bpe")


@pytest.fixture(scope="session")
def spm_unigram(tmp_path_factory) -> Path:
    # the generated corpus supports at most ~750 unigram pieces
    return train_sentencepiece(tmp_path_factory.mktemp("spm_unigram"), "unigram", vocab_size=700)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, spm_bpe) -> Path:
    """A tiny random M2M100 checkpoint in Hugging Face layout. Treat as read-only."""
    return build_checkpoint(tmp_path_factory.mktemp("tiny_ckpt"), spm_bpe, seed=0)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.skip(f"shared data not found at {DATA_DIR} (set M2M100_DATA)")
    return DATA_DIR


@pytest.fixture
def no_env_model(monkeypatch):
    """CLI tests name their model: $M2M100_MODEL of the environment must not leak in."""
    monkeypatch.delenv("M2M100_MODEL", raising=False)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """`m2m100 ARGV` in this process: (exit code, stdout, stderr)."""
    from m2m100 import cli

    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
