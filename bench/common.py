"""Benchmark helpers: the random 418M-architecture checkpoint, timing, memory."""

from __future__ import annotations

import gc
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = Path(os.environ.get("M2M100_BENCH_DIR", REPO / "bench" / "out"))
DATA = Path(os.environ.get("M2M100_DATA", REPO.parent / "shared" / "data"))


def build_418m(directory: Path | None = None, seed: int = 0) -> Path:
    """A facebook/m2m100_418M-shaped checkpoint with random weights (hub layout), built once and reused."""
    import torch

    sys.path.insert(0, str(REPO / "tests"))
    from m2m100 import M2M100Config, M2M100ForConditionalGeneration

    directory = Path(directory or OUT / "m2m100_418M_random")
    if (directory / "model.safetensors").exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = M2M100ForConditionalGeneration(M2M100Config())
    model.save_pretrained(directory)
    del model
    gc.collect()
    return directory


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    import platform

    import torch

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
