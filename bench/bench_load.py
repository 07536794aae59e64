"""Model load time, ours vs transformers, on a 418M-architecture checkpoint (safetensors, fp32, CPU).

    python bench/bench_load.py [--repeats 3]

Each repeat loads with both libraries in alternation, in fresh subprocesses (cold Python, warm page cache),
so neither benefits from the other's imports or allocations.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from common import build_418m, machine

SNIPPET = {
    "m2m100": "import m2m100, time; t=time.perf_counter(); m=m2m100.M2M100ForConditionalGeneration.from_pretrained({p!r}); print(time.perf_counter()-t)",
    "transformers": "import transformers, time; transformers.logging.set_verbosity_error(); t=time.perf_counter(); m=transformers.M2M100ForConditionalGeneration.from_pretrained({p!r}); print(time.perf_counter()-t)",
}


def load_seconds(engine: str, path: str) -> float:
    out = subprocess.run([sys.executable, "-c", SNIPPET[engine].format(p=path)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = str(build_418m())
    times = {"m2m100": [], "transformers": []}
    for _ in range(args.repeats):
        for engine in times:
            times[engine].append(load_seconds(engine, path))
    ours, ref = statistics.median(times["m2m100"]), statistics.median(times["transformers"])
    print(f"machine: {machine()}")
    print(f"{'engine':<14}{'median load s':>14}   runs")
    for engine, values in times.items():
        print(f"{engine:<14}{statistics.median(values):>14.3f}   {', '.join(f'{v:.3f}' for v in values)}")
    print(f"speed-up (transformers / m2m100): {ref / ours:.2f}x")
    print(json.dumps({"load_s_m2m100": ours, "load_s_transformers": ref, "ratio": ref / ours}))


if __name__ == "__main__":
    main()
