"""Model load time, ours vs transformers, on a 418M-architecture checkpoint (safetensors, fp32, CPU).

    python bench/bench_load.py [--repeats 3]

Two figures per engine, each in a fresh subprocess (cold Python, warm page cache), engines alternating:
- load: `from_pretrained` alone, with the library and its model class already imported;
- ready: `import` + `from_pretrained` + one forward pass (32 source tokens, one decoder step), which also
  pays for work a loader defers (transformers memory-maps the weights and touches them in that first pass).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from common import build_418m, machine

# {lib}: the module; {cls}: the model class expression; {kw}: from_pretrained keyword arguments
TEMPLATE = """
import time, torch
torch.set_num_threads(2)
ready = time.perf_counter()
import {lib}
cls = {cls}
start = time.perf_counter()
model = cls.from_pretrained({path!r}{kw}).eval()
load = time.perf_counter() - start
ids = torch.full((1, 32), 5); ids[:, -1] = 2
with torch.inference_mode():
    model(input_ids=ids, decoder_input_ids=torch.full((1, 1), 2))
print(load, time.perf_counter() - ready)
"""
ENGINES = {
    "transformers": dict(lib="transformers", cls="transformers.M2M100ForConditionalGeneration", kw=""),
    "m2m100": dict(lib="m2m100", cls="m2m100.M2M100ForConditionalGeneration", kw=""),
    "m2m100 prepack": dict(lib="m2m100", cls="m2m100.M2M100ForConditionalGeneration", kw=", prepack=True"),
    "m2m100 int8": dict(lib="m2m100", cls="m2m100.M2M100ForConditionalGeneration", kw=", quantize='int8'"),
}


def measure(engine: str, path: str) -> tuple[float, float]:
    code = TEMPLATE.format(path=path, **ENGINES[engine])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    load, ready = out.stdout.split()[-2:]
    return float(load), float(ready)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = str(build_418m())
    with open(f"{path}/model.safetensors", "rb") as handle:  # warm the page cache once
        while handle.read(1 << 24):
            pass
    runs: dict[str, list[tuple[float, float]]] = {engine: [] for engine in ENGINES}
    for _ in range(args.repeats):
        for engine in ENGINES:
            runs[engine].append(measure(engine, path))
    print(f"machine: {machine()}")
    print(f"{'engine':<16}{'median load s':>14}{'median ready s':>16}   runs (load/ready)")
    medians = {}
    for engine, values in runs.items():
        load, ready = (statistics.median(v[i] for v in values) for i in (0, 1))
        medians[engine] = {"load_s": load, "ready_s": ready}
        detail = ", ".join(f"{a:.2f}/{b:.2f}" for a, b in values)
        print(f"{engine:<16}{load:>14.3f}{ready:>16.3f}   {detail}")
    ref = medians["transformers"]["ready_s"]
    for engine in ENGINES:
        if engine != "transformers":
            print(f"time to ready, transformers / {engine}: {ref / medians[engine]['ready_s']:.2f}x")
    print("JSON " + json.dumps(medians))


if __name__ == "__main__":
    main()
