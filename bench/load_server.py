"""HTTP server under load: requests/s, p50/p95/p99 latency and time to first result for concurrent clients:
one request at a time, dynamic batching, continuous (step-level) batching.

    python bench/load_server.py [--clients 16] [--duration 30] [--max-new-tokens 32] [--model PATH]
    python bench/load_server.py --workload mixed --scheduler batch,continuous [--modes single,batched,continuous]

For each mode the script starts `python -m m2m100.server` on 127.0.0.1, waits for /health 200, runs N
closed-loop clients (each sends its next POST /translate when the previous answer arrives) for a warm-up of a
few seconds and then the measured duration, and stops the server with SIGTERM.
Modes: `batched` (default settings: sentences of concurrent requests share model batches), `single`
(`--max-batch-size 1`: one sentence per model call, i.e. one request at a time) and `continuous`
(`--scheduler continuous`: greedy rows of all running batches share one decoder call per step, joining and
leaving between steps; m2m100.server.scheduler). `--scheduler batch,continuous` is a shorthand for
`--modes batched,continuous`.

Workloads: `fixed` (default): every request is one sentence from a fixed list of 12 English sentences of 6-30
words, to a target drawn from 5 languages, with `max_new_tokens` fixed. `mixed` draws, per request, a short
chat-like line (70%) or a paragraph of 4-8 sentences (30%), to one of 5 targets, sent to `POST /v1/translate`
with `"stream": true`, so that time to first result (the first sentence event) is measured beside the full
latency; it also reports the characters per output sentence and the quality guard's retries per text (from the
`done` event). The server's quality guards are on by default, as the server ships; `--guards off` turns them off
(M2M100_GUARDS=0). On pseudo-random output they flag a share of the pieces (repetition, language, length; with
m2m100_418M_eos 1 of 8 bench pieces into fr, 4 of 8 into zh) and each retry is a beam search or sampling
decode, which continuous batching does not merge.

Default models (both 418M-architecture, random weights, built once under bench/out by bench/common.py, with
bench_generate's 418M-sized tokenizer files; --model replaces them):
  fixed  m2m100_418M_random (build_418m): plain random weights, which almost never emit </s>, so every row
         decodes up to max_new_tokens and every request does the same, bounded work;
  mixed  m2m100_418M_eos (build_418m_eos): the same weights edited so that greedy decoding emits </s> after a
         varied number of tokens (bench sentences, greedy: 2 to >40 tokens, median ~8-12, fp32 and int8), a
         stand-in for a trained model's natural lengths, where rows of one batch finish at different steps
         (what continuous batching is for). Not a translation model: its output is pseudo-random tokens.
         Its tokenizer is trained on FLORES-200 text (bench/common.py make_text_tokenizer_files, when the
         shared data is present), so sources have about the real model's length (the synthetic bench tokenizer
         makes them ~3x longer, and the encoder would dominate).

Prints a table, the throughput gain of batching, and a JSON line; writes bench/out/load_server.json.
Bounded on purpose: at most 256 clients, at most 600 s per mode, 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, REPO, build_418m, build_418m_eos, machine  # noqa: E402

MAX_CLIENTS, MAX_DURATION = 256, 600.0
SENTENCES = [
    "Life is like a box of chocolates.",
    "The house is green and we walk to school every morning.",
    "Birds sing in the trees while the sun rises over the quiet village.",
    "Please send me the report before the meeting on Thursday afternoon.",
    "Where is the nearest train station?",
    "The committee will publish its final recommendations after reviewing all of the public comments it has "
    "received during the consultation period.",
    "I would like a cup of coffee with milk, please.",
    "Scientists have discovered a new species of frog in the rainforest of the Amazon basin.",
    "The museum is closed on Mondays.",
    "After years of negotiations, the two countries finally signed a trade agreement that lowers tariffs on "
    "agricultural products and machinery.",
    "Can you help me carry these boxes upstairs?",
    "The weather forecast predicts heavy rain and strong winds for the whole weekend.",
]
TARGETS = ["fr", "de", "es", "ru", "zh"]
CHAT = ["Hi!", "Thanks, see you tomorrow.", "Where are you?", "Sounds good to me.", "Can you call me back later?",
        "I'm running five minutes late.", "What time is the meeting?", "Happy birthday!"]


def mixed_request(i: int, max_new_tokens: int) -> dict:
    """The i-th request of the mixed workload (deterministic): a chat line, or every 10th/3rd a paragraph."""
    target = TARGETS[(i // 3) % len(TARGETS)]
    if i % 10 in (3, 6, 9):
        n = 4 + i % 5
        text = " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(n))
    else:
        text = CHAT[i % len(CHAT)]
    return {"items": [text], "source": "en", "target": target, "max_new_tokens": max_new_tokens, "num_beams": 1,
            "stream": True}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_model(workload: str = "fixed") -> Path:
    """The checkpoint a workload runs on when --model is not given (see the module docstring)."""
    if workload == "mixed":
        return build_418m_eos()  # copies the random checkpoint's tokenizer files (made first if missing)
    directory = build_418m()
    if not (directory / "vocab.json").exists():
        from bench_generate import make_tokenizer_files

        make_tokenizer_files(directory)
    return directory


def start_server(model: Path, port: int, extra: list[str], log_path: Path, guards: str = "on") -> subprocess.Popen:
    cmd = [sys.executable, "-m", "m2m100.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", "--max-queue", str(4 * MAX_CLIENTS), *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if guards == "off":
        env["M2M100_GUARDS"] = "0"
    return subprocess.Popen(cmd, stdout=log_path.open("wb"), stderr=subprocess.STDOUT, env=env)


def wait_ready(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 600.0) -> float:
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server not ready after {timeout} s")


async def _stream(http, payload: dict, started: float, loop, chars: list[int],
                  retries: list[int]) -> tuple[bool, str, float | None]:
    """POST a streaming request; (ok, reason, seconds to the first sentence event). Appends the length in
    characters of each output sentence to `chars` and the guard's retries of each text (from the `done` event)
    to `retries`. Characters, not words: the bench tokenizer's filler pieces decode without spaces."""
    first, event = None, None
    async with http.stream("POST", "/v1/translate", json=payload) as response:
        if response.status_code != 200:
            return False, str(response.status_code), None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[len("event: "):]
                if event == "sentence" and first is None:
                    first = loop.time() - started
                elif event == "error":
                    return False, "error event", first
            elif line.startswith("data: ") and event in ("sentence", "done"):
                data = json.loads(line[len("data: "):])
                if event == "sentence":
                    chars.append(len(data.get("text", "")))
                else:
                    retries.extend((t.get("quality") or {}).get("retries", 0) for t in data.get("translations", []))
                    return True, "200", first
    return False, "stream ended without done", first


async def load(url: str, clients: int, warmup: float, duration: float, max_new_tokens: int,
               workload: str = "fixed") -> dict:
    import httpx

    latencies: list[float] = []
    first_results: list[float] = []
    chars: list[int] = []  # mixed: characters per output sentence
    retries: list[int] = []  # mixed: the quality guard's extra decodes per text
    failures: dict[str, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300.0, limits=limits) as http:
        loop = asyncio.get_running_loop()
        measure_from = loop.time() + warmup
        stop_at = measure_from + duration

        async def client(k: int) -> None:
            i = k
            while loop.time() < stop_at:
                started = loop.time()
                first = None
                request_chars: list[int] = []
                request_retries: list[int] = []
                try:
                    if workload == "mixed":
                        ok, reason, first = await _stream(http, mixed_request(i, max_new_tokens), started, loop,
                                                          request_chars, request_retries)
                    else:
                        payload = {"q": SENTENCES[i % len(SENTENCES)], "source": "en",
                                   "target": TARGETS[(i // 3) % 5], "max_new_tokens": max_new_tokens, "num_beams": 1}
                        response = await http.post("/translate", json=payload)
                        ok, reason = response.status_code == 200, str(response.status_code)
                except httpx.HTTPError as exc:
                    ok, reason = False, type(exc).__name__
                i += clients
                ended = loop.time()
                if started >= measure_from and ended <= stop_at:
                    if ok:
                        latencies.append(ended - started)
                        first_results.append(first if first is not None else ended - started)
                        chars.extend(request_chars)
                        retries.extend(request_retries)
                    else:
                        failures[reason] = failures.get(reason, 0) + 1

        await asyncio.gather(*(client(k) for k in range(clients)))
        stats = (await http.get("/health")).json().get("stats", {})
    latencies.sort()
    first_results.sort()
    n = len(latencies)

    def pct(p: float, values: list[float] = latencies) -> float:
        return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")

    return {
        "requests": n, "failures": sum(failures.values()), "failure_kinds": failures,
        "rps": n / duration, "p50_s": pct(0.50), "p95_s": pct(0.95), "p99_s": pct(0.99),
        "ttfr_p50_s": pct(0.50, first_results), "ttfr_p95_s": pct(0.95, first_results),
        "mean_s": statistics.fmean(latencies) if n else float("nan"),
        "batches": stats.get("batches"), "largest_batch": stats.get("largest_batch"),
        "sentences_run": stats.get("pieces_run"),
        "merged_steps": stats.get("merged_steps"), "merged_largest": stats.get("merged_largest"),
        "output_sentences": len(chars),
        "chars_mean": statistics.fmean(chars) if chars else None,
        "chars_median": statistics.median(chars) if chars else None,
        "guard_retries": sum(retries) if retries else None,
        "texts_retried": sum(r > 0 for r in retries) if retries else None,
    }


def run_mode(name: str, model: Path, args: argparse.Namespace, extra: list[str]) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = OUT / f"load_server_{name}.log"
    proc = start_server(model, port, [*args.server_args, *extra], log_path, args.guards)
    try:
        ready_s = wait_ready(url, proc, log_path)
        result = asyncio.run(load(url, args.clients, args.warmup, args.duration, args.max_new_tokens, args.workload))
        result.update(mode=name, workload=args.workload, server_args=" ".join([*args.server_args, *extra]),
                      ready_s=ready_s, guards=args.guards)
        return result
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="checkpoint (default: the random 418M one for --workload fixed, "
                                                   "its edited copy whose outputs end at varied lengths for mixed; "
                                                   "built if missing)")
    parser.add_argument("--clients", type=int, default=16, help=f"concurrent clients (at most {MAX_CLIENTS})")
    parser.add_argument("--duration", type=float, default=30.0,
                        help=f"measured seconds per mode (at most {MAX_DURATION:g})")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="max_new_tokens of every request")
    parser.add_argument("--modes", default="batched,single", help="comma-separated: batched, single, continuous")
    parser.add_argument("--scheduler", help="comma-separated server schedulers to compare (batch, continuous); "
                                            "replaces --modes (batch = mode batched)")
    parser.add_argument("--workload", choices=["fixed", "mixed"], default="fixed",
                        help="fixed: one sentence per request; mixed: chat lines and paragraphs, streamed")
    parser.add_argument("--guards", choices=["on", "off"], default="on",
                        help="the server's quality guards (off: M2M100_GUARDS=0); their retries are beam search or "
                             "sampling decodes")
    parser.add_argument("--server-arg", dest="server_args", action="append", default=[],
                        help="extra `m2m100 serve` argument for both modes (repeatable), e.g. --server-arg=--threads=2")
    args = parser.parse_args()
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be from 1 to {MAX_CLIENTS}")
    if not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--duration must be in (0, {MAX_DURATION:g}]")
    OUT.mkdir(parents=True, exist_ok=True)
    model = args.model or default_model(args.workload)
    modes = {"batched": ["--scheduler", "batch"], "single": ["--max-batch-size", "1", "--scheduler", "batch"],
             "continuous": ["--scheduler", "continuous"]}
    chosen = args.modes.split(",")
    if args.scheduler:
        names = {"batch": "batched", "continuous": "continuous"}
        unknown = [s for s in args.scheduler.split(",") if s not in names]
        if unknown:
            parser.error(f"unknown scheduler {unknown[0]!r}; schedulers: batch, continuous")
        chosen = [names[s] for s in args.scheduler.split(",")]
    results = []
    for name in chosen:
        if name not in modes:
            parser.error(f"unknown mode {name!r}; modes: {', '.join(modes)}")
        print(f"[{name}] {args.clients} clients, {args.warmup:g} s warm-up + {args.duration:g} s ...", flush=True)
        results.append(run_mode(name, model, args, modes[name]))

    print(f"\nmachine: {machine()}; model: {model}; {args.clients} clients; max_new_tokens {args.max_new_tokens}")
    print(f"workload: {args.workload}; guards {args.guards}")
    print(f"{'mode':<11}{'req/s':>8}{'p50 s':>8}{'p95 s':>8}{'p99 s':>8}{'TTFR p50':>10}{'TTFR p95':>10}"
          f"{'requests':>10}{'failures':>10}{'batches':>9}{'largest':>9}")
    for r in results:
        print(f"{r['mode']:<11}{r['rps']:>8.2f}{r['p50_s']:>8.2f}{r['p95_s']:>8.2f}{r['p99_s']:>8.2f}"
              f"{r['ttfr_p50_s']:>10.2f}{r['ttfr_p95_s']:>10.2f}"
              f"{r['requests']:>10}{r['failures']:>10}{r['batches'] or 0:>9}{r['largest_batch'] or 0:>9}")
    for r in results:
        if r["chars_mean"] is not None:
            print(f"{r['mode']}: {r['output_sentences']} output sentences, characters per sentence mean "
                  f"{r['chars_mean']:.0f}, median {r['chars_median']:g}; guard retries {r['guard_retries']} "
                  f"({r['texts_retried']} of {r['requests']} texts)")
    by_mode = {r["mode"]: r for r in results}
    summary = {"machine": machine(), "model": str(model), "clients": args.clients, "duration_s": args.duration,
               "max_new_tokens": args.max_new_tokens, "results": results}
    if "batched" in by_mode and "single" in by_mode and by_mode["single"]["rps"] > 0:
        gain = by_mode["batched"]["rps"] / by_mode["single"]["rps"]
        summary["batching_gain"] = gain
        print(f"dynamic batching throughput gain over one-at-a-time: {gain:.2f}x")
    if "batched" in by_mode and "continuous" in by_mode and by_mode["batched"]["rps"] > 0:
        gain = by_mode["continuous"]["rps"] / by_mode["batched"]["rps"]
        summary["continuous_gain"] = gain
        print(f"continuous batching throughput vs dynamic batching: {gain:.2f}x "
              f"(p95 {by_mode['continuous']['p95_s']:.2f} s vs {by_mode['batched']['p95_s']:.2f} s)")
    (OUT / "load_server.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
