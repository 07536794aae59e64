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
    """Peak resident memory of this process in MB.

    VmHWM (this address space's high-water mark) rather than getrusage's ru_maxrss: Linux carries ru_maxrss
    across fork and exec, so an engine started from a large benchmark process reported the parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# The instruction sets that decide which CPU kernels run (oneDNN / fbgemm pick theirs at run time).
ISA_FLAGS = {
    "avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16", "amx_tile": "AMX", "amx_bf16": "AMX-BF16", "amx_int8": "AMX-INT8",
}


def cpu_model_and_isa() -> tuple[str, list[str]]:
    """(CPU model name, the ISA extensions of ISA_FLAGS it has), read from /proc/cpuinfo (Linux)."""
    import platform

    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return model, [name for flag, name in ISA_FLAGS.items() if flag in flags]


def machine() -> str:
    """One line for a benchmark's header: CPU model, ISA, cores, torch version."""
    import torch

    model, isa = cpu_model_and_isa()
    return (f"{model} [{', '.join(isa) or 'no AVX2'}], {os.cpu_count()} cores, torch {torch.__version__}, "
            f"oneDNN bf16 {'yes' if torch.ops.mkldnn._is_mkldnn_bf16_supported() else 'no'}")
