"""Lines/s of `m2m100 translate --ray` (Ray Data, a local Ray on this machine) against the local command.

    python bench/bench_ray.py [--lines 512] [--max-new-tokens 32] [--actors 2] [--ray-cpus 1] [--model PATH]
    python bench/bench_ray.py --tiny --lines 64          # a tiny random model: shows that it runs, in seconds

Both runs translate the same text file (English sentences of 6-30 words from a fixed list, drawn with a fixed
seed) to French with the same options, each as a fresh `python -m m2m100 translate` process, and are timed
end to end: start-up, model loading (once per Ray actor), translation, writing. The Ray run starts its own
local Ray (`--ray`, no address) with `--actors` actors of `--ray-cpus` CPUs; the local run uses
`--threads` torch threads (default: the same CPU total). The two output files must be identical (checked).
Default model: the random 418M-architecture checkpoint of bench/common.py (random weights rarely emit </s>,
so `--max-new-tokens` bounds the work per sentence). Prints a table and a JSON line; writes
bench/out/bench_ray.json. Expect the Ray path to be slower on one machine (Ray start, one model copy per
actor, data through the object store): it pays off across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, REPO, build_418m, machine  # noqa: E402

SENTENCES = [
    "Life is like a box of chocolates.",
    "The house is green and we walk to school every morning.",
    "Birds sing in the trees while the sun rises over the quiet village.",
    "Please send me the report before the meeting on Thursday afternoon.",
    "The museum will be closed for renovation until the end of next year, the city council announced.",
    "She opened the window, looked at the rain and decided to stay at home with a good book.",
    "Scientists have discovered a new species of frog in the mountains of South America.",
    "If you have any questions about your order, do not hesitate to contact our customer service team.",
]


def default_model() -> Path:
    directory = build_418m()
    if not (directory / "vocab.json").exists():
        from bench_generate import make_tokenizer_files

        make_tokenizer_files(directory)
    return directory


def tiny_model() -> Path:
    """The test suite's tiny random checkpoint (a self-trained sentencepiece model), built once."""
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import build_checkpoint, train_sentencepiece

    directory = OUT / "tiny_ray"
    if not (directory / "model.safetensors").exists():
        spm = train_sentencepiece(OUT / "tiny_ray_spm")
        build_checkpoint(directory, spm, seed=0)
    return directory


def run(argv: list[str], threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO / "src")}
    env.pop("M2M100_MODEL", None)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "m2m100", *argv], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=512)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--chunk-lines", type=int, default=64)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--ray-cpus", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=None, help="local run's torch threads (default: actors x ray-cpus)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--tiny", action="store_true", help="the test suite's tiny random model")
    args = parser.parse_args()
    if not 1 <= args.lines <= 1_000_000 or not 1 <= args.actors <= 256:
        raise SystemExit("--lines must be 1..1000000 and --actors 1..256")
    model = Path(args.model) if args.model else tiny_model() if args.tiny else default_model()
    threads = args.threads or max(1, int(args.actors * args.ray_cpus))
    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="bench_ray_") as tmp:
        work = Path(tmp)
        source = work / "in.txt"
        source.write_text("".join(rng.choice(SENTENCES) + "\n" for _ in range(args.lines)), encoding="utf-8")
        common = ["translate", "-m", str(model), "-s", "en", "-t", "fr", "-i", str(source), "-q",
                  "--max-new-tokens", str(args.max_new_tokens), "--chunk-lines", str(args.chunk_lines)]
        local_s = run([*common, "-o", str(work / "local.txt")], threads)
        ray_s = run([*common, "-o", str(work / "ray.txt"), "--ray", "--ray-actors", str(args.actors),
                     "--ray-cpus", str(args.ray_cpus)], threads)
        identical = (work / "local.txt").read_bytes() == (work / "ray.txt").read_bytes()
    result = {
        "lines": args.lines, "max_new_tokens": args.max_new_tokens, "chunk_lines": args.chunk_lines,
        "model": str(model), "local": {"threads": threads, "seconds": round(local_s, 2),
                                       "lines_per_s": round(args.lines / local_s, 2)},
        "ray": {"actors": args.actors, "cpus_per_actor": args.ray_cpus, "seconds": round(ray_s, 2),
                "lines_per_s": round(args.lines / ray_s, 2)},
        "ray_over_local": round(local_s / ray_s, 3), "identical_output": identical, "machine": machine(),
    }
    print(f"{'path':<28}{'seconds':>10}{'lines/s':>10}")
    print(f"{'local (' + str(threads) + ' threads)':<28}{local_s:>10.2f}{args.lines / local_s:>10.2f}")
    label = f"ray ({args.actors} x {args.ray_cpus:g} CPU)"
    print(f"{label:<28}{ray_s:>10.2f}{args.lines / ray_s:>10.2f}")
    print(f"ray / local throughput: {local_s / ray_s:.2f}x; identical output: {identical}")
    print(json.dumps(result))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_ray.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if not identical:
        raise SystemExit("the Ray output differs from the local output")


if __name__ == "__main__":
    main()
