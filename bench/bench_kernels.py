"""The matmul kernels of an m2m100_418M decoding step, timed one by one on this CPU, and the speed they allow.

    python bench/bench_kernels.py [--threads N] [--repeats 5] [--hot] [--ct2 B1,B16,BEAM] [--json OUT]

Which CPU kernel to use for int8 and fp32 is a measurement, not a guess: the answer differs between AVX-512
VNNI CPUs and AVX2-only ones. For every matrix shape of m2m100_418M (d_model 1024, ffn 4096; K x N = 1024 x 1024,
1024 x 4096, 4096 x 1024, and the output projection 1024 x 128,112 and its 16,000-id shortlist) and every row
count M that generation multiplies by it (1, 16, 32 decoding rows; 256, 512 encoder rows), it times

    fp32-linear   F.linear(x, W, b)                                   the eager reference
    fp32-mm       torch.mm(W, x.t()).t() (addmm with a bias)          the drop-in's few-row path (few_rows.py)
    fp32-packed   mkldnn _reorder_linear_weight + _linear_pointwise   prepack=True (packed.py)
    int8-fbgemm   quantize_dynamic, engine "fbgemm"                   int8 weights per output channel,
    int8-onednn   quantize_dynamic, engine "onednn"                   activations quantised per call

and prints microseconds per call and GMAC/s (M x K x N multiply-adds / time; median of --repeats samples after
a warm-up call; small calls are looped so that one sample lasts >= 10 ms). Each call reads its matrix from
memory, as in a decoding step that streams ~300 MB of int8 weights: the bench cycles through copies of a
matrix totalling >= 32 MB. --hot times one copy, which for the 1-16 MB matrices sits partly in cache: on the
AMD EPYC that flattered one-row calls 1.2-1.7x and changed nothing from 16 rows on, where the kernels are
compute-bound. Outputs are checked against F.linear (fp32 paths to 1e-4, int8 to 5% relative error) so a
broken kernel cannot look fast.

The "ceiling" section turns the measured times into the lower bound on seconds for one bench_generate run
(32-token sources, 64 new tokens; greedy batch 1, greedy batch 16, beam 4 x batch 8) if all matmuls ran on one
kernel and nothing else cost time (attention, layer norms, softmax, Python all ignored):

    encoder        12 layers x (4 x 1024x1024 + 1024x4096 + 4096x1024) at M = batch x 32
    cross K/V      12 x 2 x 1024x1024 at M = batch x 32, once per source (shared by its beams)
    per step x 64  12 x (6 x 1024x1024 + 1024x4096 + 4096x1024) + the output projection, at M = batch x beams

i.e. the tokens/s (sentences x 64 / seconds, bench_generate's definition) that no engine built on that kernel
can exceed. With --ct2 (CTranslate2 int8 tokens/s of the three scenarios, from a bench_generate run on the same
machine) it prints the ratio over CTranslate2 that the ceiling leaves room for.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, machine  # noqa: E402

D_MODEL, FFN, VOCAB, SHORTLIST = 1024, 4096, 128112, 16000
LAYERS, SRC_LEN, NEW_TOKENS = 12, 32, 64
# name -> (K in_features, N out_features, bias?, row counts); 256 rows = beam 4 x batch 8's encoder (8 x 32)
SHAPES = {
    "1024x1024": (D_MODEL, D_MODEL, True, (1, 16, 32, 256, 512)),
    "1024x4096": (D_MODEL, FFN, True, (1, 16, 32, 256, 512)),
    "4096x1024": (FFN, D_MODEL, True, (1, 16, 32, 256, 512)),
    "head-128112": (D_MODEL, VOCAB, False, (1, 16, 32, 512)),
    "head-16000": (D_MODEL, SHORTLIST, False, (1, 16, 32, 512)),
}
METHODS = ["fp32-linear", "fp32-mm", "fp32-packed", "int8-fbgemm", "int8-onednn"]
SCENARIOS = {"greedy_b1": (1, 1), "greedy_b16": (16, 1), "beam4_b8": (8, 4)}  # name -> (batch, beams)
MIN_SAMPLE_S = 0.01  # loop a call until one sample lasts this long (timer resolution, thread wake-up)
# Weights are cycled through copies totalling >= COLD_BYTES (4x this machine's 8 MB L3), as a decoding step reads
# ~300 MB of int8 matrices once each: a single hot copy of a 1-4 MB matrix would be timed from cache.
COLD_BYTES, MAX_COPIES = 32 << 20, 32
MAX_CELL_S = 3.0  # slow cells (the full head at 512 rows) take fewer samples, at least 3 when --repeats allows


# ----------------------------------------------------------------------------------------------------------------
# One callable per method, built from the same fp32 weight


def make_kernel(method: str, weight: torch.Tensor, bias: torch.Tensor | None):
    """x (M, K) fp32 -> (M, N) fp32 with `method`'s kernel, or None where this build lacks it."""
    if method == "fp32-linear":
        return lambda x: F.linear(x, weight, bias)
    if method == "fp32-mm":
        if bias is None:
            return lambda x: torch.mm(weight, x.t()).t()
        column = bias.unsqueeze(1)
        return lambda x: torch.addmm(column, weight, x.t()).t()
    if method == "fp32-packed":
        ops = torch.ops.mkldnn
        if not (torch.backends.mkldnn.is_available() and hasattr(ops, "_reorder_linear_weight")):
            return None
        packed = ops._reorder_linear_weight(weight, 16)  # the batch-size hint packed.py uses
        return lambda x: ops._linear_pointwise(x, packed, bias, "none", [], "")
    if method.startswith("int8-"):
        engine = method.split("-", 1)[1]
        if engine not in torch.backends.quantized.supported_engines:
            return None
        torch.backends.quantized.engine = engine  # packing is engine specific: set before quantize_dynamic
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        with torch.no_grad():
            linear.weight.copy_(weight)
            if bias is not None:
                linear.bias.copy_(bias)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao flags eager-mode quantization as deprecated
            qmodel = torch.ao.quantization.quantize_dynamic(
                nn.Sequential(linear), {nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
                dtype=torch.qint8)
        del linear
        module = qmodel[0]

        def run(x):
            torch.backends.quantized.engine = engine  # the op dispatches on the global engine
            return module(x)
        return run
    raise ValueError(f"unknown method {method!r}")


def time_call(fn, x: torch.Tensor, repeats: int, first: float) -> float:
    """Median seconds per call; `first` is the duration of the warm-up call the caller made."""
    loops = max(1, math.ceil(MIN_SAMPLE_S / max(first, 1e-7)))
    samples = repeats if first * loops * repeats <= MAX_CELL_S else max(min(repeats, 3), int(MAX_CELL_S / first))
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(loops):
            fn(x)
        times.append((time.perf_counter() - start) / loops)
    return statistics.median(times)


def relative_error(y: torch.Tensor, reference: torch.Tensor) -> float:
    return float((y - reference).norm() / reference.norm().clamp(min=1e-30))


def weight_copies(method: str, k: int, n: int, hot: bool) -> int:
    """How many copies of the matrix to cycle through so that each call reads it from memory, not from cache."""
    if hot:
        return 1
    return max(1, min(MAX_COPIES, math.ceil(COLD_BYTES / (k * n * (1 if method.startswith("int8") else 4)))))


def round_robin(kernels: list):
    """One callable that runs the next copy's kernel on each call."""
    if len(kernels) == 1:
        return kernels[0]
    turn = itertools.cycle(kernels)
    return lambda x: next(turn)(x)


def measure(methods: list[str], repeats: int, hot: bool) -> list[dict]:
    """One row per (shape, M, method): seconds per call, GMAC/s, relative error against F.linear."""
    rows, gen = [], torch.Generator().manual_seed(0)
    for shape, (k, n, has_bias, ms) in SHAPES.items():
        # a scale like trained weights (values ~ 1/sqrt(K)); random values are as fast as real ones
        weight = torch.randn(n, k, generator=gen) / math.sqrt(k)
        bias = torch.randn(n, generator=gen) * 0.1 if has_bias else None
        inputs = {m: torch.randn(m, k, generator=gen) for m in ms}
        references = {m: F.linear(x, weight, bias) for m, x in inputs.items()}
        for method in methods:
            copies = weight_copies(method, k, n, hot)
            with torch.no_grad():
                start = time.perf_counter()
                kernels = [make_kernel(method, weight if i == 0 else weight.clone(), bias) for i in range(copies)]
                build = (time.perf_counter() - start) / copies
                if kernels[0] is None:
                    print(f"  {shape:<12} {method:<12} not available in this torch build")
                    continue
                kernel, limit = round_robin(kernels), 1e-4 if method.startswith("fp32") else 0.05
                for m in ms:
                    for i in range(copies):  # warm-up: one call per copy, the first checked, the last sizing loops
                        start = time.perf_counter()
                        y = kernel(inputs[m])
                        first = time.perf_counter() - start
                        if i == 0:
                            error = relative_error(y, references[m])
                        del y
                    if not error <= limit:
                        print(f"  WARNING {method} {shape} M={m}: relative error {error:.2e} > {limit:g} (F.linear)")
                    seconds = time_call(kernel, inputs[m], repeats, first)
                    rows.append({"shape": shape, "K": k, "N": n, "M": m, "method": method, "seconds": seconds,
                                 "us": seconds * 1e6, "gmacs": m * k * n / seconds / 1e9, "rel_error": error,
                                 "copies": copies, "build_s": build})
                del kernel, kernels
        del weight, bias, inputs, references
    return rows


# ----------------------------------------------------------------------------------------------------------------
# The ceiling: lower bound on a bench_generate run's seconds from the per-kernel times


def scenario_seconds(t, batch: int, beams: int, head: str) -> dict[str, float]:
    """Matmul seconds of one run, by part; t(shape, M) gives seconds per call."""
    enc_m, rows = batch * SRC_LEN, batch * beams
    encoder = LAYERS * (4 * t("1024x1024", enc_m) + t("1024x4096", enc_m) + t("4096x1024", enc_m))
    cross_kv = LAYERS * 2 * t("1024x1024", enc_m)
    step = LAYERS * (6 * t("1024x1024", rows) + t("1024x4096", rows) + t("4096x1024", rows))
    parts = {"encoder": encoder, "cross_kv": cross_kv, "decoder": NEW_TOKENS * step,
             "output": NEW_TOKENS * t(head, rows)}
    parts["total"] = sum(parts.values())
    return parts


def ceilings(rows: list[dict], ct2: dict[str, float] | None) -> list[dict]:
    times = {(r["method"], r["shape"], r["M"]): r["seconds"] for r in rows}
    out = []
    methods = list(dict.fromkeys(r["method"] for r in rows))
    methods.sort(key=lambda m: m != "int8-fbgemm")  # the int8 engine's kernel first; the others for context
    for method in methods:
        for head in ("head-128112", "head-16000"):
            for name, (batch, beams) in SCENARIOS.items():
                try:
                    parts = scenario_seconds(
                        lambda shape, m, method=method: times[(method, shape, m)], batch, beams, head)
                except KeyError:  # a method missing for some shape
                    continue
                entry = {"method": method, "projection": head, "scenario": name, **parts,
                         "tokens_per_s": batch * NEW_TOKENS / parts["total"]}
                if ct2 and name in ct2:
                    entry["ct2_tokens_per_s"] = ct2[name]
                    entry["ratio_over_ct2"] = entry["tokens_per_s"] / ct2[name]
                out.append(entry)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Report


def print_kernels(rows: list[dict], methods: list[str]) -> None:
    by = {(r["shape"], r["M"], r["method"]): r for r in rows}
    print("\nper call: microseconds | GMAC/s (median)")
    header = f"{'K x N':<12}{'M':>5}" + "".join(f"{m:>24}" for m in methods)
    print(header + "\n" + "-" * len(header))
    for shape, (_, _, _, ms) in SHAPES.items():
        for m in ms:
            cells = []
            for method in methods:
                r = by.get((shape, m, method))
                cells.append(f"{'n/a':>24}" if r is None else f"{r['us']:>13,.0f} | {r['gmacs']:>6.1f}")
            print(f"{shape:<12}{m:>5}" + "".join(cells))


def print_ceilings(entries: list[dict], ct2: dict[str, float] | None) -> None:
    print(f"\nceiling: matmul-only lower bound per run ({SRC_LEN}-token sources, {NEW_TOKENS} new tokens), "
          "seconds -> the tokens/s no engine on that kernel can exceed")
    header = (f"{'kernel':<13}{'projection':<13}{'scenario':<12}" + "".join(
        f"{c:>9}" for c in ("encoder", "crossKV", "decoder", "output", "total s", "tok/s"))
        + (f"{'ct2 int8':>10}{'ratio':>8}" if ct2 else ""))
    print(header + "\n" + "-" * len(header))
    for e in entries:
        line = (f"{e['method']:<13}{e['projection']:<13}{e['scenario']:<12}{e['encoder']:>9.3f}{e['cross_kv']:>9.3f}"
                f"{e['decoder']:>9.3f}{e['output']:>9.3f}")
        line += f"{e['total']:>9.3f}{e['tokens_per_s']:>9.1f}"
        if "ct2_tokens_per_s" in e:
            line += f"{e['ct2_tokens_per_s']:>10.1f}{e['ratio_over_ct2']:>7.2f}x"
        print(line)
    if ct2:
        print("ratio: the most an engine on that kernel can be ahead of CTranslate2 int8 (issue #20 targets 2x); "
              "attention, norms and Python lower it further")


def parse_ct2(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    values = text.split(",")
    if len(values) != len(SCENARIOS):
        raise SystemExit(f"--ct2 takes {len(SCENARIOS)} comma-separated tokens/s ({', '.join(SCENARIOS)}), "
                         f"got {text!r}")
    try:
        return {name: float(v) for name, v in zip(SCENARIOS, values)}
    except ValueError:
        raise SystemExit(f"--ct2 values must be numbers, got {text!r}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=5, help="timed samples per cell (median); default 5")
    parser.add_argument("--hot", action="store_true",
                        help="time one copy of each matrix (cache-resident when small) instead of cycling copies")
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--ct2", help="CTranslate2 int8 tokens/s for greedy_b1,greedy_b16,beam4_b8 (bench_generate)")
    parser.add_argument("--json", type=Path, default=OUT / "bench_kernels.json")
    args = parser.parse_args()
    if args.threads < 1 or args.repeats < 1:
        raise SystemExit("--threads and --repeats must be >= 1")
    ct2 = parse_ct2(args.ct2)

    print(machine())
    torch.set_num_threads(args.threads)
    print(f"threads {torch.get_num_threads()}, repeats {args.repeats}, weights "
          f"{'hot (one copy)' if args.hot else f'cold (copies cycled, >= {COLD_BYTES >> 20} MB)'}, quantized engines "
          f"{torch.backends.quantized.supported_engines}")
    engine = torch.backends.quantized.engine
    start = time.perf_counter()
    try:
        rows = measure(args.methods, args.repeats, args.hot)
    finally:
        torch.backends.quantized.engine = engine
    print_kernels(rows, args.methods)
    entries = ceilings(rows, ct2)
    print_ceilings(entries, ct2)
    print(f"\n{time.perf_counter() - start:.0f} s")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine(), "threads": args.threads, "repeats": args.repeats,
                                     "hot": args.hot, "kernels": rows, "ceilings": entries, "ct2": ct2}, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
