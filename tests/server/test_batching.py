"""Dynamic batching: the Batcher in-process (budgets, grouping, cancellation, failure isolation), then a real
server under 100 concurrent requests, identical concurrent requests, the bounded queue, client disconnects
and sustained load."""

from __future__ import annotations

import asyncio
import re
import statistics
import threading
import time

import httpx
import pytest

from m2m100.server.batching import Batcher, Worker
from m2m100.translate import Piece

from .conftest import post_json


# =====================================================================================================
# Batcher, in-process, with a fake model
# =====================================================================================================
class FakeModel:
    def __init__(self, delay: float = 0.0, fail_on: str | None = None):
        self.calls: list[list[str]] = []
        self.delay = delay
        self.fail_on = fail_on

    def __call__(self, batch, options):  # Batcher's run_batch(pieces, options), as Engine.run_batch
        texts, targets = [p.text for p in batch], [p.target for p in batch]
        self.calls.append(list(texts))
        time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in texts:
            raise ValueError(f"cannot translate {self.fail_on!r}")
        return [f"{t}>{tgt}:{options.get('num_beams', 1)}" for t, tgt in zip(texts, targets)]


def run_batcher(model, coro_factory, **kwargs):
    async def main():
        worker = Worker("test-model")
        settings = {"max_batch_tokens": 1000, "max_batch_size": 100, "batch_wait": 0.02, **kwargs}
        batcher = Batcher(model, worker, **settings)
        batcher.start()
        try:
            return await coro_factory(batcher), batcher
        finally:
            await batcher.stop()
            worker.close()

    return asyncio.run(main())


def pieces(*texts, tokens=10, target="fr"):
    return [Piece(t, "en", target, ids=tuple(range(tokens))) for t in texts]  # `tokens` ids


def test_concurrent_requests_share_a_batch():
    model = FakeModel()

    async def go(batcher):
        return await asyncio.gather(*(batcher.translate(pieces(f"t{i}", target=f"l{i}"), {}) for i in range(10)))

    results, batcher = run_batcher(model, go)
    assert results == [[f"t{i}>l{i}:1"] for i in range(10)]
    assert len(model.calls) == 1 and len(model.calls[0]) == 10  # mixed targets in one batch
    assert batcher.stats.batches == 1 and batcher.stats.largest_batch == 10


def test_token_budget_and_batch_size():
    model = FakeModel()

    async def go(batcher):
        return await asyncio.gather(*(batcher.translate(pieces(f"t{i}", tokens=30), {}) for i in range(10)))

    # (rows + 1) * 30 tokens <= 100: at most 3 rows per batch.
    run_batcher(model, go, max_batch_tokens=100)
    assert [len(c) for c in model.calls] == [3, 3, 3, 1]
    model = FakeModel()
    run_batcher(model, go, max_batch_size=4)
    assert [len(c) for c in model.calls] == [4, 4, 2]
    model = FakeModel()
    run_batcher(model, go, max_batch_size=1)  # one at a time
    assert len(model.calls) == 10


def test_beams_count_in_the_budget_and_options_do_not_mix():
    model = FakeModel()

    async def go(batcher):
        jobs = [batcher.translate(pieces(f"a{i}", tokens=10), {"num_beams": 4}) for i in range(4)]
        jobs += [batcher.translate(pieces(f"b{i}", tokens=10), {}) for i in range(4)]
        return await asyncio.gather(*jobs)

    results, _ = run_batcher(model, go, max_batch_tokens=100)
    assert results[0] == ["a0>fr:4"] and results[4] == ["b0>fr:1"]
    # 4 beams x 10 tokens: 2 rows per batch; greedy pieces never share a batch with beam ones.
    assert [sorted(c) for c in model.calls] == [["a0", "a1"], ["a2", "a3"], ["b0", "b1", "b2", "b3"]]


def test_cancelled_requests_never_reach_the_model():
    model = FakeModel(delay=0.2)

    async def go(batcher):
        first = asyncio.ensure_future(batcher.translate(pieces("busy"), {}))
        await asyncio.sleep(0.05)  # "busy" is on the model now
        gone = asyncio.ensure_future(batcher.translate(pieces("gone1", "gone2"), {}))
        kept = asyncio.ensure_future(batcher.translate(pieces("kept"), {}))
        await asyncio.sleep(0.01)
        gone.cancel()  # the client disconnected
        return await first, await kept

    (first, kept), batcher = run_batcher(model, go)
    assert first == ["busy>fr:1"] and kept == ["kept>fr:1"]
    assert model.calls == [["busy"], ["kept"]]
    assert batcher.stats.pieces_cancelled == 2


def test_a_failing_request_does_not_fail_its_neighbours():
    model = FakeModel(fail_on="bad")

    async def go(batcher):
        return await asyncio.gather(
            batcher.translate(pieces("good1"), {}), batcher.translate(pieces("bad"), {}),
            batcher.translate(pieces("good2"), {}), return_exceptions=True,
        )

    (good1, bad, good2), batcher = run_batcher(model, go)
    assert good1 == ["good1>fr:1"] and good2 == ["good2>fr:1"]
    assert isinstance(bad, ValueError)
    assert batcher.stats.batch_errors == 2  # the shared batch, then "bad" alone


# =====================================================================================================
# Real server
# =====================================================================================================
TEXTS = [
    "Hello world.", "The house is green.", "We walk to school every morning.", "Birds sing!",
    "Good morning, how are you?", "The café is open.", "Every morning the birds sing.", "Thank you very much.",
    "Where is the school?", "It is green and we walk.",
]
TARGETS = ["fr", "de", "es", "ru", "zh"]


async def _fire(url: str, payloads: list[dict]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(payloads), max_keepalive_connections=len(payloads))
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        return await asyncio.gather(*(client.post("/translate", json=p) for p in payloads))


def test_100_concurrent_requests(server, translator):
    payloads = [{"q": TEXTS[i % 10], "source": "en", "target": TARGETS[(i // 10) % 5]} for i in range(100)]
    payloads += [{"q": [TEXTS[i], TEXTS[i + 1]], "source": "en", "target": "it"} for i in range(0, 10, 2)]
    before = server.wait_idle()
    responses = asyncio.run(_fire(server.url, payloads))
    failures = [r.text for r in responses if r.status_code != 200]
    assert not failures
    for payload, response in zip(payloads, responses):
        assert response.json()["translatedText"] == translator.translate(payload["q"], "en", payload["target"]), payload
    after = server.wait_idle()
    batches = after["batches"] - before["batches"]
    assert batches < len(payloads) / 4, f"{batches} batches for {len(payloads)} requests: no batching?"
    assert after["largest_batch"] > 1


def test_identical_greedy_requests_identical_outputs(server):
    text = "The house is green and we walk to school every morning while birds sing."
    payload = {"q": text, "source": "en", "target": "de", "num_beams": 1}
    responses = asyncio.run(_fire(server.url, [payload] * 30))
    outputs = {r.json()["translatedText"] for r in responses}
    assert len(outputs) == 1


def test_sustained_load_no_failures_bounded_latency(server):
    latencies: list[float] = []
    failures: list[str] = []
    stop = time.monotonic() + 3.0

    def client(k: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            i = 0
            while time.monotonic() < stop:
                payload = {"q": TEXTS[(k + i) % 10], "source": "en", "target": TARGETS[i % 5]}
                started = time.monotonic()
                response = http.post("/translate", json=payload)
                latencies.append(time.monotonic() - started)
                if response.status_code != 200:
                    failures.append(response.text)
                i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(latencies) >= 8
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 2 else latencies[0]
    assert p95 < 10.0, f"p95 {p95:.2f} s"


def test_over_capacity_is_refused_at_once(slow_server):
    """--max-queue 3: with three slow requests in the server, a fourth gets 503 at once."""
    slow_server.wait_idle()
    results: list[httpx.Response] = []
    payload = {"q": "Hello", "source": "en", "target": "fr", "max_new_tokens": 4}
    threads = [threading.Thread(target=lambda: results.append(post_json(slow_server, "/translate", payload)))
               for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while slow_server.stats()["active"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    started = time.monotonic()
    response = post_json(slow_server, "/translate", payload)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert "at capacity" in response.json()["error"] and "max_queue" in response.json()["error"]
    assert response.headers["retry-after"]
    assert elapsed < 1.0  # a model batch takes more than 1 s here
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200, 200, 200]


def test_client_disconnect_cancels_its_work(slow_server):
    stats = slow_server.wait_idle()
    busy = threading.Thread(target=post_json, args=(slow_server, "/translate", {
        "q": "Hello", "source": "en", "target": "fr", "max_new_tokens": 4}))
    busy.start()
    deadline = time.monotonic() + 5
    while slow_server.stats()["running_pieces"] < 1:  # the model is busy with the first request
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with pytest.raises(httpx.ReadTimeout):
        post_json(slow_server, "/translate", {"q": "Good morning to you.", "source": "en", "target": "de",
                                              "max_new_tokens": 4}, timeout=0.3)
    busy.join()
    after = slow_server.wait_idle()
    assert after["pieces_cancelled"] - stats["pieces_cancelled"] == 1
    assert after["pieces_run"] - stats["pieces_run"] == 1  # only the first request reached the model
    assert after["disconnected"] - stats.get("disconnected", 0) == 1
    log = slow_server.log()
    assert "Traceback" not in log and not re.search(r'" 500\b|\b500 Internal', log)
